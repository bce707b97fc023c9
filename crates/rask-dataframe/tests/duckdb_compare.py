"""Compares the dataframe's answers with DuckDB's: for every qN.sql in the
directory that `duckdb_cases` wrote, runs the SQL in DuckDB and checks that
its rows equal qN.parquet (as a bag, or in order for `list` queries).
Values are compared after normalizing: integers and decimals by value,
floats to 9 significant digits, timestamps as UTC instants.
usage: dataframe_duckdb.py DIR"""
import datetime
import decimal
import glob
import os
import sys

import duckdb
import pyarrow.parquet as pq


def norm(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, (int, decimal.Decimal)):
        d = decimal.Decimal(v).normalize()
        return "n:" + ("0" if d == 0 else str(d))
    if isinstance(v, float):
        return "f:%.9g" % v
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return "t:" + v.isoformat()
    if isinstance(v, datetime.date):
        return "d:" + v.isoformat()
    return repr(v)


def rows(table):
    cols = [c.to_pylist() for c in table.columns]
    return [tuple(norm(c[i]) for c in cols) for i in range(table.num_rows)]


def main():
    d = sys.argv[1]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cases = sorted(glob.glob(os.path.join(d, "q*.sql")), key=lambda p: int(os.path.basename(p)[1:-4]))
    if not cases:
        raise SystemExit(f"no queries in {d}")
    failed = 0
    compared = 0
    nonempty = 0
    for sql_path in cases:
        base = sql_path[:-4]
        sql = open(sql_path).read()
        kind = open(base + ".kind").read().strip()
        ours = rows(pq.read_table(base + ".parquet"))
        theirs = rows(con.sql(sql).to_arrow_table())
        if kind == "bag":
            ours, theirs = sorted(ours), sorted(theirs)
        compared += len(theirs)
        nonempty += bool(theirs)
        if ours != theirs:
            failed += 1
            print(f"MISMATCH {os.path.basename(base)}: {sql}")
            print(f"  rask  ({len(ours)} rows): {ours[:5]}")
            print(f"  duckdb ({len(theirs)} rows): {theirs[:5]}")
    print(f"{len(cases) - failed} of {len(cases)} queries equal DuckDB's answers "
          f"({nonempty} with rows, {compared} rows compared)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
