//! `rask demo`: a Monte Carlo estimate of pi as a task graph.
//!
//! `chunks` sampling tasks each draw `samples` points from their own seeded
//! generator and count those inside the unit circle; a pairwise tree of
//! `merge` tasks adds the counts (2 x chunks - 1 tasks in all). Then a
//! graph of 200,000 no-op tasks measures the scheduling overhead alone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context};
use rask::prelude::*;
use rask::RunStats;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Sampling tasks.
    #[arg(long, default_value_t = 4096)]
    chunks: u64,
    /// Points per sampling task.
    #[arg(long, default_value_t = 250_000)]
    samples: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Record the run and write the performance report (one HTML file) here.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// Record the run and write a Chrome / Perfetto trace (JSON) here.
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// Draw the graph, coloured by state after the run: DOT (`.dot`) or SVG.
    #[arg(long, value_name = "PATH")]
    graph: Option<PathBuf>,
    /// Serve the live dashboard here while the demo runs (`127.0.0.1:8787`).
    #[arg(long, value_name = "ADDR")]
    dashboard: Option<String>,
    /// With `--dashboard`: keep serving this many seconds after the run.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    linger: u64,
}

#[derive(Clone, Copy, Debug)]
struct Count {
    inside: u64,
    total: u64,
}

/// Counts points of a seeded xorshift stream inside the unit circle.
fn sample(chunk: u64, samples: u64) -> Count {
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
    Count {
        inside,
        total: samples,
    }
}

fn merge(a: Count, b: Count) -> Count {
    Count {
        inside: a.inside + b.inside,
        total: a.total + b.total,
    }
}

/// Pairwise tree reduction of `xs` with `f`; an odd element is carried up.
/// With a `name`, the reductions get the keys `(name, 0)`, `(name, 1)`, ...
fn tree<T: rask::Data>(
    mut xs: Vec<Delayed<T>>,
    name: Option<&'static str>,
    f: fn(T, T) -> T,
) -> Option<Delayed<T>> {
    let mut made = 0u64;
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            next.push(match (it.next(), name) {
                (Some(b), Some(name)) => {
                    made += 1;
                    task((name, made - 1)).delayed(f, (a, b))
                }
                (Some(b), None) => delayed(f, (a, b)),
                (None, _) => a,
            });
        }
        xs = next;
    }
    xs.pop()
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    ensure!(
        args.chunks > 0 && args.samples > 0,
        "--chunks and --samples must be positive"
    );
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let stats = Arc::new(RunStats::new());
    let mut client = Client::try_threads(threads)
        .context("starting the thread pool")?
        .with_subscriber(stats.clone());
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

    let samples = args.samples;
    let t0 = Instant::now();
    let parts: Vec<Delayed<Count>> = (0..args.chunks)
        .map(|c| task(("sample", c)).delayed(move || sample(c, samples), ()))
        .collect();
    let total = tree(parts, Some("merge"), merge).context("no tasks")?;
    let built = t0.elapsed();
    let count = total.compute(&client).context("the demo graph failed")?;
    let wall = t0.elapsed();

    let pi = 4.0 * count.inside as f64 / count.total as f64;
    let err = (pi - std::f64::consts::PI).abs();
    ensure!(
        err < 0.01,
        "the estimate {pi} is off by {err}: something is wrong"
    );
    let s = stats.snapshot();
    let tasks = 2 * args.chunks - 1;
    println!(
        "rask demo: pi ~= {pi:.6} (off by {err:.6}) from {} points",
        count.total
    );
    println!(
        "  {tasks} tasks on {threads} threads in {:.3} s ({:.0} tasks/s; graph built in {:.2} ms)",
        wall.as_secs_f64(),
        tasks as f64 / wall.as_secs_f64(),
        built.as_secs_f64() * 1e3
    );
    if let Some(o) = s.overhead_per_task() {
        println!(
            "  time inside tasks {:.3} s of {:.3} s available: {:.1} us per task spent outside task bodies",
            s.busy.as_secs_f64(),
            wall.as_secs_f64() * threads as f64,
            o.as_secs_f64() * 1e6
        );
    }
    println!("  {} tasks finished, {} failed", s.finished, s.failed);
    write_diagnostics(args, &client)?;
    if dashboard.is_some() && args.linger > 0 {
        println!("  the dashboard stays up for {} s", args.linger);
        std::thread::sleep(std::time::Duration::from_secs(args.linger));
    }
    drop(dashboard);

    // The scheduling overhead alone: 100,000 no-op tasks and their tree.
    let plain = Client::try_threads(threads)?;
    let leaves: Vec<Delayed<u64>> = (0..100_000u64)
        .map(|i| delayed(move || i + 1, ()))
        .collect();
    let sum = tree(leaves, None, |x: u64, y: u64| x + y).context("no tasks")?;
    let t1 = Instant::now();
    let v = sum.compute(&plain)?;
    let dt = t1.elapsed();
    ensure!(
        v == 100_000 * 100_001 / 2,
        "wrong overhead-graph result {v}"
    );
    println!(
        "  scheduling overhead alone: {:.3} us per task (199,999 no-op tasks)",
        dt.as_secs_f64() * 1e6 / 199_999.0
    );
    Ok(())
}

/// Writes the report, trace and graph that were asked for, and says where.
fn write_diagnostics(args: &Args, client: &Client) -> anyhow::Result<()> {
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
