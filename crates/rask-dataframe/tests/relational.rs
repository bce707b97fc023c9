//! Joins, sorting, shuffles, drop_duplicates, repartition and describe
//! against plain computations on random tables, on sync and threads.

mod common;

use std::collections::HashSet;

use common::*;
use rask_client::Client;
use rask_dataframe::arrow::array::RecordBatch;
use rask_dataframe::{DataFrame, JoinStrategy, JoinType};

fn clients() -> [(&'static str, Client); 2] {
    [("sync", Client::sync()), ("threads", Client::threads())]
}

fn frame(rng: &mut Rng, t: &RecordBatch) -> DataFrame {
    DataFrame::from_record_batches(random_split(rng, t)).expect("frame")
}

/// Nested loops: (left row, right row or none), plus right-only rows.
fn plain_join(l: &[Vec<Cell>], r: &[Vec<Cell>], on: &[usize], how: JoinType) -> Vec<Vec<Cell>> {
    let rk = |row: &Vec<Cell>| on.iter().map(|&i| row[i].clone()).collect::<Vec<_>>();
    let rest = |row: &Vec<Cell>| {
        row.iter()
            .enumerate()
            .filter(|(i, _)| !on.contains(i))
            .map(|(_, c)| c.clone())
            .collect::<Vec<_>>()
    };
    let width = r[0].len() - on.len();
    let mut out = Vec::new();
    let mut matched = vec![false; r.len()];
    for a in l {
        let ka = rk(a);
        let mut any = false;
        if !ka.contains(&Cell::Null) {
            for (j, b) in r.iter().enumerate() {
                if rk(b) == ka {
                    any = true;
                    matched[j] = true;
                    let mut row = a.clone();
                    row.extend(rest(b));
                    out.push(row);
                }
            }
        }
        if !any && how != JoinType::Inner {
            let mut row = a.clone();
            row.extend(vec![Cell::Null; width]);
            out.push(row);
        }
    }
    if how == JoinType::Outer {
        for (j, b) in r.iter().enumerate() {
            if !matched[j] {
                let mut row = vec![Cell::Null; l[0].len()];
                for &i in on {
                    row[i] = b[i].clone();
                }
                row.extend(rest(b));
                out.push(row);
            }
        }
    }
    sort_rows(out)
}

#[test]
fn joins_match_nested_loops() {
    let mut rng = Rng(31);
    let clients = clients();
    for case in 0..10 {
        let n = 1 + rng.below(60) as usize;
        let lt = random_table(&mut rng, n);
        let n = 1 + rng.below(40) as usize;
        let rt = random_table(&mut rng, n);
        let (l, r) = (common::rows(&lt), common::rows(&rt));
        let left = frame(&mut rng, &lt);
        let right = frame(&mut rng, &rt);
        let right_one = DataFrame::from_record_batches(vec![rt.clone()]).expect("one");
        let ons: [(&[&str], Vec<usize>); 2] =
            [(&["k_int"], vec![0]), (&["k_str", "k_int"], vec![1, 0])];
        let (on, idx) = &ons[case % 2];
        for how in [JoinType::Inner, JoinType::Left, JoinType::Outer] {
            let want = plain_join(&l, &r, idx, how);
            let mut plans = vec![
                (
                    "shuffle",
                    left.join_with(&right, on, how, JoinStrategy::Shuffle),
                ),
                ("auto", left.join(&right_one, on, how)),
            ];
            if how != JoinType::Outer {
                plans.push((
                    "broadcast",
                    left.join_with(&right, on, how, JoinStrategy::Broadcast),
                ));
            }
            for (plan, j) in plans {
                let j = j.expect("valid join");
                assert_eq!(j.schema().fields().len(), 5 + 5 - on.len());
                for (name, c) in &clients {
                    let got = sort_rows(common::rows(&j.collect(c).expect("join")));
                    assert_same_rows(
                        &got,
                        &want,
                        &format!("case {case} {how:?} {plan} on {name}"),
                    );
                }
            }
        }
    }
    let mut rng = Rng(2);
    let t = random_table(&mut rng, 5);
    let a = frame(&mut rng, &t);
    let e = a
        .join(&a, &["nope"], JoinType::Inner)
        .expect_err("unknown key");
    assert!(e.to_string().contains("`nope`"));
    let b = a.select(vec![rask_dataframe::col("k_int")
        .cast(rask_dataframe::DType::Utf8)
        .alias("k_int")]);
    let e = a
        .join(&b.expect("select"), &["k_int"], JoinType::Inner)
        .expect_err("types");
    assert!(e.to_string().contains("`k_int`"));
    assert_eq!(
        a.join(&a, &["k_int"], JoinType::Inner)
            .expect("self join")
            .columns()[5],
        "k_str_right"
    );
}

#[test]
fn sort_values_shuffle_dedupe_repartition_describe_match_plain() {
    let mut rng = Rng(41);
    let clients = clients();
    for case in 0..10 {
        let n = [0, 1, 30, 250][rng.below(4) as usize];
        let t = random_table(&mut rng, n);
        let df = frame(&mut rng, &t);
        let plain = common::rows(&t);
        let asc = case % 2 == 0;
        let sorted = df.sort_values(&["k_str", "v_f"], asc).expect("sort");
        let shuffled = df.shuffle(&["k_str"], 3).expect("shuffle");
        let dd = df
            .drop_duplicates(Some(&["k_int", "k_str"]))
            .expect("dedupe");
        let dd_all = df.drop_duplicates(None).expect("dedupe all");
        let rp = df.repartition(3);
        let desc = df.describe().expect("describe");
        // Plain: first row of each (k_int, k_str); all distinct rows.
        let mut seen = HashSet::new();
        let want_dd: Vec<Vec<Cell>> = plain
            .iter()
            .filter(|r| seen.insert(format!("{:?}{:?}", r[0], r[1])))
            .cloned()
            .collect();
        let mut seen = HashSet::new();
        let want_all: Vec<Vec<Cell>> = plain
            .iter()
            .filter(|r| seen.insert(format!("{r:?}")))
            .cloned()
            .collect();
        for (name, c) in &clients {
            let what = format!("case {case} on {name}");
            let got = common::rows(&sorted.collect(c).expect("sort"));
            assert_same_rows(&sort_rows(got.clone()), &sort_rows(plain.clone()), &what);
            for w in got.windows(2) {
                let key = |r: &Vec<Cell>| (r[1].clone(), r[3].clone());
                let (a, b) = (key(&w[0]), key(&w[1]));
                // Nulls last in both directions.
                let ord = |x: &Cell, y: &Cell| match (x, y) {
                    (Cell::Null, Cell::Null) => std::cmp::Ordering::Equal,
                    (Cell::Null, _) => std::cmp::Ordering::Greater,
                    (_, Cell::Null) => std::cmp::Ordering::Less,
                    _ if asc => x.partial_cmp(y).expect("ordered"),
                    _ => y.partial_cmp(x).expect("ordered"),
                };
                let o = ord(&a.0, &b.0).then_with(|| ord(&a.1, &b.1));
                assert!(
                    o != std::cmp::Ordering::Greater,
                    "{what}: {a:?} before {b:?}"
                );
            }
            // Shuffle: same rows; each key in one partition.
            let parts: Vec<RecordBatch> = shuffled
                .partitions()
                .expect("plan")
                .iter()
                .map(|p| p.compute(c).expect("part").0)
                .collect();
            let mut owner = std::collections::HashMap::new();
            for (i, p) in parts.iter().enumerate() {
                for r in common::rows(p) {
                    assert_eq!(
                        *owner.entry(format!("{:?}", r[1])).or_insert(i),
                        i,
                        "{what}"
                    );
                }
            }
            let all = common::rows(&shuffled.collect(c).expect("shuffle"));
            assert_same_rows(&sort_rows(all), &sort_rows(plain.clone()), &what);
            let got = common::rows(&dd.collect(c).expect("dd"));
            assert_same_rows(&sort_rows(got), &sort_rows(want_dd.clone()), &what);
            let got = common::rows(&dd_all.collect(c).expect("dd all"));
            assert_same_rows(&sort_rows(got), &sort_rows(want_all.clone()), &what);
            assert_eq!(rp.npartitions(), 3);
            assert_same_rows(&common::rows(&rp.collect(c).expect("rp")), &plain, &what);
            let d = common::rows(&desc.collect(c).expect("describe"));
            let vals: Vec<f64> = plain
                .iter()
                .filter_map(|r| match r[3] {
                    Cell::Float(x) => Some(x),
                    _ => None,
                })
                .collect();
            let n = vals.len() as f64;
            assert_eq!(d[0][3], Cell::Float(n), "{what}: count of v_f");
            if n > 0.0 {
                let mean = vals.iter().sum::<f64>() / n;
                assert!(close(&d[1][3], &Cell::Float(mean)), "{what}: mean");
                let mn = vals.iter().cloned().fold(f64::INFINITY, f64::min);
                assert_eq!(d[3][3], Cell::Float(mn), "{what}: min");
            }
        }
    }
}
