"""``python -m rask.worker ADDRESS``: joins a Rask cluster as a worker that
runs Python functions by importable name (set ``RASK_SECRET`` to the
cluster's secret, and ``PYTHONPATH`` so that your modules import)."""
import argparse


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m rask.worker", description=__doc__)
    p.add_argument("address", help="the scheduler, host:port")
    p.add_argument("--nthreads", type=int, default=None, help="compute threads (default: one per core)")
    p.add_argument("--name", default=None, help="the worker's name")
    p.add_argument("--memory-limit", type=int, default=0, help="bytes (0: none)")
    a = p.parse_args(argv)
    from rask import _rask, _worker

    _worker._IN_WORKER = True
    _rask.run_worker(a.address, threads=a.nthreads, name=a.name, memory_limit=a.memory_limit)


if __name__ == "__main__":
    main()
