"""W12 on Dask, Polars or DuckDB: dataframe questions from the Parquet file
to the answer, each timed alone with nothing loaded before it.

  e1  rows with v1 >= 3, by id3: sum v3 (s) and count (n)
  e2  by id1: sum of v1 * v2 + 1 (x) and max v2 (m)
  e3  the mean of v3 per id4 (mv), joined back to every row on id4; rows with
      v3 > mv counted per id5 (n)
  e4  rows with id6 < 1000: id6 and v3 of the top 100 by v3 descending
      (ties by id6 ascending)

`answers`: per question, the result's row count and the sum of its non-key
columns (rounded to 3 decimals). Dask reads into P partitions; Polars scans
lazily; DuckDB queries the file.
usage: e2e.py dask|polars|duckdb FILE.parquet [P]   (P default 8)
"""
import sys
import time

from common import emit, fail

ORDER = ["e1", "e2", "e3", "e4"]


def answer(rows, total):
    return [int(rows), round(float(total), 3)]


def dask_questions(path, parts):
    import dask
    import dask.dataframe as dd
    dask.config.set(scheduler="threads")

    def read():
        return dd.read_parquet(path).repartition(npartitions=parts)

    def e1():
        d = read()
        d = d[d.v1 >= 3]
        return d.groupby("id3", observed=True).agg(s=("v3", "sum"), n=("v3", "count"), split_out=parts)

    def e2():
        d = read()
        d = d.assign(x=d.v1 * d.v2 + 1)
        return d.groupby("id1", observed=True).agg(x=("x", "sum"), m=("v2", "max"))

    def e3():
        d = read()
        mean = d.groupby("id4", observed=True).v3.mean().rename("mv").reset_index()
        j = d.merge(mean, on="id4")
        j = j[j.v3 > j.mv]
        return j.groupby("id5", observed=True).agg(n=("v3", "count"), split_out=parts)

    def e4():
        d = read()
        return d[d.id6 < 1000][["id6", "v3"]].nlargest(100, "v3")

    def run(q):
        res = {"e1": e1, "e2": e2, "e3": e3, "e4": e4}[q]().compute()
        cols = [c for c in res.columns if not str(c).startswith("id")]
        return lambda: answer(len(res), sum(res[c].sum() for c in cols))
    return run


def polars_questions(path, _parts):
    import polars as pl
    c = pl.col

    def scan():
        return pl.scan_parquet(path)

    plans = {
        "e1": lambda: scan().filter(c("v1") >= 3).group_by("id3").agg(c("v3").sum().alias("s"), pl.len().alias("n")),
        "e2": lambda: scan().group_by("id1").agg((c("v1") * c("v2") + 1).sum().alias("x"), c("v2").max().alias("m")),
        "e3": lambda: scan().join(scan().group_by("id4").agg(c("v3").mean().alias("mv")), on="id4")
        .filter(c("v3") > c("mv")).group_by("id5").agg(pl.len().alias("n")),
        "e4": lambda: scan().filter(c("id6") < 1000).select("id6", "v3")
        .sort(["v3", "id6"], descending=[True, False]).head(100),
    }

    def run(q):
        res = plans[q]().collect()
        cols = [n for n in res.columns if not n.startswith("id")]
        return lambda: answer(res.height, sum(res[n].sum() for n in cols))
    return run


def duckdb_questions(path, _parts):
    import duckdb
    con = duckdb.connect()
    f = "read_parquet('" + path.replace("'", "''") + "')"
    sql = {
        "e1": f"select id3, sum(v3) as s, count(*) as n from {f} where v1 >= 3 group by id3",
        "e2": f"select id1, sum(v1 * v2 + 1) as x, max(v2) as m from {f} group by id1",
        "e3": f"select t.id5, count(*) as n from {f} t join "
              f"(select id4, avg(v3) as mv from {f} group by id4) m on t.id4 = m.id4 "
              f"where t.v3 > m.mv group by t.id5",
        "e4": f"select id6, v3 from {f} where id6 < 1000 order by v3 desc, id6 limit 100",
    }

    def run(q):
        con.execute(f"create or replace table ans as {sql[q]}")

        def check():
            cols = [r[0] for r in con.execute("describe ans").fetchall() if not r[0].startswith("id")]
            n, s = con.execute(f"select count(*), {' + '.join(f'sum({c})' for c in cols)} from ans").fetchone()
            return answer(n, s)
        return check
    return run


ENGINES = {"dask": ("dask-threads", dask_questions), "polars": ("polars", polars_questions),
           "duckdb": ("duckdb", duckdb_questions)}


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in ENGINES:
        fail(__doc__)
    parts = int(sys.argv[3]) if len(sys.argv) == 4 else 8
    system, make = ENGINES[sys.argv[1]]
    run = make(sys.argv[2], parts)
    times, answers = {}, {}
    for q in ORDER:
        t = time.perf_counter()
        check = run(q)
        times[q] = round(time.perf_counter() - t, 4)
        answers[q] = check()
    fields = dict(workload="W12", system=system, seconds=round(sum(times.values()), 4),
                  per_question=times, answers=answers)
    if sys.argv[1] == "dask":
        fields["partitions"] = parts
    emit(**fields)


if __name__ == "__main__":
    main()
