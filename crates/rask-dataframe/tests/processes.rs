//! Dataframes on worker processes: every operation is a registered task,
//! so the same graphs run in child processes of this binary (its `main`
//! calls `rask_process::init()` first; no libtest harness) and give the
//! sync executor's answers. Partitions cross as Arrow IPC bytes.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use common::*;
use rask_client::Client;
use rask_dataframe::arrow::datatypes::{DataType, Field, Schema};
use rask_dataframe::{col, lit, mean, sum, DataFrame, JoinStrategy, JoinType, Partition};

/// A user's per-partition function, registered so workers can run it.
#[rask_macros::task(crate = rask_client)]
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
}

fn mapped_schema() -> std::sync::Arc<Schema> {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("k_int", DataType::Int64, true),
        Field::new("v2", DataType::Int64, true),
    ]))
}

fn main() {
    rask_process::init();
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
