//! `rask demo`: a small real pipeline on any executor.
//!
//! Three stages, each one computed graph with the progress display:
//! 1. a dataframe: CSV files of sales written to a temporary directory, read
//!    as partitions, filtered and grouped by city;
//! 2. an array: `(x + x.T).mean(0).sum()` of a seeded random matrix in
//!    chunks (the answer is near the matrix's side: each mean is near 1);
//! 3. a graph of functions: a Monte Carlo estimate of pi (`sample` tasks and
//!    a pairwise tree of `merge` tasks), with one `fetch` task that fails its
//!    first attempt (a simulated transient error) and is retried.
//!
//! Every task is a registered function (`#[rask::task]`, here or in
//! `rask-dataframe` / `rask-array`), so the same pipeline runs on `sync`,
//! `threads`, worker `processes` and a local `cluster`. Each stage checks
//! its answer; a summary ends the run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use rask::array::{self as ra, Axes};
use rask::dataframe::{self as df, asc, col, len, lit, mean, sum, CsvOptions};
use rask::prelude::*;
use rask::RunStats;

/// Where the demo runs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExecutorKind {
    /// The calling thread, one task at a time.
    Sync,
    /// A work-stealing thread pool.
    Threads,
    /// Worker processes on this machine.
    Processes,
    /// A scheduler and workers over loopback TCP.
    Cluster,
}

impl ExecutorKind {
    fn name(self) -> &'static str {
        match self {
            ExecutorKind::Sync => "sync",
            ExecutorKind::Threads => "threads",
            ExecutorKind::Processes => "processes",
            ExecutorKind::Cluster => "a local cluster",
        }
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Where to run the pipeline.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Threads)]
    executor: ExecutorKind,
    /// Threads (threads) or worker processes (processes, cluster); default:
    /// one per core (at least 2 workers).
    #[arg(long)]
    pub(crate) workers: Option<usize>,
    /// A smaller pipeline (for tests).
    #[arg(long, hide = true)]
    quick: bool,
    /// Run only the Monte Carlo estimate of pi, as one graph of keyed
    /// closures on the thread pool, then a graph of 200,000 no-op tasks that
    /// measures the scheduling overhead.
    #[arg(long)]
    pub(crate) pi: bool,
    /// With `--pi`: sampling tasks.
    #[arg(long, default_value_t = 4096, requires = "pi")]
    pub(crate) chunks: u64,
    /// With `--pi`: points per sampling task.
    #[arg(long, default_value_t = 250_000, requires = "pi")]
    pub(crate) samples: u64,
    /// Hide the progress display.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Record the run and write the performance report (one HTML file) here.
    #[arg(long, value_name = "PATH")]
    pub(crate) report: Option<PathBuf>,
    /// Record the run and write a Chrome / Perfetto trace (JSON) here.
    #[arg(long, value_name = "PATH")]
    pub(crate) trace: Option<PathBuf>,
    /// Draw the last stage's graph, coloured by state: DOT (`.dot`) or SVG.
    #[arg(long, value_name = "PATH")]
    pub(crate) graph: Option<PathBuf>,
    /// Serve the live dashboard here while the demo runs (`127.0.0.1:8787`).
    #[arg(long, value_name = "ADDR")]
    pub(crate) dashboard: Option<String>,
    /// With `--dashboard`: keep serving this many seconds after the run.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub(crate) linger: u64,
}

/// Counts points of a seeded xorshift stream inside the unit circle:
/// (inside, total).
#[rask::task]
fn sample(chunk: u64, samples: u64) -> (u64, u64) {
    let mut s = chunk.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let inside = (0..samples)
        .filter(|_| {
            let (x, y) = (next(), next());
            x * x + y * y <= 1.0
        })
        .count() as u64;
    (inside, samples)
}

#[rask::task]
fn merge(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    (a.0 + b.0, a.1 + b.1)
}

/// Stands for a call to a flaky service: its first attempt fails, a retry
/// succeeds. Returns the attempt that succeeded.
#[rask::task]
fn fetch(id: u64) -> Result<u64, String> {
    let attempt = rask::task_context().map_or(1, |c| c.attempt);
    if attempt == 1 {
        return Err(format!("service {id} timed out (simulated)"));
    }
    Ok(u64::from(attempt))
}

/// Pairwise tree of `merge` tasks; an odd element is carried up.
fn tree(mut xs: Vec<Delayed<(u64, u64)>>) -> Option<Delayed<(u64, u64)>> {
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => merge::delayed(a, b),
                None => a,
            });
        }
        xs = next;
    }
    xs.pop()
}

/// The client for `--executor`, and how many workers it has.
fn client(args: &Args) -> anyhow::Result<(Client, usize)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = args.workers.unwrap_or(cores).max(1);
    Ok(match args.executor {
        ExecutorKind::Sync => (Client::sync(), 1),
        ExecutorKind::Threads => (
            Client::try_threads(n).context("starting the thread pool")?,
            n,
        ),
        ExecutorKind::Processes => {
            let n = args.workers.unwrap_or(cores.max(2));
            let opts = rask::LocalOptions::new(n, 1, rask::Transport::Local);
            (
                Client::try_processes(opts).context("starting the worker processes")?,
                n,
            )
        }
        ExecutorKind::Cluster => {
            let n = args.workers.unwrap_or(cores.max(2));
            (
                Client::local_cluster(n, 1).context("starting the local cluster")?,
                n,
            )
        }
    })
}

/// What a stage did, for the summary.
struct Stage {
    name: &'static str,
    tasks: u64,
    wall: Duration,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if args.pi {
        return crate::pi::run(args);
    }
    let (client, workers) = client(args)?;
    let stats = Arc::new(RunStats::new());
    let (client, dashboard) = instrument(client.with_subscriber(stats.clone()), args)?;
    println!(
        "rask demo: a dataframe, an array and a graph of functions on {} ({workers} worker{})",
        args.executor.name(),
        if workers == 1 { "" } else { "s" }
    );

    let mut stages = Vec::new();
    let tasks_so_far = |stats: &RunStats| stats.snapshot().finished + stats.snapshot().failed;

    // 1. A dataframe: CSV files, a filter and a group-by.
    let (files, rows_per_file) = if args.quick { (4, 2_000) } else { (8, 50_000) };
    let dir = tempdir()?;
    write_sales(&dir, files, rows_per_file)?;
    let t0 = Instant::now();
    let before = tasks_so_far(&stats);
    let glob = dir.join("*.csv");
    let sales = df::read_csv(
        glob.to_str().context("a non-UTF-8 path")?,
        &CsvOptions::default(),
    )?;
    let by_city = sales
        .filter(col("amount").gt(lit(0.0)))?
        .groupby(&["city"])
        .agg(vec![
            len().alias("sales"),
            sum("amount").alias("total"),
            mean("amount").alias("mean"),
        ])?
        .sort(vec![asc("city")])?;
    let batch = by_city.collect(&client).context("the dataframe stage")?;
    let _ = std::fs::remove_dir_all(&dir);
    stages.push(Stage {
        name: "dataframe",
        tasks: tasks_so_far(&stats) - before,
        wall: t0.elapsed(),
    });
    ensure!(
        batch.num_rows() == CITIES.len(),
        "expected {} cities, got {}",
        CITIES.len(),
        batch.num_rows()
    );
    println!(
        "  sales by city ({} rows read from {files} CSV files):",
        files * rows_per_file
    );
    println!(
        "    {:<8} {:>7} {:>12} {:>7}",
        "city", "sales", "total", "mean"
    );
    for r in 0..batch.num_rows() {
        let cell = |c: usize| df::arrow::util::display::array_value_to_string(batch.column(c), r);
        let num = |c: usize| -> anyhow::Result<f64> { Ok(cell(c)?.parse()?) };
        println!(
            "    {:<8} {:>7} {:>12.2} {:>7.2}",
            cell(0)?,
            cell(1)?,
            num(2)?,
            num(3)?
        );
    }

    // 2. An array reduction: (x + x.T).mean(0).sum() of a seeded matrix.
    let (side, chunk) = if args.quick { (400, 100) } else { (4_000, 500) };
    let t0 = Instant::now();
    let before = tasks_so_far(&stats);
    let x = ra::random(7, &[side, side], chunk)?;
    let r = x.add(&x.T())?.mean(0)?.sum(Axes::All)?;
    let v: f64 = r.compute_scalar(&client).context("the array stage")?;
    stages.push(Stage {
        name: "array",
        tasks: tasks_so_far(&stats) - before,
        wall: t0.elapsed(),
    });
    ensure!(
        (v / side as f64 - 1.0).abs() < 0.01,
        "the array's reduction {v} is not near {side}"
    );
    println!(
        "  array: (x + x.T).mean(0).sum() of a {side} x {side} random matrix in {chunk} x {chunk} chunks = {v:.2} (about {side})"
    );

    // 3. A graph of functions, with one task retried.
    let (chunks, samples) = if args.quick {
        (64, 20_000)
    } else {
        (1_024, 200_000)
    };
    let t0 = Instant::now();
    let before = tasks_so_far(&stats);
    let parts: Vec<Delayed<(u64, u64)>> =
        (0..chunks).map(|c| sample::delayed(c, samples)).collect();
    let total = tree(parts).context("no tasks")?;
    let fetched = fetch::delayed(7).retries(2);
    let fetch_key = fetched.key().to_string();
    let ((inside, points), attempt) = client.get(&(total, fetched)).context("the graph stage")?;
    stages.push(Stage {
        name: "graph",
        tasks: tasks_so_far(&stats) - before,
        wall: t0.elapsed(),
    });
    let pi = 4.0 * inside as f64 / points as f64;
    let err = (pi - std::f64::consts::PI).abs();
    ensure!(
        err < 0.01,
        "the estimate {pi} is off by {err}: something is wrong"
    );
    ensure!(
        attempt == 2,
        "{fetch_key} succeeded on attempt {attempt}, not 2"
    );
    println!("  graph: pi ~= {pi:.6} (off by {err:.6}) from {points} random points");
    println!(
        "  task `{fetch_key}` failed its first attempt (a simulated time-out), was retried, and succeeded on attempt {attempt}"
    );

    println!("rask demo: done");
    let mut all = Duration::ZERO;
    for s in &stages {
        all += s.wall;
        println!(
            "  {:<10} {:>6} tasks in {:>7.3} s",
            s.name,
            s.tasks,
            s.wall.as_secs_f64()
        );
    }
    let s = stats.snapshot();
    println!(
        "  {} tasks finished, {} failed, in {:.3} s on {}",
        s.finished,
        s.failed,
        all.as_secs_f64(),
        args.executor.name()
    );
    write_diagnostics(args, &client)?;
    if args.report.is_none() {
        println!("  rask demo --report report.html writes a performance report of the run");
    }
    if dashboard.is_some() && args.linger > 0 {
        println!("  the dashboard stays up for {} s", args.linger);
        std::thread::sleep(Duration::from_secs(args.linger));
    }
    drop(dashboard);
    Ok(())
}

const CITIES: [&str; 5] = ["Lima", "Oslo", "Pune", "Kyiv", "Quito"];

/// `files` CSV files of `rows` sales each (city, product, amount), from a
/// seeded generator; some amounts are zero (refunds the filter drops).
fn write_sales(dir: &std::path::Path, files: usize, rows: usize) -> anyhow::Result<()> {
    use std::fmt::Write;
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    for f in 0..files {
        let mut text = String::with_capacity(rows * 24);
        text.push_str("city,product,amount\n");
        for _ in 0..rows {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let city = CITIES[(s % 5) as usize];
            let amount = (s >> 20) % 10_000;
            let _ = writeln!(
                text,
                "{city},p{},{}.{:02}",
                (s >> 8) % 50,
                amount / 100,
                amount % 100
            );
        }
        let path = dir.join(format!("sales-{f}.csv"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempdir() -> anyhow::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("rask-demo-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Adds what the options ask for to `client`: the progress display, the
/// recorder, the dashboard (returned: it serves while it lives), task spans.
pub(crate) fn instrument(
    mut client: Client,
    args: &Args,
) -> anyhow::Result<(Client, Option<rask::dashboard::Dashboard>)> {
    if !args.no_progress {
        client = client.with_progress();
    }
    let recording = args.report.is_some()
        || args.trace.is_some()
        || args.graph.is_some()
        || args.dashboard.is_some();
    if recording {
        client = client.with_recorder();
    }
    let dashboard = match &args.dashboard {
        Some(addr) => {
            let d = client
                .dashboard(addr.as_str())
                .context("starting the dashboard")?;
            println!("rask demo: dashboard at {}", d.url());
            Some(d)
        }
        None => None,
    };
    if let Some(spans) = rask::diagnostics::TaskSpans::if_enabled() {
        client = client.with_subscriber(spans);
    }
    Ok((client, dashboard))
}

/// Writes the report, trace and graph that were asked for, and says where.
pub(crate) fn write_diagnostics(args: &Args, client: &Client) -> anyhow::Result<()> {
    if let Some(path) = &args.report {
        let p = client.report(path).context("writing the report")?;
        println!("  performance report: {}", p.display());
    }
    if let Some(path) = &args.trace {
        let p = client.write_trace(path).context("writing the trace")?;
        println!(
            "  trace (chrome://tracing, ui.perfetto.dev): {}",
            p.display()
        );
    }
    if let Some(path) = &args.graph {
        let recorder = client.recorder().context("no recorder")?;
        let graph = rask::diagnostics::ClusterState::graph(&recorder)
            .context("the graph was not kept (more tasks than the recorder's graph limit)")?;
        graph
            .collapsed(rask::diagnostics::GRAPH_NODES)
            .write(path)
            .context("writing the graph")?;
        println!("  graph: {}", path.display());
    }
    Ok(())
}
