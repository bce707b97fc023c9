"""W1, W7, W6 and P1 on the reference systems: scheduling overhead.

The graph (bench/README.md, W1): N independent tasks inc(i) = i + 1, then
their results summed by a pairwise binary tree of add(a, b), an odd element
carried up a level unchanged; 2N - 1 tasks in all, result N(N + 1) / 2.

usage: tasks.py SYSTEM N [WORKLOAD]
  SYSTEM: dask-sync | dask-threads | dask-processes   Dask's local schedulers
          dask-distributed   LocalCluster, 2 worker processes x 1 thread
          ray                a local Ray with 2 CPUs (bench/requirements-ray.txt)
  WORKLOAD: the label printed (default: W7 for processes, W6 for
            distributed and ray, else W1; the P1 reference passes P1)

Timed: graph building (`build_s`) and computing (`compute_s`) separately;
starting a cluster is in neither. Ray submits while it builds, so its one
time covers both (after 100 warm-up tasks).
"""
import sys
import time

from common import emit, fail, per_task_us

WORKERS = 2


def inc(i):
    return i + 1


def add(a, b):
    return a + b


def tree(leaves, combine):
    """Pairwise reduction of a list, level by level; an odd last element
    goes up unchanged. Never recursive: levels are a loop."""
    level = leaves
    while len(level) > 1:
        pairs = [combine(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2 == 1:
            pairs.append(level[-1])
        level = pairs
    return level[0]


def run_dask(scheduler, n):
    from dask import delayed
    d_inc, d_add = delayed(inc, pure=False), delayed(add, pure=False)
    t0 = time.perf_counter()
    root = tree([d_inc(i) for i in range(n)], d_add)
    t1 = time.perf_counter()
    cleanup = []
    if scheduler == "distributed":
        from distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        cleanup = [client.close, cluster.close]
        c0 = time.perf_counter()
        result = root.compute()
    else:
        c0 = time.perf_counter()
        result = root.compute(scheduler=scheduler)
    c1 = time.perf_counter()
    for close in cleanup:
        close()
    return result, t1 - t0, c1 - c0


def run_ray(n):
    import ray
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    r_inc, r_add = ray.remote(inc), ray.remote(add)
    ray.get([r_inc.remote(i) for i in range(100)])
    t0 = time.perf_counter()
    result = ray.get(tree([r_inc.remote(i) for i in range(n)], r_add.remote))
    t1 = time.perf_counter()
    ray.shutdown()
    return result, None, t1 - t0


def main():
    if len(sys.argv) not in (3, 4):
        fail(__doc__)
    system, n = sys.argv[1], int(sys.argv[2])
    if system == "ray":
        result, build, compute = run_ray(n)
        default = "W6"
    elif system.startswith("dask-") and system[5:] in ("sync", "threads", "processes", "distributed"):
        result, build, compute = run_dask(system[5:], n)
        default = {"processes": "W7", "distributed": "W6"}.get(system[5:], "W1")
    else:
        fail(f"unknown system {system!r}")
    if result != n * (n + 1) // 2:
        fail(f"wrong result {result}, expected {n * (n + 1) // 2}")
    tasks = 2 * n - 1
    fields = dict(workload=sys.argv[3] if len(sys.argv) == 4 else default, system=system, n=n,
                  tasks=tasks, compute_s=round(compute, 4), us_per_task=per_task_us(compute, tasks))
    if build is not None:
        fields.update(build_s=round(build, 4), build_us_per_task=per_task_us(build, tasks))
    emit(**fields)


if __name__ == "__main__":
    main()
