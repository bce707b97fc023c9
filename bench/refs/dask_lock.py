"""W10 on dask.distributed: coordination across workers.

A LocalCluster of 2 worker processes, 1 thread each. T tasks; each runs K
critical sections under one cluster-wide `distributed.Lock`, and in each
reads a cluster-wide `distributed.Variable`, adds 1 and sets it. A lost
update would leave the final value below T * K: that fails the run.
Timed: from submitting the T tasks to gathering them (the cluster's start
and the variable's first set are not). Metric: us per critical section.
usage: dask_lock.py T K
"""
import sys
import time

from common import emit, fail

LOCK, COUNTER = "w10-lock", "w10-counter"


def sections(task, k):
    from distributed import Lock, Variable
    lock, counter = Lock(LOCK), Variable(COUNTER)
    for _ in range(k):
        with lock:
            counter.set(counter.get() + 1)
    return task


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    from distributed import Client, LocalCluster, Variable
    t, k = int(sys.argv[1]), int(sys.argv[2])
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    Variable(COUNTER).set(0)
    t0 = time.perf_counter()
    done = client.gather(client.map(sections, range(t), k=k, pure=False))
    seconds = time.perf_counter() - t0
    final = Variable(COUNTER).get()
    client.close()
    cluster.close()
    ops = t * k
    if final != ops or sorted(done) != list(range(t)):
        fail(f"lost updates: the counter is {final}, expected {ops}")
    emit(workload="W10", system="dask-distributed", tasks=t, sections=ops, final=final,
         seconds=round(seconds, 4), us_per_op=round(1e6 * seconds / ops, 2))


if __name__ == "__main__":
    main()
