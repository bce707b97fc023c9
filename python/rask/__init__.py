"""Rask for Python: parallel task graphs, futures, arrays and dataframes on
Rask's Rust engine, with an API shaped like Dask's.

    import rask

    @rask.delayed
    def inc(x):
        return x + 1

    total = rask.delayed(sum)([inc(i) for i in range(100)])
    print(total.compute())                      # 5050, on a thread pool

    with rask.Client(executor="processes", n_workers=2) as client:
        futures = client.map(inc, range(10))    # inc runs in worker processes
        print(client.gather(futures))

Python functions run on threads in this process (the GIL is held only
while Python runs), or in worker processes and on clusters, where they are
imported by name (``module:function``): no code is ever sent, and values
cross in a safe encoding (never pickle). See docs/python.md.
"""
import atexit as _atexit
import collections as _collections
import threading as _threading
import weakref as _weakref

from rask import _rask
from rask._rask import (
    CancelledError,
    Delayed,
    DelayedFunction,
    Future,
    LocalCluster,
    RaskError,
    RemoteTraceback,
    Scheduler,
    TaskError,
    as_completed,
)

__all__ = [
    "CancelledError",
    "Client",
    "Delayed",
    "DelayedFunction",
    "Future",
    "LocalCluster",
    "ProgressBar",
    "RaskError",
    "RemoteTraceback",
    "Scheduler",
    "TaskError",
    "as_completed",
    "by_name",
    "compute",
    "default_client",
    "delayed",
    "wait",
]

_clients = _weakref.WeakSet()
_lock = _threading.RLock()
_default = None
_implicit = {}
_progress = 0


class Client(_rask.Client):
    """Runs graphs and futures on an executor chosen here.

    ``Client()`` or ``Client(executor="threads", n_workers=N)``: a thread pool
    in this process (the default). ``executor="sync"``: one task at a time on
    the calling thread. ``executor="processes", n_workers=N``: worker
    processes. ``executor="cluster", n_workers=N, threads_per_worker=T``: a
    local cluster (a scheduler here, workers over TCP). ``Client("host:port")``
    or ``Client(LocalCluster(...))``: a running cluster. ``progress=True``
    draws a progress bar for graphs. The newest client is the default for
    ``rask.compute`` unless ``set_as_default=False``.
    """

    def __new__(cls, address=None, *, set_as_default=True, **kwargs):
        return super().__new__(cls, address, **kwargs)

    def __init__(self, address=None, *, set_as_default=True, **kwargs):
        global _default
        with _lock:
            _clients.add(self)
            if set_as_default:
                _default = self

    def close(self):
        """Fails unfinished futures and stops the workers."""
        global _default
        with _lock:
            if _default is self:
                _default = None
        super().close()

    def shutdown(self):
        """Same as ``close``."""
        self.close()

    def __exit__(self, *exc):
        self.close()

    def as_completed(self, futures=None, with_results=False):
        """Futures (or ``(future, result)`` pairs) as they complete."""
        return as_completed(futures, with_results=with_results)

    def wait(self, futures, timeout=None, return_when="ALL_COMPLETED"):
        """See ``rask.wait``."""
        return wait(futures, timeout=timeout, return_when=return_when)


DoneAndNotDoneFutures = _collections.namedtuple("DoneAndNotDoneFutures", "done not_done")


def wait(futures, timeout=None, return_when="ALL_COMPLETED"):
    """Waits for all futures (or the first, ``return_when="FIRST_COMPLETED"``);
    returns ``(done, not_done)`` sets; ``TimeoutError`` after ``timeout`` seconds."""
    done, not_done = _rask.wait(futures, timeout, return_when)
    return DoneAndNotDoneFutures(set(done), set(not_done))


def default_client():
    """The default client: the newest ``Client`` still open, else a shared
    thread pool."""
    with _lock:
        if _default is not None:
            return _default
    return _implicit_client("threads")


def _implicit_client(executor):
    with _lock:
        c = _implicit.get(executor)
        if c is None:
            c = _implicit[executor] = Client(executor=executor, set_as_default=False)
        return c


def _choose(scheduler, client):
    if client is not None:
        return client
    if scheduler is None:
        return default_client()
    if isinstance(scheduler, _rask.Client):
        return scheduler
    if scheduler in ("sync", "synchronous", "single-threaded"):
        return _implicit_client("sync")
    if scheduler in ("threads", "threading"):
        return _implicit_client("threads")
    if scheduler in ("processes", "multiprocessing"):
        return _implicit_client("processes")
    raise ValueError(f"rask: scheduler is sync, threads, processes or a Client, not {scheduler!r}")


def compute(*args, scheduler=None, client=None, progress=False, tables="pandas"):
    """Computes ``Delayed`` objects, arrays and dataframes together, sharing
    what they share; returns a tuple of their values (arrays as NumPy arrays,
    dataframes as ``tables``: ``"pandas"``, ``"arrow"`` or ``"polars"``).
    Other arguments come back as they are. ``scheduler`` is ``"sync"``,
    ``"threads"``, ``"processes"`` or a ``Client``; by default the default
    client."""
    c = _choose(scheduler, client)
    return tuple(c.get(list(args), progress=bool(progress or _progress), tables=tables))


def _compute_frame(df, _as="pandas", scheduler=None, client=None, progress=False):
    c = _choose(scheduler, client)
    return c._frame(df, _as, progress=bool(progress or _progress))


def delayed(obj=None, *, name=None, pure=None, nout=None):
    """``delayed(f)`` makes calls of ``f`` lazy (also as a decorator);
    ``delayed(value)`` wraps a value. ``name`` names the tasks (keys are
    ``name#N``); ``nout=n`` makes a call return ``n`` Delayed items.
    ``pure`` is accepted for Dask compatibility: every call is a task of its
    own. ``dask_key_name=`` on a call chooses that task's key."""
    del pure
    if obj is None:
        return lambda f: delayed(f, name=name, nout=nout)
    if isinstance(obj, (Delayed, DelayedFunction)):
        return obj
    if callable(obj):
        return DelayedFunction(obj, name=name, nout=nout)
    return _rask.value(obj)


def by_name(target, *, name=None, nout=None):
    """A delayed function given by its importable name, ``"module:function"``
    (resolved where it runs: the function need not import here)."""
    return DelayedFunction(target, name=name, nout=nout)


class ProgressBar:
    """``with rask.ProgressBar(): x.compute()`` draws a progress bar for the
    graphs computed inside the block."""

    def __enter__(self):
        global _progress
        _progress += 1
        return self

    def __exit__(self, *exc):
        global _progress
        _progress -= 1


def _at_exit():
    # No task attaches to the interpreter from now on; then stop every
    # client's threads and processes while the interpreter still runs.
    _rask._shutting_down()
    for c in list(_clients):
        try:
            _rask.Client.close(c)
        except Exception:  # noqa: BLE001 (best effort at exit)
            pass


_atexit.register(_at_exit)
