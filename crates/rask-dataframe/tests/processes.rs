//! Dataframes on worker processes: every operation is a registered task,
//! so the same graphs run in child processes of this binary (its `main`
//! calls `rask_distributed::init()` first; no libtest harness) and give the
//! sync executor's answers. Partitions cross as Arrow IPC bytes.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use common::*;
use rask_client::Client;
use rask_dataframe::arrow::datatypes::{DataType, Field, Schema};
use rask_dataframe::{col, lit, mean, sum, DataFrame, JoinStrategy, JoinType, Partition};

/// A user's per-partition function, registered so workers can run it.
#[rask_macros::task(crate = rask_core)]
fn doubled(p: Partition) -> rask_dataframe::Result<Partition> {
    rask_dataframe::tasks::select(p, vec![col("k_int"), (col("v_int") * 2).alias("v2")])
}

fn operations_match_sync_on_processes() {
    let procs = Client::processes(2);
    let sync = Client::sync();
    let mut rng = Rng(77);
    for _ in 0..3 {
        let t = random_table(&mut rng, 200);
        let df = DataFrame::from_record_batches(random_split(&mut rng, &t)).expect("frame");
        let right = DataFrame::from_record_batches(random_split(&mut rng, &t)).expect("frame");
        let frames = vec![
            df.filter(col("v_int").gt(lit(0))).expect("filter"),
            df.with_column("w", col("v_f") * 2.0).expect("with_column"),
            df.groupby(&["k_str"])
                .split_out(2)
                .agg(vec![sum("v_int"), mean("v_f")])
                .expect("groupby"),
            df.join_with(&right, &["k_int"], JoinType::Outer, JoinStrategy::Shuffle)
                .expect("join"),
            df.sort_values(&["v_f"], true).expect("sort"),
            df.drop_duplicates(Some(&["k_int"])).expect("dedupe"),
            df.describe().expect("describe"),
            df.head(5),
            df.map_partitions(|p| doubled::delayed(p), mapped_schema())
                .expect("map_partitions"),
        ];
        for f in &frames {
            let a = sort_rows(common::rows(&f.collect(&procs).expect("on processes")));
            let b = sort_rows(common::rows(&f.collect(&sync).expect("on sync")));
            assert_same_rows(&a, &b, "processes vs sync");
        }
        assert_eq!(df.count_rows(&procs).expect("len"), 200);
    }
    // Scans with pushed filters, CSV ranges after the quote-parity pass,
    // a join on mixed-type keys with the run-time broadcast, a top-k and a
    // window: every new task crosses the process boundary.
    let dir = TmpDir::new("procs");
    let t = random_table(&mut rng, 300);
    let df = DataFrame::from_record_batches(random_split(&mut rng, &t)).expect("frame");
    df.to_parquet(&format!("{}/pq", dir.0))
        .expect("plan")
        .compute(&sync)
        .expect("write");
    df.to_csv(&format!("{}/csv", dir.0))
        .expect("plan")
        .compute(&sync)
        .expect("write");
    let pq =
        rask_dataframe::read_parquet(&format!("{}/pq", dir.0), &Default::default()).expect("read");
    let csv = rask_dataframe::read_csv(
        &format!("{}/csv", dir.0),
        &rask_dataframe::CsvOptions::new().block_size(97),
    )
    .expect("read csv");
    let small = pq
        .groupby(&["k_str"])
        .agg(vec![mean("v_f").alias("m")])
        .expect("agg");
    let frames = vec![
        pq.filter(col("v_int").gt(lit(0)))
            .expect("f")
            .select(vec![col("k_int"), col("s")])
            .expect("s"),
        csv.filter(col("v_int").lt(lit(0))).expect("f"),
        pq.join(&small, &["k_str"], JoinType::Inner).expect("join"),
        pq.sort(vec![
            rask_dataframe::desc("v_f"),
            rask_dataframe::asc("k_int"),
        ])
        .expect("sort")
        .head(7),
        pq.window(
            &["k_str"],
            vec![rask_dataframe::asc("v_int")],
            vec![rask_dataframe::cum_sum("v_int", "cs")],
        )
        .expect("window"),
    ];
    for f in &frames {
        let a = sort_rows(common::rows(&f.collect(&procs).expect("on processes")));
        let b = sort_rows(common::rows(&f.collect(&sync).expect("on sync")));
        assert_same_rows(&a, &b, "scans on processes vs sync");
    }
}

fn mapped_schema() -> std::sync::Arc<Schema> {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("k_int", DataType::Int64, true),
        Field::new("v2", DataType::Int64, true),
    ]))
}

fn main() {
    rask_distributed::init();
    let checks: &[(&str, fn())] = &[(
        "operations_match_sync_on_processes",
        operations_match_sync_on_processes,
    )];
    let mut failed = 0;
    for (name, check) in checks {
        let t0 = Instant::now();
        let ok = catch_unwind(AssertUnwindSafe(check)).is_ok();
        println!(
            "test {name} ... {} ({:.2?})",
            if ok { "ok" } else { "FAILED" },
            t0.elapsed()
        );
        failed += usize::from(!ok);
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        checks.len() - failed
    );
    std::process::exit(i32::from(failed > 0));
}
