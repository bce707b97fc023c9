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
