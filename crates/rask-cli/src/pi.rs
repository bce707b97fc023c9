//! `rask demo --pi`: the Monte Carlo estimate of pi alone, as one graph of
//! keyed closures on the thread pool (the dashboard's browser check drives
//! it: `merge[1000]` and 2,047 tasks of two prefixes).
//!
//! `chunks` sampling tasks each draw `samples` points from their own seeded
//! generator and count those inside the unit circle; a pairwise tree of
//! `merge` tasks adds the counts (2 x chunks - 1 tasks in all). Then a
//! graph of 200,000 no-op tasks measures the scheduling overhead alone.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context};
use rask::prelude::*;
use rask::RunStats;

use crate::demo::{instrument, write_diagnostics, Args};

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

/// Runs the pi graph with `args.chunks` sampling tasks of `args.samples`
/// points each, then the scheduling-overhead graph.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    ensure!(
        args.chunks > 0 && args.samples > 0,
        "--chunks and --samples must be positive"
    );
    let threads = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let stats = Arc::new(RunStats::new());
    let client = Client::try_threads(threads)
        .context("starting the thread pool")?
        .with_subscriber(stats.clone());
    let (client, dashboard) = instrument(client, args)?;

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
