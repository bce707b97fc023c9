//! Random queries over random tables with nulls and every type, computed
//! by the dataframe (in memory and from Parquet files with small row
//! groups and pages, on sync and threads) and by plain row-at-a-time code:
//! the answers must be equal. Filters, group-bys, sorts with per-key order
//! and null placement, top-k, joins of every type on mixed-type keys, and
//! window functions.

mod common;

use std::cmp::Ordering;
use std::collections::HashMap;

use common::plain::{cmp_cells, keeps, random_filter};
use common::typed::{typed_table, KEYS, ORDERED};
use common::*;
use rask_client::Client;
use rask_dataframe::arrow::array::RecordBatch;
use rask_dataframe::parquet::arrow::ArrowWriter;
use rask_dataframe::parquet::file::properties::{EnabledStatistics, WriterProperties};
use rask_dataframe::{
    asc, count, cum_sum, dense_rank, desc, first, last, len, max, mean, min, rank, read_parquet,
    row_number, shift, sum, Agg, DataFrame, JoinOptions, JoinType, ParquetOptions, SortKey,
    Strings,
};

fn names(b: &RecordBatch) -> Vec<String> {
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// The table as Parquet files with small row groups and pages (statistics
/// and a page index), read back by `read_parquet`.
fn via_parquet(rng: &mut Rng, t: &RecordBatch, dir: &str) -> DataFrame {
    let parts = random_split(rng, t);
    for (i, p) in parts.iter().enumerate() {
        let f = std::fs::File::create(format!("{dir}/part.{i}.parquet")).expect("create");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1 + rng.below(60) as usize))
            .set_data_page_row_count_limit(1 + rng.below(16) as usize)
            .set_write_batch_size(4)
            .set_statistics_enabled(EnabledStatistics::Page)
            .build();
        let mut w = ArrowWriter::try_new(f, p.schema(), Some(props)).expect("writer");
        w.write(p).expect("write");
        w.close().expect("close");
    }
    let mut o = ParquetOptions::new();
    if rng.chance(0.5) {
        o = o.partitions(1 + rng.below(5) as usize);
    }
    o = o.strings([Strings::Native, Strings::FileEncoding][rng.below(2) as usize]);
    read_parquet(dir, &o).expect("read back")
}

/// The same table in memory or from Parquet files (in the directory
/// returned, removed when it is dropped).
fn frames(rng: &mut Rng, t: &RecordBatch, tag: &str) -> (TmpDir, Vec<(String, DataFrame)>) {
    let dir = TmpDir::new(&format!("q-{tag}"));
    let frames = vec![
        (
            "memory".to_string(),
            DataFrame::from_record_batches(random_split(rng, t)).expect("frame"),
        ),
        ("parquet".to_string(), via_parquet(rng, t, &dir.0)),
    ];
    (dir, frames)
}

fn clients() -> [(&'static str, Client); 2] {
    [("sync", Client::sync()), ("threads", Client::threads())]
}

#[test]
fn random_filters_match_plain() {
    let mut rng = Rng(101);
    let clients = clients();
    let mut cols: Vec<&str> = ORDERED.to_vec();
    cols.push("bin");
    for case in 0..40 {
        let rows = [0usize, 1, 40, 300][rng.below(4) as usize];
        let t = typed_table(&mut rng, rows);
        let plain = common::rows(&t);
        let n = names(&t);
        let pred = random_filter(&mut rng, &n, &plain, &cols);
        let want: Vec<Vec<Cell>> = plain
            .iter()
            .filter(|r| keeps(&pred, &n, r))
            .cloned()
            .collect();
        let (_dir, fs) = frames(&mut rng, &t, &format!("f{case}"));
        for (how, df) in fs {
            let q = df.filter(pred.clone()).expect("filter");
            let (cname, c) = &clients[case % 2];
            let got = q
                .collect(c)
                .unwrap_or_else(|e| panic!("case {case} {how} {pred}: {e}"));
            assert_same_rows(
                &common::rows(&got),
                &want,
                &format!(
                    "case {case} {how} on {cname}: {pred}\n{}",
                    q.explain().expect("explain")
                ),
            );
        }
    }
}

/// A plain group-by: keys to the rows of each group, in first-appearance
/// order.
fn groups(plain: &[Vec<Cell>], key_idx: &[usize]) -> Vec<(Vec<Cell>, Vec<usize>)> {
    let mut order: Vec<(Vec<Cell>, Vec<usize>)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (i, r) in plain.iter().enumerate() {
        let k: Vec<Cell> = key_idx.iter().map(|&j| r[j].clone()).collect();
        let h = format!("{k:?}");
        match at.get(&h) {
            Some(&g) => order[g].1.push(i),
            None => {
                at.insert(h, order.len());
                order.push((k, vec![i]));
            }
        }
    }
    order
}

#[test]
fn random_groupbys_match_plain() {
    let mut rng = Rng(202);
    let clients = clients();
    for case in 0..30 {
        let rows = [0usize, 7, 120, 400][rng.below(4) as usize];
        let t = typed_table(&mut rng, rows);
        let plain = common::rows(&t);
        let n = names(&t);
        let idx = |c: &str| n.iter().position(|x| x == c).expect("column");
        let nk = 1 + rng.below(2) as usize;
        let mut keys: Vec<&str> = Vec::new();
        while keys.len() < nk {
            let k = KEYS[rng.below(KEYS.len() as u64) as usize];
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        // (aggregation, plain function of the group's cells)
        type Plain = Box<dyn Fn(&[Cell]) -> Cell>;
        let mut aggs: Vec<(Agg, &str, Plain)> = Vec::new();
        let nonnull = |v: &[Cell]| {
            v.iter()
                .filter(|c| **c != Cell::Null)
                .cloned()
                .collect::<Vec<_>>()
        };
        for (i, c) in ["i64", "f64", "dec"].iter().enumerate() {
            if rng.chance(0.6) {
                aggs.push((
                    sum(*c).alias(&format!("sum{i}")),
                    c,
                    Box::new(move |v: &[Cell]| {
                        let v = nonnull(v);
                        match v.first() {
                            Some(Cell::Float(_)) | None if *c == "f64" => Cell::Float(
                                v.iter()
                                    .map(|x| match x {
                                        Cell::Float(f) => *f,
                                        _ => 0.0,
                                    })
                                    .sum(),
                            ),
                            _ if *c == "dec" => Cell::Dec(
                                v.iter()
                                    .map(|x| match x {
                                        Cell::Dec(d) => *d,
                                        _ => 0,
                                    })
                                    .sum(),
                            ),
                            _ => Cell::Int(
                                v.iter()
                                    .map(|x| match x {
                                        Cell::Int(d) => *d,
                                        _ => 0,
                                    })
                                    .sum(),
                            ),
                        }
                    }),
                ));
            }
        }
        let m = ORDERED[rng.below(ORDERED.len() as u64) as usize];
        aggs.push((
            min(m).alias("mn"),
            m,
            Box::new(move |v: &[Cell]| {
                nonnull(v)
                    .into_iter()
                    .min_by(|a, b| cmp_cells(a, b).expect("ordered"))
                    .unwrap_or(Cell::Null)
            }),
        ));
        let m2 = ORDERED[rng.below(ORDERED.len() as u64) as usize];
        aggs.push((
            max(m2).alias("mx"),
            m2,
            Box::new(move |v: &[Cell]| {
                nonnull(v)
                    .into_iter()
                    .max_by(|a, b| cmp_cells(a, b).expect("ordered"))
                    .unwrap_or(Cell::Null)
            }),
        ));
        let fl = ["l", "st", "bin", "ts", "sv"][rng.below(5) as usize];
        aggs.push((
            first(fl).alias("fst"),
            fl,
            Box::new(move |v: &[Cell]| nonnull(v).first().cloned().unwrap_or(Cell::Null)),
        ));
        aggs.push((
            last(fl).alias("lst"),
            fl,
            Box::new(move |v: &[Cell]| nonnull(v).last().cloned().unwrap_or(Cell::Null)),
        ));
        aggs.push((
            count("sv").alias("cnt"),
            "sv",
            Box::new(move |v: &[Cell]| Cell::Int(nonnull(v).len() as i64)),
        ));
        aggs.push((
            len().alias("n"),
            "i64",
            Box::new(|v: &[Cell]| Cell::Int(v.len() as i64)),
        ));
        aggs.push((
            mean("i64").alias("avg"),
            "i64",
            Box::new(move |v: &[Cell]| {
                let v = nonnull(v);
                if v.is_empty() {
                    return Cell::Null;
                }
                let s: f64 = v
                    .iter()
                    .map(|x| match x {
                        Cell::Int(d) => *d as f64,
                        _ => 0.0,
                    })
                    .sum();
                Cell::Float(s / v.len() as f64)
            }),
        ));
        let key_idx: Vec<usize> = keys.iter().map(|k| idx(k)).collect();
        let want: Vec<Vec<Cell>> = groups(&plain, &key_idx)
            .into_iter()
            .map(|(k, rows)| {
                let mut out = k;
                for (_, c, f) in &aggs {
                    let vals: Vec<Cell> = rows.iter().map(|&r| plain[r][idx(c)].clone()).collect();
                    out.push(f(&vals));
                }
                out
            })
            .collect();
        let spec: Vec<Agg> = aggs.iter().map(|(a, _, _)| a.clone()).collect();
        let (_dir, fs) = frames(&mut rng, &t, &format!("g{case}"));
        for (how, df) in fs {
            let mut g = df.groupby(&keys);
            if rng.chance(0.3) {
                g = g.split_out(1 + rng.below(3) as usize);
            }
            let q = g.agg(spec.clone()).expect("groupby");
            let (cname, c) = &clients[case % 2];
            let got = q
                .collect(c)
                .unwrap_or_else(|e| panic!("case {case} {how}: {e}"));
            assert_same_rows(
                &sort_rows(common::rows(&got)),
                &sort_rows(want.clone()),
                &format!("case {case} {how} on {cname}: by {keys:?}"),
            );
        }
    }
}

/// A stable plain sort by keys (column index, descending, nulls first).
fn plain_sort(rows: &mut [Vec<Cell>], keys: &[(usize, bool, bool)]) {
    rows.sort_by(|a, b| {
        for &(i, desc, nulls_first) in keys {
            let o = match (&a[i], &b[i]) {
                (Cell::Null, Cell::Null) => Ordering::Equal,
                (Cell::Null, _) => {
                    if nulls_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (_, Cell::Null) => {
                    if nulls_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (x, y) => {
                    let o = cmp_cells(x, y).expect("ordered");
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}

#[test]
fn random_sorts_and_top_k_match_plain() {
    let mut rng = Rng(303);
    let clients = clients();
    for case in 0..16 {
        let rows = [0usize, 5, 90, 200][rng.below(4) as usize];
        let t = typed_table(&mut rng, rows);
        let plain = common::rows(&t);
        let n = names(&t);
        let nk = 1 + rng.below(3) as usize;
        let mut keys: Vec<SortKey> = Vec::new();
        let mut plain_keys = Vec::new();
        while keys.len() < nk {
            let c = ORDERED[rng.below(ORDERED.len() as u64) as usize];
            if keys.iter().any(|k| k.column == c) {
                continue;
            }
            let mut k = if rng.chance(0.5) { asc(c) } else { desc(c) };
            if rng.chance(0.5) {
                k = k.nulls_first();
            }
            plain_keys.push((
                n.iter().position(|x| x == c).expect("col"),
                k.descending,
                k.nulls_first,
            ));
            keys.push(k);
        }
        let mut want = plain.clone();
        plain_sort(&mut want, &plain_keys);
        let k = rng.below(rows as u64 + 3) as usize;
        let (_dir, fs) = frames(&mut rng, &t, &format!("s{case}"));
        for (how, df) in fs {
            let (cname, c) = &clients[case % 2];
            let what = format!("case {case} {how} on {cname}: {keys:?}");
            // Rows in order (ties in input order: the sort is stable).
            let sorted = df.sort(keys.clone()).expect("sort");
            assert_same_rows(
                &common::rows(&sorted.collect(c).expect("sort")),
                &want,
                &what,
            );
            let top = sorted.head(k);
            assert!(
                top.explain().expect("explain").starts_with("TopK"),
                "{what}: head of a sort is a top-k"
            );
            assert_same_rows(
                &common::rows(&top.collect(c).expect("top")),
                &want[..k.min(rows)],
                &what,
            );
            let top2 = df.top_k(keys.clone(), k).expect("top_k");
            assert_same_rows(
                &common::rows(&top2.collect(c).expect("top")),
                &want[..k.min(rows)],
                &what,
            );
        }
    }
}

#[test]
fn random_joins_match_plain() {
    let mut rng = Rng(404);
    let clients = clients();
    // (left key, right key): same or mixed types.
    let pairs: [(&[&str], &[&str]); 6] = [
        (&["i32"], &["i32"]),
        (&["s"], &["sd"]),
        (&["sv"], &["s"]),
        (&["d", "b"], &["d", "b"]),
        (&["i32"], &["i64"]),
        (&["ts", "dec"], &["ts", "dec"]),
    ];
    for case in 0..36 {
        let (nl, nr) = (rng.below(80) as usize, rng.below(50) as usize);
        let lt = typed_table(&mut rng, nl);
        let mut rt = typed_table(&mut rng, nr);
        // Small values in the right's i64 so that they meet the left's i32.
        if case % 6 == 4 {
            let a: rask_dataframe::arrow::array::ArrayRef =
                std::sync::Arc::new(rask_dataframe::arrow::array::Int64Array::from_iter(
                    (0..rt.num_rows()).map(|i| (i % 4 != 3).then_some((i % 5) as i64 - 1)),
                ));
            let mut cols = rt.columns().to_vec();
            cols[1] = a;
            rt = RecordBatch::try_new(rt.schema(), cols).expect("batch");
        }
        let (lon, ron) = pairs[case % 6];
        let how = [
            JoinType::Inner,
            JoinType::Left,
            JoinType::Outer,
            JoinType::Semi,
            JoinType::Anti,
        ][rng.below(5) as usize];
        let (l, r) = (common::rows(&lt), common::rows(&rt));
        let (ln, rn) = (names(&lt), names(&rt));
        let li: Vec<usize> = lon
            .iter()
            .map(|c| ln.iter().position(|x| x == c).expect("l"))
            .collect();
        let ri: Vec<usize> = ron
            .iter()
            .map(|c| rn.iter().position(|x| x == c).expect("r"))
            .collect();
        let key = |row: &Vec<Cell>, idx: &[usize]| {
            idx.iter().map(|&i| row[i].clone()).collect::<Vec<_>>()
        };
        let eq = |a: &[Cell], b: &[Cell]| {
            a.iter().zip(b).all(|(x, y)| {
                *x != Cell::Null && *y != Cell::Null && cmp_cells(x, y) == Some(Ordering::Equal)
            })
        };
        let rest = |row: &Vec<Cell>| {
            row.iter()
                .enumerate()
                .filter(|(i, _)| !ri.contains(i))
                .map(|(_, c)| c.clone())
                .collect::<Vec<_>>()
        };
        let mut want = Vec::new();
        let mut matched = vec![false; r.len()];
        for a in &l {
            let ka = key(a, &li);
            let hits: Vec<usize> = (0..r.len())
                .filter(|&j| eq(&ka, &key(&r[j], &ri)))
                .collect();
            match how {
                JoinType::Semi => {
                    if !hits.is_empty() {
                        want.push(a.clone());
                    }
                }
                JoinType::Anti => {
                    if hits.is_empty() {
                        want.push(a.clone());
                    }
                }
                _ => {
                    for &j in &hits {
                        matched[j] = true;
                        let mut row = a.clone();
                        row.extend(rest(&r[j]));
                        want.push(row);
                    }
                    if hits.is_empty() && how != JoinType::Inner {
                        let mut row = a.clone();
                        row.extend(vec![Cell::Null; rn.len() - ri.len()]);
                        want.push(row);
                    }
                }
            }
        }
        if how == JoinType::Outer {
            for (j, b) in r.iter().enumerate() {
                if !matched[j] {
                    let mut row = vec![Cell::Null; ln.len()];
                    for (&lk, &rk) in li.iter().zip(&ri) {
                        row[lk] = match (&b[rk], lon[0]) {
                            // The left key column keeps the left's type.
                            (Cell::Str(s), _) => Cell::Str(s.clone()),
                            (c, _) => c.clone(),
                        };
                    }
                    row.extend(rest(b));
                    want.push(row);
                }
            }
        }
        let left = DataFrame::from_record_batches(random_split(&mut rng, &lt)).expect("left");
        let right = DataFrame::from_record_batches(random_split(&mut rng, &rt)).expect("right");
        let strategies = [
            rask_dataframe::JoinStrategy::Auto,
            rask_dataframe::JoinStrategy::Shuffle,
            rask_dataframe::JoinStrategy::Broadcast,
        ];
        for s in strategies {
            if s == rask_dataframe::JoinStrategy::Broadcast && how == JoinType::Outer {
                continue;
            }
            let j = left
                .join_by(
                    &right,
                    JoinOptions::left_right(lon, ron)
                        .how(how)
                        .suffix("_r")
                        .strategy(s),
                )
                .expect("join");
            let (cname, c) = &clients[case % 2];
            let what = format!("case {case} {how:?} {s:?} on {cname}: {lon:?} = {ron:?}");
            let got = j.collect(c).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_same_rows(
                &sort_rows(common::rows(&got)),
                &sort_rows(want.clone()),
                &what,
            );
            if !matches!(how, JoinType::Semi | JoinType::Anti) {
                assert!(
                    j.columns().contains(&"i64_r".to_string()) || ron.contains(&"i64"),
                    "{what}: suffix"
                );
            }
        }
    }
}

#[test]
fn window_functions_match_plain() {
    let mut rng = Rng(505);
    let clients = clients();
    for case in 0..16 {
        let rows = [0usize, 9, 150][rng.below(3) as usize];
        let t = typed_table(&mut rng, rows);
        let plain = common::rows(&t);
        let n = names(&t);
        let idx = |c: &str| n.iter().position(|x| x == c).expect("column");
        let by: &[&str] = if case % 4 == 0 { &[] } else { &["s"] };
        let order = vec![asc("d").nulls_first(), desc("i64")];
        let df = DataFrame::from_record_batches(random_split(&mut rng, &t)).expect("frame");
        let w = df
            .window(
                by,
                order.clone(),
                vec![
                    cum_sum("i64", "cs"),
                    row_number("rn"),
                    rank("rk"),
                    dense_rank("drk"),
                    shift("f64", 1, "prev"),
                ],
            )
            .expect("window");
        // Plain: per group in (d asc nulls first, i64 desc, input order).
        let key_idx: Vec<usize> = by.iter().map(|k| idx(k)).collect();
        let mut want: Vec<Vec<Cell>> = Vec::new();
        for (_, members) in groups(&plain, &key_idx) {
            let mut rows: Vec<Vec<Cell>> = members.iter().map(|&i| plain[i].clone()).collect();
            plain_sort(
                &mut rows,
                &[(idx("d"), false, true), (idx("i64"), true, false)],
            );
            let mut acc: Option<i64> = None;
            let (mut rk, mut drk) = (0i64, 0i64);
            for (p, r) in rows.iter().enumerate() {
                let cs = match &r[idx("i64")] {
                    Cell::Int(v) => {
                        acc = Some(acc.unwrap_or(0) + v);
                        Cell::Int(acc.unwrap_or(0))
                    }
                    _ => Cell::Null,
                };
                let new_value = p == 0
                    || rows[p - 1][idx("d")] != r[idx("d")]
                    || rows[p - 1][idx("i64")] != r[idx("i64")];
                if new_value {
                    rk = p as i64 + 1;
                    drk += 1;
                }
                let prev = if p == 0 {
                    Cell::Null
                } else {
                    rows[p - 1][idx("f64")].clone()
                };
                let mut out = r.clone();
                out.extend([
                    cs,
                    Cell::Int(p as i64 + 1),
                    Cell::Int(rk),
                    Cell::Int(drk),
                    prev,
                ]);
                want.push(out);
            }
        }
        let (cname, c) = &clients[case % 2];
        let got = w.collect(c).expect("window");
        assert_same_rows(
            &sort_rows(common::rows(&got)),
            &sort_rows(want),
            &format!("case {case} on {cname} by {by:?}"),
        );
    }
}
