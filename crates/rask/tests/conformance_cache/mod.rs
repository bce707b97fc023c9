//! The conformance suite's result-cache scenario: the same checks on every
//! executor, with runs counted by the task events (bodies on workers run
//! in other processes; a task served from the cache sends none). The cell
//! says how many tasks of a graph with one changed input ran again: all
//! on processes and clusters (their cache holds what reached the client,
//! the outputs), only the changed branch in this process (intermediate
//! results are cached too).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rask::diagnostics::ClusterState;
use rask::prelude::*;
use rask::{Event, ResultCache, RunStats, Subscriber};

use super::workers::{add, inc, sum_all};
use super::{check, eq, fails_at_three, Kind, Outcome};

/// Counts the task events of the runs.
#[derive(Default)]
struct Runs {
    finished: AtomicU64,
    failed: AtomicU64,
    cache_events: AtomicU64,
}

impl Subscriber for Runs {
    fn on_event(&self, e: &Event<'_>) {
        let c = match e {
            Event::TaskFinished { .. } => &self.finished,
            Event::TaskFailed { .. } => &self.failed,
            Event::Cache { .. } => &self.cache_events,
            _ => return,
        };
        c.fetch_add(1, Ordering::SeqCst);
    }
}

impl Runs {
    /// Finished tasks since the last call.
    fn take(&self) -> u64 {
        self.finished.swap(0, Ordering::SeqCst)
    }
}

fn get<T>(r: rask::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

pub(crate) fn cache(c: &Client, k: Kind) -> Outcome {
    let runs = Arc::new(Runs::default());
    let stats = Arc::new(RunStats::new());
    let cache = ResultCache::new(64 << 20);
    let c = c
        .clone()
        .with_cache(cache.clone())
        .with_subscriber(runs.clone())
        .with_subscriber(stats.clone())
        .with_recorder();
    // 8 `inc`, their gather, one `sum_all`: 10 tasks.
    let leaves: Vec<Delayed<u64>> = (0..8).map(inc::delayed).collect();
    let total = sum_all::delayed(leaves.clone());
    eq(get(total.compute(&c))?, 36, "first")?;
    eq(runs.take(), 10, "tasks run the first time")?;
    let first = cache.stats();
    eq((first.hits, first.misses), (0, 10), "first lookups")?;
    // The same graph again: the output is served, nothing runs.
    eq(get(total.compute(&c))?, 36, "again")?;
    eq(runs.take(), 0, "tasks run the second time")?;
    eq(cache.stats().hits, 1, "hits")?;
    // A future of the graph (`Client::compute`) is served too.
    eq(get(c.compute(total.clone()).result())?, 36, "future")?;
    eq(runs.take(), 0, "tasks run for the future")?;
    eq(cache.stats().hits, 2, "hits")?;
    // A new task over the cached output: only it runs, with the cached value.
    eq(get(add::delayed(&total, &total).compute(&c))?, 72, "above")?;
    eq(runs.take(), 1, "tasks run above a hit")?;
    // One input changed: its branch misses and runs again.
    let mut changed = leaves.clone();
    changed[7] = inc::delayed(100);
    eq(get(sum_all::delayed(changed).compute(&c))?, 129, "changed")?;
    let rerun = runs.take();
    let want = if k.remote() { 10 } else { 3 };
    eq(rerun, want, "tasks run after one input changed")?;
    // A failed task is never cached: it fails, and runs, every time.
    let bad = inc::delayed(fails_at_three::delayed(3));
    let before = cache.stats().inserts;
    for _ in 0..2 {
        check(bad.compute(&c).is_err(), || "the failure came back".into())?;
    }
    eq(runs.failed.load(Ordering::SeqCst), 4, "failed events")?;
    eq(
        cache.stats().inserts,
        before,
        "nothing stored for a failure",
    )?;
    // An uncached task, and what depends on it, run every time.
    let impure = inc::delayed(inc::delayed(1).uncached());
    for _ in 0..2 {
        eq(get(impure.compute(&c))?, 3, "uncached")?;
    }
    eq(runs.take(), 4, "uncached tasks run each time")?;
    eq(
        runs.cache_events.load(Ordering::SeqCst),
        9,
        "a cache event per run",
    )?;
    let s = cache.stats();
    check(s.bytes > 0 && s.bytes <= s.capacity, || format!("{s:?}"))?;
    // The diagnostics see the same counters: the stats summary, the
    // recorder (report, dashboard) and the Prometheus families.
    eq(stats.snapshot().cache, Some(s), "RunStats")?;
    let status = c.recorder().ok_or("no recorder")?.status();
    eq(status.cache.map(|x| x.hits), Some(s.hits), "recorder")?;
    let text = rask::diagnostics::prometheus(&status);
    check(
        text.contains(&format!("rask_cache_hits_total {}\n", s.hits))
            && text.contains(&format!("rask_cache_bytes {}\n", s.bytes)),
        || "metrics".into(),
    )?;
    Ok(format!("✓ {rerun} of 10 ran"))
}
