"""rask.dataframe against pandas, on every kind of client; tables in and
out through the Arrow C data interface."""
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import rask
import rask.dataframe as rd


@pytest.fixture(scope="module", params=["sync", "threads", "processes"])
def client(request):
    c = rask.Client(executor=request.param, n_workers=2, set_as_default=False)
    yield c
    c.close()


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    n = 20_000
    return pa.table({
        "id1": pa.array([f"id{i:03d}" for i in rng.integers(0, 50, n)]),
        "id2": rng.integers(0, 20, n),
        "v1": rng.integers(1, 6, n),
        "v3": np.round(rng.random(n) * 100, 6),
    })


@pytest.fixture(scope="module")
def parquet(table, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "t.parquet"
    pq.write_table(table, path, row_group_size=4000)
    return str(path)


def sort(df, by):
    return df.sort_values(by).reset_index(drop=True)


def test_read_filter_groupby_like_pandas(client, parquet, table):
    p = table.to_pandas()
    df = rd.read_parquet(parquet, npartitions=4)
    assert df.npartitions == 4 and df.columns == ["id1", "id2", "v1", "v3"]
    out = df[df.v1 >= 3].groupby("id1").agg(rd.sum("v3"), rd.count("v1").alias("n"),
                                            rd.mean("v3").alias("m"))
    got = sort(out.compute(scheduler=client), "id1")
    want = p[p.v1 >= 3].groupby("id1").agg(v3=("v3", "sum"), n=("v1", "count"), m=("v3", "mean")).reset_index()
    pd.testing.assert_frame_equal(got, sort(want, "id1"), check_dtype=False, rtol=1e-9)
    assert len(df) == len(p)


def test_expressions_dict_aggs_and_columns(client, parquet, table):
    p = table.to_pandas()
    df = rd.read_parquet(parquet, columns=["id2", "v1", "v3"], filters=rd.col("v1") > 1)
    df = df.with_column("w", (df["v1"] * 2 + 1).cast("float64")).assign(big=rd.col("v3") > 50)
    got = sort(df.groupby(["id2", "big"]).agg({"w": "sum", "v3": ["min", "max"]}).compute(scheduler=client),
               ["id2", "big"])
    q = p[p.v1 > 1].assign(w=lambda d: d.v1 * 2.0 + 1, big=lambda d: d.v3 > 50)
    want = q.groupby(["id2", "big"]).agg(w=("w", "sum"), v3_min=("v3", "min"), v3_max=("v3", "max")).reset_index()
    pd.testing.assert_frame_equal(got, sort(want, ["id2", "big"]), check_dtype=False)
    sel = df.select("id2", (rd.col("v3") / 100).alias("f")).head(3, scheduler=client)
    assert list(sel.columns) == ["id2", "f"] and len(sel) == 3


def test_join_sort_and_dedup(client, parquet, table):
    p = table.to_pandas()
    df = rd.read_parquet(parquet, npartitions=3)
    means = df.groupby("id2").agg(rd.mean("v3").alias("mean_v3"))
    joined = df.join(means, on="id2", how="left")
    above = joined[joined.v3 > joined.mean_v3].groupby("id1").agg(rd.count("v3").alias("n"))
    m = p.groupby("id2").v3.mean().rename("mean_v3").reset_index()
    j = p.merge(m, on="id2", how="left")
    want = j[j.v3 > j.mean_v3].groupby("id1").v3.count().rename("n").reset_index()
    pd.testing.assert_frame_equal(sort(above.compute(scheduler=client), "id1"), sort(want, "id1"),
                                  check_dtype=False)
    top = df.sort_values("v3", ascending=False).head(5, scheduler=client)
    np.testing.assert_allclose(top.v3.to_numpy(), np.sort(p.v3.to_numpy())[::-1][:5])
    d = df.drop_duplicates(["id2"]).compute(scheduler=client)
    assert sorted(d.id2) == sorted(p.id2.unique())


def test_tables_in_and_out(client, table):
    df = rd.from_arrow(table, npartitions=3)
    assert df.npartitions == 3
    t = df.to_arrow(scheduler=client)
    assert isinstance(t, pa.Table) and t.equals(table)
    assert isinstance(df.to_polars(scheduler=client), pl.DataFrame)
    pd.testing.assert_frame_equal(df.to_pandas(scheduler=client), table.to_pandas())
    pd.testing.assert_frame_equal(rd.from_pandas(table.to_pandas()).to_pandas(), table.to_pandas())
    assert rd.from_polars(pl.from_arrow(table), 2).to_arrow().num_rows == table.num_rows
    arr_t, df_t = rask.compute(df, df, scheduler=client, tables="arrow")
    assert arr_t.equals(df_t)


def test_csv_and_writing(client, table, tmp_path):
    small = table.slice(0, 500)
    path = tmp_path / "t.csv"
    small.to_pandas().to_csv(path, index=False)
    df = rd.read_csv(str(path), blocksize=4096)
    assert df.npartitions > 1
    got = df.compute(scheduler=client)
    assert len(got) == 500 and list(got.columns) == ["id1", "id2", "v1", "v3"]
    assert df.to_parquet(str(tmp_path / "out"), scheduler=client) == 500
    back = rd.read_parquet(str(sorted((tmp_path / "out").iterdir())[0]))
    assert back.columns == df.columns


def test_frames_in_delayed_calls(table):
    df = rd.from_arrow(table, npartitions=2)
    n = rask.delayed(len)(df).compute(scheduler="threads")
    assert n == table.num_rows


def test_errors_name_the_column(parquet):
    df = rd.read_parquet(parquet)
    with pytest.raises(ValueError, match="nope"):
        df.filter(rd.col("nope") > 1)
    with pytest.raises(KeyError, match="nope"):
        df["nope"]
    with pytest.raises(ValueError, match="aggregations are"):
        df.groupby("id1").agg({"v1": "median"})
    with pytest.raises(TypeError, match="truth value"):
        bool(rd.col("v1") > 1)
    with pytest.raises(TypeError, match="__arrow_c_stream__"):
        rd.from_arrow([1, 2])
