//! The optimizer, seen through `explain` and checked against answers
//! computed without it: filters and columns reach the scan, cross joins
//! and group-bys only where that keeps the answer, unread columns are not
//! computed, and a file read twice (or a sub-plan used twice) is read and
//! computed once.

mod common;

use common::*;
use rask_client::Client;
use rask_dataframe::{col, len, lit, mean, read_parquet, sum, DataFrame, JoinType, ParquetOptions};

fn file(rows: usize, name: &str) -> (TmpDir, Vec<Vec<Cell>>) {
    let mut rng = Rng(42);
    let t = random_table(&mut rng, rows);
    let dir = TmpDir::new(&format!("p-{name}"));
    DataFrame::from_record_batches(random_split(&mut rng, &t))
        .expect("frame")
        .to_parquet(&dir.0)
        .expect("plan")
        .compute(&Client::sync())
        .expect("write");
    (dir, common::rows(&t))
}

#[test]
fn filters_and_columns_reach_the_scan() {
    let (dir, _) = file(300, "push");
    let df = read_parquet(&dir.0, &ParquetOptions::new()).expect("read");
    let q = df
        .with_column("w", col("v_f") * lit(2.0))
        .expect("with")
        .filter(col("k_int").gt(lit(1)).and(col("w").gt(lit(0.0))))
        .expect("filter")
        .groupby(&["k_str"])
        .agg(vec![sum("v_int"), mean("w"), len()])
        .expect("agg")
        .select(vec![col("k_str"), col("v_int")])
        .expect("select");
    let plan = q.explain().expect("explain");
    // The scan reads three columns; `k_int > 1` is in the scan, the term on
    // the computed `w` stays above the select that computes it.
    assert!(
        plan.contains("columns [k_int, k_str, v_int, v_f] filter (col(\"k_int\") > 1)")
            || plan.contains("columns [k_str, v_int, v_f] filter (col(\"k_int\") > 1)"),
        "{plan}"
    );
    assert!(plan.contains("Filter (col(\"w\") > 0.0)"), "{plan}");
    // Unread aggregations are dropped.
    assert!(!plan.contains("mean"), "{plan}");
    assert!(!plan.contains("len()"), "{plan}");
    let before = q.explain_unoptimized();
    assert!(before.contains("mean"), "{before}");
    // Pushed below a group-by only on its keys.
    let g = df.groupby(&["k_str"]).agg(vec![sum("v_int")]).expect("agg");
    let on_key = g
        .filter(col("k_str").eq(lit("k1")))
        .expect("f")
        .explain()
        .expect("e");
    assert!(on_key.starts_with("Aggregate"), "{on_key}");
    let on_value = g
        .filter(col("v_int").gt(lit(0)))
        .expect("f")
        .explain()
        .expect("e");
    assert!(on_value.starts_with("Filter"), "{on_value}");
}

#[test]
fn filters_cross_joins_only_where_the_answer_stays() {
    let (dir, _) = file(200, "join");
    let c = Client::threads();
    let df = read_parquet(&dir.0, &ParquetOptions::new()).expect("read");
    let right = df
        .select(vec![col("k_int"), col("s"), col("v_f")])
        .expect("select");
    for how in [JoinType::Inner, JoinType::Left, JoinType::Outer] {
        let j = df.join(&right, &["k_int"], how).expect("join");
        let q = j
            .filter(col("v_int").gt(lit(0)).and(col("s_right").eq(lit("apple"))))
            .expect("filter");
        let plan = q.explain().expect("explain");
        let lines: Vec<&str> = plan.lines().collect();
        let top_filter = lines[0].starts_with("Filter");
        match how {
            // Both terms move to their sides.
            JoinType::Inner => assert!(!top_filter, "{plan}"),
            // The right term stays above a left join, the left one moves.
            JoinType::Left => assert!(
                top_filter && lines[0].contains("s_right") && !lines[0].contains("v_int"),
                "{plan}"
            ),
            // Nothing crosses an outer join.
            _ => assert!(top_filter && lines[0].contains("v_int"), "{plan}"),
        }
        // The same rows as filtering after the join in memory.
        let mem_l = DataFrame::from_record_batches(vec![df.collect(&c).expect("l")]).expect("m");
        let mem_r = DataFrame::from_record_batches(vec![right.collect(&c).expect("r")]).expect("m");
        let joined = mem_l
            .join(&mem_r, &["k_int"], how)
            .expect("join")
            .collect(&c)
            .expect("j");
        let n = joined.schema().index_of("v_int").expect("v_int");
        let s = joined.schema().index_of("s_right").expect("s_right");
        let want: Vec<Vec<Cell>> = common::rows(&joined)
            .into_iter()
            .filter(|r| matches!(r[n], Cell::Int(v) if v > 0) && r[s] == Cell::Str("apple".into()))
            .collect();
        let got = q.collect(&c).expect("collect");
        assert_same_rows(
            &sort_rows(common::rows(&got)),
            &sort_rows(want),
            &format!("{how:?}"),
        );
    }
}

#[test]
fn a_file_read_twice_is_read_once() {
    let (dir, plain) = file(400, "shared");
    let c = Client::threads();
    let x = || read_parquet(&dir.0, &ParquetOptions::new()).expect("read");
    let mv = x()
        .groupby(&["k_str"])
        .agg(vec![mean("v_f").alias("mv")])
        .expect("agg");
    let q = x()
        .join(&mv, &["k_str"], JoinType::Inner)
        .expect("join")
        .filter(col("v_f").gt(col("mv")))
        .expect("filter")
        .groupby(&["k_int"])
        .agg(vec![len().alias("n")])
        .expect("agg");
    let plan = q.explain().expect("explain");
    assert_eq!(plan.matches("Scan parquet").count(), 1, "{plan}");
    assert!(plan.contains("(shared, computed once)"), "{plan}");
    // The answer, plainly: mean of v_f per k_str (nulls out), rows above it.
    let mut sums: std::collections::HashMap<String, (f64, f64)> = Default::default();
    for r in &plain {
        if let Cell::Float(v) = r[3] {
            let e = sums.entry(format!("{:?}", r[1])).or_default();
            e.0 += v;
            e.1 += 1.0;
        }
    }
    let mut counts: std::collections::HashMap<String, i64> = Default::default();
    for r in &plain {
        let key = format!("{:?}", r[1]);
        if r[1] == Cell::Null {
            continue;
        }
        if let (Cell::Float(v), Some((s, n))) = (&r[3], sums.get(&key)) {
            if *n > 0.0 && *v > s / n {
                *counts.entry(format!("{:?}", r[0])).or_default() += 1;
            }
        }
    }
    let got = q.collect(&c).expect("collect");
    let mut got_counts: std::collections::HashMap<String, i64> = Default::default();
    for r in common::rows(&got) {
        if let Cell::Int(n) = r[1] {
            got_counts.insert(format!("{:?}", r[0]), n);
        }
    }
    assert_eq!(got_counts, counts);
    // The same sub-plan built twice is one node.
    let f = x().filter(col("v_int").gt(lit(3))).expect("f");
    let g = x().filter(col("v_int").gt(lit(3))).expect("f");
    let both = f
        .join(
            &g.select(vec![col("k_int"), col("v_f")]).expect("s"),
            &["k_int"],
            JoinType::Semi,
        )
        .expect("join");
    let plan = both.explain().expect("explain");
    assert_eq!(plan.matches("Scan parquet").count(), 1, "{plan}");
}

#[test]
fn partition_counts_do_not_depend_on_the_optimizer() {
    let (dir, _) = file(500, "parts");
    let df = read_parquet(&dir.0, &ParquetOptions::new().partitions(5)).expect("read");
    let q = df.filter(col("v_int").gt(lit(1_000))).expect("filter");
    assert_eq!(q.npartitions(), 5);
    assert_eq!(q.partitions().expect("lower").len(), 5);
    assert_eq!(q.count_rows(&Client::sync()).expect("count"), 0);
}
