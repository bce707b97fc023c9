"""W2 on dask.array (threads scheduler): chunked array arithmetic.

x: a seeded uniform [0, 1) f64 matrix, N x N in C x C chunks; the result is
r = (x + x.T).mean(axis=0).sum(). Generating x is part of the timed work
(the graph makes it chunk by chunk). Every column mean of x + x.T is near 1,
so the check is |r / N - 1| < 1e-2.
usage: dask_array.py N C
"""
import sys
import time

from common import emit, fail


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    import dask.array as da
    n, c = int(sys.argv[1]), int(sys.argv[2])
    x = da.random.default_rng(0).random((n, n), chunks=(c, c))
    t0 = time.perf_counter()
    r = float((x + x.T).mean(axis=0).sum().compute(scheduler="threads"))
    seconds = time.perf_counter() - t0
    if not abs(r / n - 1.0) < 1e-2:
        fail(f"implausible result {r} for N = {n}")
    emit(workload="W2", system="dask-threads", n=n, chunk=c, seconds=round(seconds, 4), result=r)


if __name__ == "__main__":
    main()
