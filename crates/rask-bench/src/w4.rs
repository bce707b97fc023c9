//! W4: the db-benchmark groupby questions (q1, q2, q3, q4, q5, q7, q10) on
//! the Parquet file of `bench/refs/gen_groupby.py`, read into P
//! partitions first (`load_s`, not in the total). Each question's answer
//! is collected into one record batch; its checksum is the sum of the
//! aggregated columns (q7: of max(v1) - min(v2)), rounded to 3 decimals, as
//! the references compute it. Split outputs follow the Dask reference
//! (one partition for q1, q2, q4; P for the others).
//!
//! String columns are read as Arrow dictionaries (the file's own encoding,
//! see `ParquetOptions::strings_as_dictionary`), made to share one
//! dictionary per column across partitions while loading
//! (`DataFrame::unify_dictionaries`); `RASK_W4_STRINGS=plain`
//! reads them as plain `Utf8` instead.
//!
//! The check: every answer is recomputed by a plain single-threaded
//! hash-map group-by over the collected table and must give the same row
//! count and checksum.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{bail, Context};
use rask::dataframe::arrow::array::{Array, AsArray, RecordBatch};
use rask::dataframe::arrow::compute::cast;
use rask::dataframe::arrow::datatypes::{DataType, Int64Type};
use rask::dataframe::{self as df, Agg, AggFunc, DataFrame, ParquetOptions};
use rask::Client;
use serde_json::json;

use crate::round;

struct Question {
    name: &'static str,
    keys: &'static [&'static str],
    aggs: &'static [(&'static str, AggFunc)],
    split: bool,
}

const QUESTIONS: &[Question] = &[
    Question {
        name: "q1",
        keys: &["id1"],
        aggs: &[("v1", AggFunc::Sum)],
        split: false,
    },
    Question {
        name: "q2",
        keys: &["id1", "id2"],
        aggs: &[("v1", AggFunc::Sum)],
        split: false,
    },
    Question {
        name: "q3",
        keys: &["id3"],
        aggs: &[("v1", AggFunc::Sum), ("v3", AggFunc::Mean)],
        split: true,
    },
    Question {
        name: "q4",
        keys: &["id4"],
        aggs: &[
            ("v1", AggFunc::Mean),
            ("v2", AggFunc::Mean),
            ("v3", AggFunc::Mean),
        ],
        split: false,
    },
    Question {
        name: "q5",
        keys: &["id6"],
        aggs: &[
            ("v1", AggFunc::Sum),
            ("v2", AggFunc::Sum),
            ("v3", AggFunc::Sum),
        ],
        split: true,
    },
    Question {
        name: "q7",
        keys: &["id3"],
        aggs: &[("v1", AggFunc::Max), ("v2", AggFunc::Min)],
        split: true,
    },
    Question {
        name: "q10",
        keys: &["id1", "id2", "id3", "id4", "id5", "id6"],
        aggs: &[("v3", AggFunc::Sum), ("v1", AggFunc::Count)],
        split: true,
    },
];

/// (rows, checksum) of an answer.
fn answer(q: &Question, b: &RecordBatch) -> anyhow::Result<(usize, f64)> {
    let nk = q.keys.len();
    let s = if q.name == "q7" {
        let mx = crate::f64_col(b.column(nk))?;
        let mn = crate::f64_col(b.column(nk + 1))?;
        mx.iter()
            .zip(&mn)
            .map(|(a, b)| a.unwrap_or(0.0) - b.unwrap_or(0.0))
            .sum::<f64>()
    } else {
        let mut s = 0.0;
        for c in &b.columns()[nk..] {
            s += crate::f64_col(c)?
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .sum::<f64>();
        }
        s
    };
    Ok((b.num_rows(), round(s, 3)))
}

pub(crate) fn run(file: &str, partitions: usize, check: bool) -> anyhow::Result<serde_json::Value> {
    // Transparent huge pages off for this process: right after another big
    // process (the references run just before) fresh 2 MiB pages stall on
    // compaction and zeroing, and q10 took 1.9-2.3 s instead of 1.0-1.1 s
    // (measured both ways on this machine). `RASK_W4_THP=on` keeps them.
    let thp_off = std::env::var("RASK_W4_THP").map_or(true, |v| v != "on");
    if thp_off {
        // SAFETY: prctl with integer arguments only; it changes no memory.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    let client = Client::threads();
    let t0 = Instant::now();
    let dictionary = std::env::var("RASK_W4_STRINGS").map_or(true, |v| v != "plain");
    let opts = ParquetOptions::new()
        .partitions(partitions)
        .strings_as_dictionary(dictionary);
    let data = df::read_parquet(file, &opts).with_context(|| format!("reading {file}"))?;
    let data = if dictionary {
        data.unify_dictionaries()
    } else {
        data
    };
    let data = data.persist(&client)?;
    let rows = data.count_rows(&client)?;
    let load_s = t0.elapsed().as_secs_f64();
    let mut per_question = serde_json::Map::new();
    let mut answers = serde_json::Map::new();
    let mut total = 0.0;
    let mut results = Vec::new();
    // `RASK_W4_ONLY=q10,q3` runs some questions only (for profiling).
    let only = std::env::var("RASK_W4_ONLY").ok();
    let chosen: Vec<&Question> = QUESTIONS
        .iter()
        .filter(|q| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == q.name))
        })
        .collect();
    for q in chosen.iter().copied() {
        let t = Instant::now();
        let res = ask(&data, q, partitions)?.collect(&client)?;
        let secs = t.elapsed().as_secs_f64();
        total += secs;
        let (n, sum) = answer(q, &res)?;
        per_question.insert(q.name.into(), json!(round(secs, 4)));
        answers.insert(q.name.into(), json!([n, sum]));
        results.push((n, sum));
    }
    // The benchmark's own peak, before the check's plain recomputation.
    let peak = crate::peak_rss_mib();
    if check {
        let table = data.collect(&client)?;
        for (q, got) in chosen.iter().zip(&results) {
            let want = naive(q, &table)?;
            if want.0 != got.0 || (want.1 - got.1).abs() > 1e-9 * want.1.abs().max(1.0) {
                bail!(
                    "W4 {}: got {:?}, a plain group-by gives {:?}",
                    q.name,
                    got,
                    want
                );
            }
        }
    }
    Ok(json!({
        "workload": "W4",
        "system": "rask-threads",
        "rows": rows,
        "partitions": partitions,
        "load_s": round(load_s, 4),
        "seconds": round(total, 4),
        "per_question": per_question,
        "answers": answers,
        "checked": check,
        "strings": if dictionary { "dictionary" } else { "plain" },
        "transparent_huge_pages": if thp_off { "off" } else { "on" },
        "peak_rss_mib": peak,
        "peak_rss_with_check_mib": crate::peak_rss_mib(),
    }))
}

fn ask(data: &DataFrame, q: &Question, partitions: usize) -> anyhow::Result<DataFrame> {
    let aggs: Vec<Agg> = q.aggs.iter().map(|&(c, f)| Agg::new(c, f)).collect();
    Ok(data
        .groupby(q.keys)
        .split_out(if q.split { partitions } else { 1 })
        .agg(aggs)?)
}

/// Per group and aggregation: (sum, count, min, max).
type Acc = (f64, f64, f64, f64);

/// The answer by a plain hash map over the whole table (strings interned
/// to integers per column first).
fn naive(q: &Question, t: &RecordBatch) -> anyhow::Result<(usize, f64)> {
    let n = t.num_rows();
    let mut keys: Vec<Vec<i64>> = Vec::new();
    for k in q.keys {
        let c = t.column(t.schema().index_of(k)?);
        let codes: Vec<i64> = match c.data_type() {
            DataType::Int64 => c.as_primitive::<Int64Type>().values().to_vec(),
            _ => {
                let s = cast(c, &DataType::Utf8)?;
                let s = s.as_string::<i32>();
                let mut m: HashMap<&str, i64> = HashMap::new();
                (0..n)
                    .map(|i| {
                        let l = m.len() as i64;
                        *m.entry(s.value(i)).or_insert(l)
                    })
                    .collect()
            }
        };
        keys.push(codes);
    }
    let vals: Vec<Vec<Option<f64>>> = q
        .aggs
        .iter()
        .map(|(c, _)| crate::f64_col(t.column(t.schema().index_of(c)?)))
        .collect::<anyhow::Result<_>>()?;
    // Per group and aggregation: (sum, count, min, max).
    let mut groups: HashMap<Vec<i64>, Vec<Acc>> = HashMap::new();
    for i in 0..n {
        let key: Vec<i64> = keys.iter().map(|k| k[i]).collect();
        let acc = groups
            .entry(key)
            .or_insert_with(|| vec![(0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY); vals.len()]);
        for (a, v) in acc.iter_mut().zip(&vals) {
            if let Some(x) = v[i] {
                a.0 += x;
                a.1 += 1.0;
                a.2 = a.2.min(x);
                a.3 = a.3.max(x);
            }
        }
    }
    let mut s = 0.0;
    for acc in groups.values() {
        if q.name == "q7" {
            s += acc[0].3 - acc[1].2;
            continue;
        }
        for (a, (_, f)) in acc.iter().zip(q.aggs) {
            s += match f {
                AggFunc::Sum => a.0,
                AggFunc::Mean => a.0 / a.1,
                AggFunc::Count => a.1,
                AggFunc::Min => a.2,
                AggFunc::Max => a.3,
                _ => bail!("no plain check for {f:?}"),
            };
        }
    }
    Ok((groups.len(), round(s, 3)))
}
