"""``rask.dataframe``: partitioned dataframes on Rask's Rust engine (Arrow).

Reading, expressions, filters, group-bys, joins and sorts are the Rust
crate's (``rask::dataframe``): built-in tasks on Arrow record batches, with
no Python per partition, on any client. Results come back through the Arrow
C data interface: ``to_arrow()`` (no copy), ``compute()`` / ``to_pandas()``,
``to_polars()``.

    import rask.dataframe as rd
    df = rd.read_parquet("data.parquet", columns=["id1", "v1", "v3"], npartitions=8)
    out = df[df.v1 >= 2].groupby("id1").agg(rd.sum("v1"), rd.mean("v3").alias("m"))
    print(out.compute())          # a pandas DataFrame
"""
from rask._rask import dataframe as _d

DataFrame = _d.DataFrame
GroupBy = _d.GroupBy
Expr = _d.Expr
Agg = _d.Agg
col = _d.col
lit = _d.lit
read_parquet = _d.read_parquet
read_csv = _d.read_csv
from_arrow = _d.from_arrow
sum, mean, count, min, max = _d.sum, _d.mean, _d.count, _d.min, _d.max  # noqa: A001
var, std, first, last, n_unique = _d.var, _d.std, _d.first, _d.last, _d.n_unique


def from_pandas(df, npartitions=1):
    """A dataframe of a pandas DataFrame (through Arrow)."""
    import pyarrow

    return from_arrow(pyarrow.Table.from_pandas(df, preserve_index=False), npartitions)


def from_polars(df, npartitions=1):
    """A dataframe of a Polars DataFrame (through the Arrow C stream)."""
    return from_arrow(df, npartitions)
