"""P1 (bench/README.md): W1 from Python. N ``inc`` tasks, then a
pairwise tree of ``add``s (2N-1 tasks, result N(N+1)/2), built with
``rask.delayed`` exactly as the Dask reference builds it and computed on a
``rask.Client`` of threads. Graph building and compute are timed apart,
each the median of ``--repeat`` runs after a warm-up. The floor is the same
2N-1 Python calls made straight from Rust (no graph), attaching to the
interpreter per call as a task does.

usage: p1.py [--n N] [--threads T] [--repeat R] [--executor threads|sync]
Prints one JSON object on its last line; exits non-zero if a result is wrong.
"""
import argparse
import json
import statistics
import sys
import time

import rask
from rask import _rask

from _common import peak_rss_mib


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def build(n):
    xs = [rask.delayed(inc, pure=False)(i) for i in range(n)]
    while len(xs) > 1:
        nxt = [rask.delayed(add, pure=False)(xs[i], xs[i + 1]) for i in range(0, len(xs) - 1, 2)]
        if len(xs) % 2:
            nxt.append(xs[-1])
        xs = nxt
    return xs[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--executor", default="threads", choices=["threads", "sync"])
    a = p.parse_args()
    n, tasks = a.n, 2 * a.n - 1
    expected = n * (n + 1) // 2
    client = rask.Client(executor=a.executor, n_workers=a.threads)
    builds, computes = [], []
    for i in range(a.repeat + 1):
        t0 = time.perf_counter()
        g = build(n)
        t1 = time.perf_counter()
        (result,) = rask.compute(g, scheduler=client)
        t2 = time.perf_counter()
        if result != expected:
            sys.exit(f"wrong result {result}, expected {expected}")
        del g
        if i:  # the first run warms up
            builds.append(t1 - t0)
            computes.append(t2 - t1)
    floor = _rask.floor(inc, add, n)
    build_s, compute_s = statistics.median(builds), statistics.median(computes)
    us = 1e6 * compute_s / tasks
    out = {
        "workload": "P1",
        "system": f"rask-python-{a.executor}",
        "n": n,
        "tasks": tasks,
        "threads": client.n_workers,
        "build_s": round(build_s, 4),
        "compute_s": round(compute_s, 4),
        "build_us_per_task": round(1e6 * build_s / tasks, 3),
        "us_per_task": round(us, 3),
        "floor_us_per_call": round(floor["per_call_attach_us"], 3),
        "floor_attached_us_per_call": round(floor["attached_us"], 3),
        "over_floor": round(us / floor["per_call_attach_us"], 2),
        "python": sys.version.split()[0],
        "peak_rss_mib": peak_rss_mib(),
    }
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
