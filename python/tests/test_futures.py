"""Futures on in-process clients: submit, map, gather, wait, as_completed,
asyncio, callbacks, cancellation, retries."""
import asyncio
import threading
import time

import pytest

import rask
from tasks import add, fail, inc, slow


def test_submit_map_gather(local_client):
    c = local_client
    xs = c.map(inc, range(10))
    total = c.submit(sum, xs)
    assert c.gather(xs) == list(range(1, 11))
    assert total.result() == 55
    assert c.submit(add, 1, y=2).result() == 3
    assert c.gather([xs[0], 42]) == [1, 42]
    assert c.gather(xs[3]) == 4
    assert c.map(add, [1, 2], [10, 20], key="pair")[1].key == "pair[1]"


def test_future_states_keys_and_repr(threads):
    f = threads.submit(slow, 5, 0.2, key="slow-one")
    assert f.key == "slow-one"
    assert f.status in ("pending", "running")
    assert not f.done()
    assert f.result(timeout=5) == 5
    assert f.done() and f.status == "finished"
    assert "finished" in repr(f)


def test_errors_raise_with_the_task_and_chain(local_client):
    f = local_client.submit(fail, 3, key="bad")
    g = local_client.submit(inc, f)
    with pytest.raises(rask.TaskError, match="task `bad` failed: ValueError: bad input 3") as info:
        f.result()
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(rask.TaskError, match="did not run because its dependency `bad` failed"):
        g.result()
    assert isinstance(f.exception(), rask.TaskError)
    assert f.status == "error"
    ok = local_client.submit(inc, 1)
    assert local_client.gather([ok, f], errors="skip") == [2]


def test_result_timeout(threads):
    f = threads.submit(slow, 1, 1.0)
    with pytest.raises(TimeoutError):
        f.result(timeout=0.05)
    assert f.result() == 1


def test_wait_and_as_completed(threads):
    order = [f for f in rask.as_completed([threads.submit(slow, i, 0.4 - 0.3 * i) for i in range(2)])]
    assert [f.result() for f in order] == [1, 0]
    fs = [threads.submit(slow, i, 0.3 * (i == 0)) for i in range(4)]
    done, not_done = rask.wait(fs, return_when="FIRST_COMPLETED")
    assert done and all(f.done() for f in done)
    done, not_done = rask.wait(fs)
    assert done == set(fs) and not not_done
    slow_one = threads.submit(slow, 9, 2.0)
    with pytest.raises(TimeoutError):
        rask.wait([slow_one], timeout=0.05)
    ac = rask.as_completed(with_results=True)
    ac.add(threads.submit(inc, 1))
    assert [r for _, r in ac] == [2]
    assert ac.count() == 0
    threads.cancel([slow_one])


def test_cancel_cancels_dependents(threads):
    gate = threading.Event()
    blocker = threads.submit(lambda: gate.wait(10))
    first = threads.submit(inc, blocker)
    second = threads.submit(inc, first)
    assert first.cancel()
    with pytest.raises(rask.CancelledError):
        second.result()
    assert second.cancelled()
    gate.set()
    assert blocker.result() is True


def test_retries_and_timeouts(threads):
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "ok"

    assert threads.submit(flaky, retries=2).result() == "ok"
    with pytest.raises(rask.TaskError, match="timed out"):
        threads.submit(slow, 1, 2.0, timeout=0.05).result()


def test_await_in_asyncio(local_client):
    async def main():
        fs = [local_client.submit(slow, i, 0.01) for i in range(20)]
        values = await asyncio.gather(*fs)
        assert values == list(range(20))
        with pytest.raises(rask.TaskError):
            await local_client.submit(fail, 1)
        # The loop keeps running while a task runs.
        ticks = 0
        f = local_client.submit(slow, "done", 0.2)
        while not f.done():
            ticks += 1
            await asyncio.sleep(0.01)
        assert await f == "done"
        return ticks

    ticks = asyncio.run(main())
    if local_client.executor == "threads":
        assert ticks > 3


def test_done_callbacks(local_client):
    seen = []
    ev = threading.Event()
    f = local_client.submit(inc, 41)
    f.add_done_callback(lambda fut: (seen.append(fut.result()), ev.set()))
    assert ev.wait(5)
    assert seen == [42]


def test_futures_in_delayed_graphs(threads):
    f = threads.submit(inc, 1)
    d = rask.delayed(add)(f, 10)
    assert d.compute(scheduler=threads) == 12
    assert threads.compute(d).result() == 12
    assert [x.result() for x in threads.compute([d, d + 1])] == [12, 13]


def test_delayed_args_to_submit_are_refused(threads):
    with pytest.raises(TypeError, match="not Delayed"):
        threads.submit(inc, rask.delayed(inc)(1))


def test_closed_clients(threads):
    c = rask.Client(executor="threads", n_workers=1, set_as_default=False)
    pending = c.submit(slow, 1, 0.5)
    # Closed while it runs: a task taken off the queue at that very moment,
    # before it is on its worker's running list, escapes rask-client's
    # shutdown and finishes (a race in `Cell::run` against `Core::shutdown`).
    deadline = time.monotonic() + 5
    while pending.status != "running" and time.monotonic() < deadline:
        time.sleep(0.005)
    c.close()
    with pytest.raises(rask.RaskError, match="closed"):
        c.submit(inc, 1)
    with pytest.raises(rask.RaskError):
        pending.result()


def test_executor_names_and_errors():
    with pytest.raises(ValueError, match="executor"):
        rask.Client(executor="gpu")
    with rask.Client(executor="sync", set_as_default=False) as c:
        assert c.executor == "sync" and "sync" in repr(c)


def test_ctrl_c_interrupts_a_wait(threads):
    import _thread

    f = threads.submit(slow, 1, 3.0)
    t = threading.Timer(0.2, _thread.interrupt_main)
    t.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        f.result()
    assert time.monotonic() - t0 < 2.0
