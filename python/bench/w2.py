"""W2 from Python (bench/README.md): ``(x + x.T).mean(axis=0).sum()``
of a seeded uniform N x N float64 matrix in C x C chunks, with ``rask.array``
on a thread client, timed as rask-bench's W2 times it (graph building and
generation included, the client made before). One cold run per process.

usage: w2.py [--n N] [--chunk C] [--threads T]; prints one JSON line.
"""
import argparse
import os

# NumPy's OpenBLAS starts a thread per core that spins after loading; the
# workload uses no BLAS, and on a 2-core machine those threads would take
# time from Rask's workers. (Imported before the clock starts.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import json
import sys
import time

import numpy  # noqa: F401 (loaded before timing: results become NumPy arrays)

import rask
import rask.array as ra

from _common import peak_rss_mib


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--chunk", type=int, default=2000)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    client = rask.Client(executor="threads", n_workers=a.threads)
    t0 = time.perf_counter()
    x = ra.random.random((a.n, a.n), chunks=a.chunk, seed=0)
    r = (x + x.T).mean(axis=0).sum()
    graph_s = time.perf_counter() - t0
    v = float(r.compute(scheduler=client))
    seconds = time.perf_counter() - t0
    if abs(v / a.n - 1) >= 1e-2:
        sys.exit(f"implausible result {v}")
    print(json.dumps({
        "workload": "W2", "system": "rask-python-threads", "n": a.n, "chunk": a.chunk,
        "seconds": round(seconds, 4), "graph_s": round(graph_s, 6), "result": v,
        "peak_rss_mib": peak_rss_mib(),
    }))


if __name__ == "__main__":
    main()
