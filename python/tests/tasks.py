"""Task functions that worker processes import by name (``tasks:inc``)."""
import os
import time


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def total(xs):
    return sum(xs)


def fail(x):
    raise ValueError(f"bad input {x}")


def pid(_=None):
    return os.getpid()


def slow(x, seconds=0.05):
    time.sleep(seconds)
    return x


def describe(*args, **kwargs):
    return {"args": list(args), "kwargs": dict(sorted(kwargs.items()))}


def make_object():
    return object()


def crash(_=None):
    os._exit(3)


def tree(n):
    """W1's graph: ``inc`` on n leaves, then a pairwise tree of ``add``s."""
    import rask

    xs = [rask.delayed(inc)(i) for i in range(n)]
    while len(xs) > 1:
        nxt = [rask.delayed(add)(xs[i], xs[i + 1]) for i in range(0, len(xs) - 1, 2)]
        if len(xs) % 2:
            nxt.append(xs[-1])
        xs = nxt
    return xs[0]
