"""W4 from Python (bench/README.md): the db-benchmark group-by
questions on the Parquet file of bench/refs/gen_groupby.py with
``rask.dataframe`` on a thread client, as rask-bench's W4 runs them: read
into P partitions with dictionary strings, one dictionary per column,
persisted (``load_s``, not in the total); each answer computed into a
pyarrow Table (through the Arrow C stream, no copy) and timed; checksums as
the references compute them.

usage: w4.py --file PATH [--partitions P]; prints one JSON line.
"""
import argparse
import os

# NumPy's OpenBLAS starts a thread per core that spins after loading; the
# workload uses no BLAS, and on a 2-core machine those threads would take
# time from Rask's workers. (Imported before the clock starts.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import ctypes
import json
import time

import pyarrow.compute as pc

import numpy  # noqa: F401 (loaded before timing: results become NumPy arrays)

import rask
import rask.dataframe as rd

from _common import peak_rss_mib

QUESTIONS = [
    ("q1", ["id1"], [("v1", "sum")], False),
    ("q2", ["id1", "id2"], [("v1", "sum")], False),
    ("q3", ["id3"], [("v1", "sum"), ("v3", "mean")], True),
    ("q4", ["id4"], [("v1", "mean"), ("v2", "mean"), ("v3", "mean")], False),
    ("q5", ["id6"], [("v1", "sum"), ("v2", "sum"), ("v3", "sum")], True),
    ("q7", ["id3"], [("v1", "max"), ("v2", "min")], True),
    ("q10", ["id1", "id2", "id3", "id4", "id5", "id6"], [("v3", "sum"), ("v1", "count")], True),
]


def checksum(name, keys, t):
    cols = t.column_names[len(keys):]
    if name == "q7":
        s = pc.sum(pc.subtract(pc.fill_null(pc.cast(t[cols[0]], "float64"), 0),
                               pc.fill_null(pc.cast(t[cols[1]], "float64"), 0))).as_py() or 0.0
    else:
        s = sum((pc.sum(pc.cast(t[c], "float64")).as_py() or 0.0) for c in cols)
    return [t.num_rows, round(s, 3)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--file", required=True)
    p.add_argument("--partitions", type=int, default=8)
    a = p.parse_args()
    if os.environ.get("RASK_W4_THP", "off") != "on":
        # As rask-bench's W4: transparent huge pages off for this process.
        PR_SET_THP_DISABLE = 41
        ctypes.CDLL(None).prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)
    client = rask.Client(executor="threads")
    t0 = time.perf_counter()
    data = rd.read_parquet(a.file, npartitions=a.partitions, strings_as_dictionary=True)
    data = data.unify_dictionaries().persist(scheduler=client)
    rows = len(data)
    load_s = time.perf_counter() - t0
    per_question, answers, total = {}, {}, 0.0
    for name, keys, aggs, split in QUESTIONS:
        t = time.perf_counter()
        g = data.groupby(keys).agg(*[getattr(rd, f)(c) for c, f in aggs],
                                   split_out=a.partitions if split else 1)
        table = g.to_arrow(scheduler=client)
        secs = time.perf_counter() - t
        total += secs
        per_question[name] = round(secs, 4)
        answers[name] = checksum(name, keys, table)
    print(json.dumps({
        "workload": "W4", "system": "rask-python-threads", "rows": rows, "partitions": a.partitions,
        "load_s": round(load_s, 4), "seconds": round(total, 4), "per_question": per_question,
        "answers": answers,
        "peak_rss_mib": peak_rss_mib(),
    }))


if __name__ == "__main__":
    main()
