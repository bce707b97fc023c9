"""asyncio glue: how a finished Rask future reaches an event loop."""


def settle(waiter, future):
    """Runs on the event loop (``call_soon_threadsafe``) once ``future`` is done."""
    if waiter.done():  # the awaiting task was cancelled
        return
    try:
        waiter.set_result(future.result())
    except BaseException as e:  # noqa: BLE001 (the task's error goes to the awaiting code)
        waiter.set_exception(e)
