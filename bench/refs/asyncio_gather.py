"""W3 on Python's asyncio: many concurrent I/O-bound tasks.

N coroutines; coroutine i sleeps 20 ms, then returns i * i; all are gathered
at once and summed (check: the sum of i * i for i < N). The ideal is 20 ms
plus the per-task cost, so `us_per_task` = (seconds - 0.02) / N.
Standard library only: runs on any Python 3.
usage: asyncio_gather.py N
"""
import asyncio
import sys
import time

from common import emit, fail

WAIT_S = 0.02


async def square_later(i):
    await asyncio.sleep(WAIT_S)
    return i * i


async def gather_all(n):
    results = await asyncio.gather(*[square_later(i) for i in range(n)])
    return sum(results)


def main():
    if len(sys.argv) != 2:
        fail(__doc__)
    n = int(sys.argv[1])
    t0 = time.perf_counter()
    total = asyncio.run(gather_all(n))
    seconds = time.perf_counter() - t0
    want = (n - 1) * n * (2 * n - 1) // 6
    if total != want:
        fail(f"wrong sum {total}, expected {want}")
    emit(workload="W3", system="python-asyncio", n=n, seconds=round(seconds, 4),
         us_per_task=round(1e6 * (seconds - WAIT_S) / n, 3))


if __name__ == "__main__":
    main()
