//! `rask-bench`: the project side of the benchmark suite
//! (`bench/README.md`; `scripts/bench` runs it beside the references).
//! Prints one JSON object on the last line of stdout and exits non-zero if
//! its own result check fails.

mod alloc;
mod baseline;
mod p1;
mod w1;
mod w10;
mod w11;
mod w12;
mod w2;
mod w2cache;
mod w3;
mod w4;
mod w6;
mod w7;
mod w8;
mod w9;

/// mimalloc or glibc's (`alloc.rs`), keeping a few freed big blocks for
/// reuse (`rask::Recycle`: a worker's chunks are made and dropped again and
/// again, and fresh pages cost a fault and a zeroing each).
#[global_allocator]
static GLOBAL: rask::Recycle<alloc::Switch> = rask::Recycle::new(alloc::Switch);

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "rask-bench", about = "Rask's side of the benchmark suite")]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExecutorKind {
    Sync,
    Threads,
    Baseline,
}

#[derive(Subcommand)]
enum Workload {
    /// Scheduling overhead in-process: N `inc` tasks and a pairwise tree of `add`s.
    #[command(name = "W1", alias = "w1")]
    W1 {
        /// Number of leaves (2N-1 tasks).
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Which executor runs the graph.
        #[arg(long, value_enum, default_value_t = ExecutorKind::Threads)]
        executor: ExecutorKind,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Timed repetitions; the median is reported (default 5; 40 with
        /// `--record`, whose ratio of two 16 ms runs needs more).
        #[arg(long)]
        repeat: Option<usize>,
        /// Attach a subscriber that counts every event (measures the event stream's cost).
        #[arg(long)]
        events: bool,
        /// Skip the hand-written baseline that `--executor threads` also runs.
        #[arg(long)]
        no_baseline: bool,
        /// Run with and without a task-stream recorder (alternating, same
        /// pool) and report both and their ratio.
        #[arg(long)]
        record: bool,
        /// Give every task a key of its own (`inc[i]`, `add[k]`), as Dask's
        /// graphs have (sync and threads).
        #[arg(long)]
        keyed: bool,
    },
    /// Chunked arrays: `(x + x.T).mean(axis=0).sum()` of a seeded N x N matrix.
    #[command(name = "W2", alias = "w2")]
    W2 {
        /// The matrix is N x N.
        #[arg(long, default_value_t = 20_000)]
        n: usize,
        /// Chunks are C x C.
        #[arg(long, default_value_t = 2_000)]
        chunk: usize,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Also run the same workload from Python (`python/bench/w2.py`,
        /// through the project's Python package) and report both.
        #[arg(long)]
        python: bool,
        /// Instead: a session of three computations over `x + x.T` (W2's,
        /// a follow-up sharing its intermediates, W2's again), without and
        /// with a result cache of this many MiB, alternating; reports the
        /// ratios off / on (`w2cache.rs`).
        #[arg(long)]
        cache_mib: Option<u64>,
        /// Sessions of each kind with `--cache-mib`; medians are reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Concurrent I/O-bound tasks: N async tasks awaiting a 20 ms timer, gathered.
    #[command(name = "W3", alias = "w3")]
    W3 {
        /// Number of tasks.
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Threads of the client's async runtime.
        #[arg(long, default_value_t = 1)]
        async_threads: usize,
        /// `baseline`: the same tasks spawned on a bare tokio runtime, with no
        /// client, cells or keys (the floor). Any other value runs the client.
        #[arg(long, value_enum, default_value_t = ExecutorKind::Threads)]
        executor: ExecutorKind,
        /// Skip the baseline that the client run also measures (in a child
        /// process, so that both start from a fresh heap).
        #[arg(long)]
        no_baseline: bool,
    },
    /// Dataframe group-by: the db-benchmark questions on a Parquet file.
    #[command(name = "W4", alias = "w4")]
    W4 {
        /// The Parquet file of `bench/refs/gen_groupby.py`.
        #[arg(long)]
        file: String,
        /// Partitions to read it into.
        #[arg(long, default_value_t = 8)]
        partitions: usize,
        /// Skip the plain single-threaded recomputation of every answer.
        #[arg(long)]
        no_check: bool,
        /// Also run the same questions from Python (`python/bench/w4.py`,
        /// through the project's Python package) and report both.
        #[arg(long)]
        python: bool,
    },
    /// Dataframe questions from the Parquet file to the answer.
    #[command(name = "W12", alias = "w12")]
    W12 {
        /// The Parquet file of `bench/refs/gen_groupby.py`.
        #[arg(long)]
        file: String,
        /// Partitions to read it into.
        #[arg(long, default_value_t = 8)]
        partitions: usize,
        /// Skip the plain single-threaded recomputation of every answer.
        #[arg(long)]
        no_check: bool,
        /// Add each question's optimized plan to the JSON.
        #[arg(long)]
        explain: bool,
    },
    /// W1 on the distributed runtime: a scheduler and worker processes over TCP.
    #[command(name = "W6", alias = "w6")]
    W6 {
        /// Number of leaves (2N-1 tasks).
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Worker processes (one compute thread each).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Timed repetitions; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// The scheduler core alone, with zero-cost workers (tasks per second).
        #[arg(long)]
        scheduler_only: bool,
    },
    /// W1 from Python: the same graph of Python `inc`/`add` through the Python package.
    #[command(name = "P1", alias = "p1")]
    P1 {
        /// Number of leaves (2N-1 tasks).
        #[arg(long, default_value_t = 20_000)]
        n: u64,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Timed repetitions; the median is reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// W1 on worker processes: every task runs in a worker, results over IPC.
    #[command(name = "W7", alias = "w7")]
    W7 {
        /// Number of leaves (2N-1 tasks).
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Worker processes.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Timed repetitions; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// A big value between processes: on `processes`, from a worker to the
    /// client and into another worker task (W8); on `cluster`, from one
    /// worker to another over loopback TCP (W8c).
    #[command(name = "W8", alias = "w8")]
    W8 {
        /// `processes` (W8) or `cluster` (W8c).
        #[arg(long, default_value = "processes")]
        executor: String,
        /// Size of the vector, in MiB (default: 256 for W8, 1024 for W8c).
        #[arg(long)]
        mib: Option<u64>,
        /// Timed repetitions; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Out-of-core: an N x N array persisted on 2 workers limited to L MiB
    /// each (it must spill), then `(x + x.T).sum()`.
    #[command(name = "W9", alias = "w9")]
    W9 {
        /// Rows and columns.
        #[arg(long, default_value_t = 24_000)]
        n: usize,
        /// Chunk rows and columns.
        #[arg(long, default_value_t = 2_000)]
        chunk: usize,
        /// Each worker's memory limit, in MiB.
        #[arg(long, default_value_t = 1024)]
        limit_mib: u64,
    },
    /// Coordination across workers: T tasks x K critical sections on one cluster-wide lock.
    #[command(name = "W10", alias = "w10")]
    W10 {
        /// Tasks.
        #[arg(long, default_value_t = 40)]
        tasks: u64,
        /// Critical sections per task.
        #[arg(long, default_value_t = 50)]
        sections: u64,
        /// Timed repetitions after the first; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// A DAG of shell commands (G groups of M leaves), run by `rask run`'s code, cold then up to date.
    #[command(name = "W11", alias = "w11")]
    W11 {
        /// Groups.
        #[arg(long, default_value_t = 100)]
        groups: u32,
        /// Leaf jobs per group.
        #[arg(long, default_value_t = 100)]
        leaves: u32,
        /// Jobs at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
}

fn main() -> anyhow::Result<()> {
    // In a worker process this serves tasks and never returns.
    rask::init();
    let cli = Cli::parse();
    let report = match cli.workload {
        Workload::W1 {
            n,
            executor,
            threads,
            repeat,
            events,
            no_baseline,
            record,
            keyed,
        } => w1::run(&w1::Options {
            n,
            executor,
            threads,
            repeat: repeat.unwrap_or(if record { 40 } else { 5 }).max(1),
            events,
            baseline: !no_baseline,
            record,
            keyed,
        })?,
        Workload::W3 {
            n,
            async_threads,
            executor,
            no_baseline,
        } => {
            if executor == ExecutorKind::Baseline {
                w3::baseline(n, async_threads)?
            } else {
                w3::run(n, async_threads, !no_baseline)?
            }
        }
        Workload::W4 {
            file,
            partitions,
            no_check,
            python,
        } => {
            let rust = || w4::run(&file, partitions.max(1), !no_check);
            if python {
                let args = [
                    "--file".to_owned(),
                    file.clone(),
                    "--partitions".to_owned(),
                    partitions.to_string(),
                ];
                p1::beside_python("w4.py", &args, Some("answers"), rust)?
            } else {
                rust()?
            }
        }
        Workload::W12 {
            file,
            partitions,
            no_check,
            explain,
        } => w12::run(&file, partitions.max(1), !no_check, explain)?,
        Workload::W2 {
            n,
            chunk,
            threads,
            python,
            cache_mib,
            repeat,
        } => {
            let rust = || w2::run(n, chunk.max(1), threads);
            if let Some(mib) = cache_mib {
                w2cache::run(n, chunk.max(1), threads, mib, repeat)?
            } else if python {
                let mut args = vec![
                    "--n".to_owned(),
                    n.to_string(),
                    "--chunk".to_owned(),
                    chunk.to_string(),
                ];
                if let Some(t) = threads {
                    args.extend(["--threads".to_owned(), t.to_string()]);
                }
                p1::beside_python("w2.py", &args, None, rust)?
            } else {
                rust()?
            }
        }
        Workload::W6 {
            n,
            workers,
            repeat,
            scheduler_only,
        } => {
            if scheduler_only {
                w6::run_scheduler_only(n, workers.max(1), repeat.max(1))?
            } else {
                w6::run(n, workers.max(1), repeat.max(1))?
            }
        }
        Workload::W7 { n, workers, repeat } => w7::run(n, workers, repeat.max(1))?,
        Workload::W10 {
            tasks,
            sections,
            repeat,
        } => w10::run(tasks.max(1), sections.max(1), repeat.max(1))?,
        Workload::W8 {
            executor,
            mib,
            repeat,
        } => match executor.as_str() {
            "processes" => w8::run(mib.unwrap_or(256), repeat.max(1))?,
            "cluster" => w8::run_cluster(mib.unwrap_or(1024), repeat.max(1))?,
            other => anyhow::bail!("W8 runs on `processes` or `cluster`, not `{other}`"),
        },
        Workload::W9 {
            n,
            chunk,
            limit_mib,
        } => w9::run(n, chunk.max(1), limit_mib.max(1))?,
        Workload::W11 {
            groups,
            leaves,
            jobs,
        } => w11::run(groups.max(1), leaves.max(1), jobs.max(1))?,
        Workload::P1 { n, threads, repeat } => p1::run(n, threads, repeat.max(1))?,
    };
    println!("{report}");
    Ok(())
}

/// Peak resident set size of this process, in MiB (from /proc; 0 elsewhere).
pub(crate) fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}

/// The median of some durations, in seconds.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Rounds for JSON output.
pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// A numeric column as `f64`s (null as `None`), for answer checksums.
pub(crate) fn f64_col(
    a: &rask::dataframe::arrow::array::ArrayRef,
) -> anyhow::Result<Vec<Option<f64>>> {
    use rask::dataframe::arrow::array::{Array, AsArray};
    use rask::dataframe::arrow::datatypes::{DataType, Float64Type};
    let c = rask::dataframe::arrow::compute::cast(a, &DataType::Float64)?;
    let c = c.as_primitive::<Float64Type>();
    Ok((0..c.len())
        .map(|i| c.is_valid(i).then(|| c.value(i)))
        .collect())
}
