//! Group-by against a plain single-partition computation on random tables
//! (random partitioning, nulls, empty partitions, skewed keys), on the sync
//! and threads executors, with tree merges and split outputs.

mod common;

use std::collections::BTreeMap;

use common::*;
use rask_client::Client;
use rask_dataframe::arrow::array::RecordBatch;
use rask_dataframe::{AggFunc, DataFrame};

/// The plain answer: one pass, a BTreeMap from key cells to the rows.
fn reference(b: &RecordBatch, keys: &[&str], aggs: &[(&str, AggFunc)]) -> Vec<Vec<Cell>> {
    let idx = |n: &str| b.schema().index_of(n).expect("column");
    let mut groups: BTreeMap<Vec<String>, (Vec<Cell>, Vec<usize>)> = BTreeMap::new();
    for i in 0..b.num_rows() {
        let kc: Vec<Cell> = keys.iter().map(|k| cell(b.column(idx(k)), i)).collect();
        let kk: Vec<String> = kc.iter().map(|c| format!("{c:?}")).collect();
        groups
            .entry(kk)
            .or_insert_with(|| (kc, Vec::new()))
            .1
            .push(i);
    }
    let mut out = Vec::new();
    for (_, (kc, rows)) in groups {
        let mut row = kc;
        for (c, f) in aggs {
            let col = b.column(idx(c));
            let vals: Vec<Cell> = rows
                .iter()
                .map(|&i| cell(col, i))
                .filter(|c| *c != Cell::Null)
                .collect();
            let nums: Vec<f64> = vals
                .iter()
                .filter_map(|c| match c {
                    Cell::Int(v) => Some(*v as f64),
                    Cell::Float(v) => Some(*v),
                    _ => None,
                })
                .collect();
            let is_int = matches!(
                col.data_type(),
                rask_dataframe::arrow::datatypes::DataType::Int64
            );
            let n = nums.len() as f64;
            let mean = nums.iter().sum::<f64>() / n;
            let var = nums.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
            row.push(match f {
                AggFunc::Sum if is_int => Cell::Int(nums.iter().sum::<f64>() as i64),
                AggFunc::Sum => Cell::Float(nums.iter().sum()),
                AggFunc::Count => Cell::Int(vals.len() as i64),
                AggFunc::Len => Cell::Int(rows.len() as i64),
                AggFunc::Mean if n > 0.0 => Cell::Float(mean),
                AggFunc::Var if n > 1.0 => Cell::Float(var),
                AggFunc::Std if n > 1.0 => Cell::Float(var.sqrt()),
                AggFunc::Mean | AggFunc::Var | AggFunc::Std => Cell::Null,
                AggFunc::Min => vals
                    .iter()
                    .cloned()
                    .reduce(|a, b| if b < a { b } else { a })
                    .unwrap_or(Cell::Null),
                AggFunc::Max => vals
                    .iter()
                    .cloned()
                    .reduce(|a, b| if b > a { b } else { a })
                    .unwrap_or(Cell::Null),
                AggFunc::First => vals.first().cloned().unwrap_or(Cell::Null),
                AggFunc::Last => vals.last().cloned().unwrap_or(Cell::Null),
                AggFunc::NUnique => Cell::Int(
                    vals.iter()
                        .map(|c| format!("{c:?}"))
                        .collect::<std::collections::HashSet<_>>()
                        .len() as i64,
                ),
            });
        }
        out.push(row);
    }
    sort_rows(out)
}

const ALL: [AggFunc; 9] = [
    AggFunc::Sum,
    AggFunc::Mean,
    AggFunc::Count,
    AggFunc::Min,
    AggFunc::Max,
    AggFunc::Var,
    AggFunc::Std,
    AggFunc::First,
    AggFunc::Last,
];

#[test]
fn groupby_matches_plain_computation() {
    let clients = [("sync", Client::sync()), ("threads", Client::threads())];
    let key_sets: [&[&str]; 4] = [&["k_int"], &["k_str"], &["k_str", "k_int"], &[]];
    let mut rng = Rng(7);
    for case in 0..24 {
        let rows = [0, 1, 5, 40, 300][rng.below(5) as usize];
        let table = random_table(&mut rng, rows);
        let parts = random_split(&mut rng, &table);
        let df = DataFrame::from_record_batches(parts.clone()).expect("frame");
        let keys = key_sets[case % key_sets.len()];
        // Every function on both value columns, under distinct names.
        let mut aggs = Vec::new();
        let mut plain = Vec::new();
        for f in ALL {
            for c in ["v_int", "v_f"] {
                aggs.push(rask_dataframe::Agg::new(c, f).alias(&format!("{c}_{f:?}")));
                plain.push((c, f));
            }
        }
        let with_n_unique = case % 3 == 0;
        if with_n_unique {
            for c in ["v_int", "s"] {
                aggs.push(rask_dataframe::Agg::new(c, AggFunc::NUnique).alias(&format!("{c}_nu")));
                plain.push((c, AggFunc::NUnique));
            }
        }
        aggs.push(rask_dataframe::Agg::new("s", AggFunc::Min).alias("s_min"));
        aggs.push(rask_dataframe::Agg::new("s", AggFunc::Last).alias("s_last"));
        plain.push(("s", AggFunc::Min));
        plain.push(("s", AggFunc::Last));
        let want = reference(&table, keys, &plain);
        for split in [None, Some(1), Some(3)] {
            for fan_in in [2, 8] {
                let mut g = df.groupby(keys).fan_in(fan_in);
                if let Some(s) = split {
                    g = g.split_out(s);
                }
                let g = g.agg(aggs.clone()).expect("valid group-by");
                let parts = match split {
                    _ if with_n_unique && keys.is_empty() => 1,
                    None if with_n_unique || keys.is_empty() => 1,
                    None => df.npartitions(),
                    Some(s) => s,
                };
                assert_eq!(g.npartitions(), parts);
                for (name, c) in &clients {
                    let got = g.collect(c).expect("computes");
                    assert_eq!(got.schema().fields().len(), keys.len() + aggs.len());
                    // A global aggregation of no rows has no group.
                    let want = if keys.is_empty() && rows == 0 {
                        vec![]
                    } else {
                        want.clone()
                    };
                    assert_same_rows(
                        &sort_rows(common::rows(&got)),
                        &want,
                        &format!(
                            "case {case} keys {keys:?} split {split:?} fan_in {fan_in} on {name}"
                        ),
                    );
                }
            }
        }
    }
}

#[test]
fn groupby_errors_name_the_column() {
    let mut rng = Rng(1);
    let df = DataFrame::from_record_batches(vec![random_table(&mut rng, 10)]).expect("frame");
    let e = df
        .groupby(&["nope"])
        .agg(vec![rask_dataframe::sum("v_int")]);
    assert!(e.expect_err("unknown key").to_string().contains("`nope`"));
    let e = df
        .groupby(&["k_int"])
        .agg(vec![rask_dataframe::sum("missing")]);
    assert!(e
        .expect_err("unknown value")
        .to_string()
        .contains("`missing`"));
    // Floats are keys by value.
    let e = df.groupby(&["v_f"]).agg(vec![rask_dataframe::sum("v_int")]);
    assert!(e.is_ok(), "float keys group by value");
    let e = df.groupby(&["k_int"]).agg(vec![rask_dataframe::mean("s")]);
    assert!(e.expect_err("mean of strings").to_string().contains("`s`"));
}

#[test]
fn high_cardinality_partitions_keep_rows_for_the_merge() {
    use rask_dataframe::arrow::array::{Float64Array, Int64Array, StringArray};
    use rask_dataframe::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    // Over 64K rows per partition, nearly one key per row: partial states
    // keep one row per input row and the merge groups them.
    let n = 140_000usize;
    let k: Vec<i64> = (0..n as i64)
        .map(|i| if i % 20 == 0 { i / 2 } else { i })
        .collect();
    let s: Vec<String> = (0..n).map(|i| format!("s{}", i % 7)).collect();
    let v: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 13 != 0).then_some(i as f64 * 0.5))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
        Field::new("v", DataType::Float64, true),
    ]));
    let t = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(k)),
            Arc::new(StringArray::from(s)),
            Arc::new(Float64Array::from(v)),
        ],
    )
    .expect("table");
    let df = DataFrame::from_record_batches(vec![t.slice(0, 70_000), t.slice(70_000, 70_000)])
        .expect("frame");
    let plain = [
        ("v", AggFunc::Sum),
        ("v", AggFunc::Mean),
        ("v", AggFunc::Var),
        ("v", AggFunc::First),
        ("s", AggFunc::Last),
        ("v", AggFunc::Count),
    ];
    let aggs: Vec<rask_dataframe::Agg> = plain
        .iter()
        .enumerate()
        .map(|(i, (c, f))| rask_dataframe::Agg::new(c, *f).alias(&format!("a{i}")))
        .collect();
    let want = reference(&t, &["k"], &plain);
    let c = Client::threads();
    for split in [1, 2] {
        let g = df
            .groupby(&["k"])
            .split_out(split)
            .agg(aggs.clone())
            .expect("groupby");
        // The automatic plan gives the same groups (all in its first partition here).
        let auto = df.groupby(&["k"]).agg(aggs.clone()).expect("groupby");
        let got = sort_rows(common::rows(&auto.collect(&c).expect("computes")));
        assert_same_rows(&got, &want, "high cardinality, automatic split");
        let got = sort_rows(common::rows(&g.collect(&c).expect("computes")));
        assert_same_rows(&got, &want, &format!("high cardinality, split {split}"));
    }
}
