"""W4 on Dask, Polars or DuckDB: db-benchmark's group-by questions.

The table of gen_groupby.py is loaded first (`load_s`, not in the total):
Dask reads it into P partitions and persists them, Polars reads it into a
DataFrame, DuckDB into a table. Then each question is timed alone:

  q1  by id1: sum v1                 q2  by id1, id2: sum v1
  q3  by id3: sum v1, mean v3        q4  by id4: mean v1, v2, v3
  q5  by id6: sum v1, v2, v3         q7  by id3: max v1 - min v2
  q10 by id1..id6: sum v3, count v1

`seconds` is their sum; `answers` gives, per question, the result's row
count and the sum of its aggregated columns (rounded to 3 decimals), which
every system must agree on.
usage: groupby.py dask|polars|duckdb FILE.parquet [P]   (P: Dask's partitions, default 8)
"""
import sys
import time

from common import emit, fail

# question -> (keys, [(column, aggregation)]); q7 is the expression below.
QUESTIONS = {
    "q1": (["id1"], [("v1", "sum")]),
    "q2": (["id1", "id2"], [("v1", "sum")]),
    "q3": (["id3"], [("v1", "sum"), ("v3", "mean")]),
    "q4": (["id4"], [("v1", "mean"), ("v2", "mean"), ("v3", "mean")]),
    "q5": (["id6"], [("v1", "sum"), ("v2", "sum"), ("v3", "sum")]),
    "q10": (["id1", "id2", "id3", "id4", "id5", "id6"], [("v3", "sum"), ("v1", "count")]),
}
ORDER = ["q1", "q2", "q3", "q4", "q5", "q7", "q10"]
FEW_GROUPS = {"q1", "q2", "q4"}  # Dask: one output partition is enough


def answer(rows, total):
    return [int(rows), round(float(total), 3)]


class Dask:
    system = "dask-threads"

    def __init__(self, path, parts):
        import dask
        import dask.dataframe as dd
        dask.config.set(scheduler="threads")
        self.parts = parts
        self.df = dd.read_parquet(path).repartition(npartitions=parts).persist()
        self.rows = len(self.df)

    def ask(self, q):
        if q == "q7":
            res = self.df.groupby("id3", observed=True).agg(
                {"v1": "max", "v2": "min"}, split_out=self.parts).compute()
            return lambda: answer(len(res), (res["v1"] - res["v2"]).sum())
        keys, aggs = QUESTIONS[q]
        res = self.df.groupby(keys, observed=True).agg(
            dict(aggs), split_out=1 if q in FEW_GROUPS else self.parts).compute()
        return lambda: answer(len(res), sum(res[c].sum() for c, _ in aggs))


class Polars:
    system = "polars"

    def __init__(self, path, _parts):
        import polars as pl
        self.pl = pl
        self.df = pl.read_parquet(path)
        self.rows = self.df.height

    def ask(self, q):
        pl = self.pl
        if q == "q7":
            res = self.df.group_by("id3").agg((pl.col("v1").max() - pl.col("v2").min()).alias("r"))
            return lambda: answer(res.height, res["r"].sum())
        keys, aggs = QUESTIONS[q]
        res = self.df.group_by(keys).agg([getattr(pl.col(c), f)().alias(c) for c, f in aggs])
        return lambda: answer(res.height, sum(res[c].sum() for c, _ in aggs))


class DuckDB:
    system = "duckdb"

    def __init__(self, path, _parts):
        import duckdb
        self.con = duckdb.connect()
        self.con.execute("create table x as select * from read_parquet(?)", [path])
        self.rows = self.con.execute("select count(*) from x").fetchone()[0]

    def ask(self, q):
        if q == "q7":
            keys, cols = ["id3"], ["max(v1) - min(v2) as r"]
            names = ["r"]
        else:
            keys, aggs = QUESTIONS[q]
            sql_fn = {"sum": "sum", "mean": "avg", "count": "count"}
            cols = [f"{sql_fn[f]}({c}) as {c}" for c, f in aggs]
            names = [c for c, _ in aggs]
        k = ", ".join(keys)
        self.con.execute(f"create or replace table ans as select {k}, {', '.join(cols)} from x group by {k}")

        def check():
            n, s = self.con.execute(
                f"select count(*), {' + '.join(f'sum({c})' for c in names)} from ans").fetchone()
            return answer(n, s)
        return check


ENGINES = {"dask": Dask, "polars": Polars, "duckdb": DuckDB}


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ENGINES:
        fail(__doc__)
    parts = int(sys.argv[3]) if len(sys.argv) == 4 else 8
    t0 = time.perf_counter()
    engine = ENGINES[sys.argv[1]](sys.argv[2], parts)
    load = time.perf_counter() - t0
    times, answers = {}, {}
    for q in ORDER:
        t = time.perf_counter()
        check = engine.ask(q)  # the answer is computed; checking it is not timed
        times[q] = round(time.perf_counter() - t, 4)
        answers[q] = check()
    fields = dict(workload="W4", system=engine.system, rows=engine.rows, load_s=round(load, 4),
                  seconds=round(sum(times.values()), 4), per_question=times, answers=answers)
    if sys.argv[1] == "dask":
        fields["partitions"] = parts
    emit(**fields)


if __name__ == "__main__":
    main()
