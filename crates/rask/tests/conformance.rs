//! The conformance suite: every promise of the README, as one table of
//! scenarios run on every executor (`sync`, `threads`, `processes`, a local
//! `cluster`). A scenario returns what it checked: the value, or the typed
//! error an executor must give where it cannot do something (a closure on a
//! worker). The matrix it prints is the README's; the test fails if the
//! README's copy is stale (`RASK_UPDATE_README=1` rewrites it).
//!
//! Runs without libtest: workers are this binary started again, and its
//! `main` calls `rask::init()` first.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rask::prelude::*;
use rask::{Event, RetryOn, Subscriber, TaskErrorKind};

mod conformance_cache;
mod conformance_coord;
mod workers;
use workers::{add, inc, ramp, sum_all, total, tree};

#[rask::task]
fn fails_at_three(x: u64) -> u64 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

#[rask::task]
fn parse(s: String) -> Result<u64, std::num::ParseIntError> {
    s.parse()
}

/// Fails its first two attempts, whatever the executor.
#[rask::task]
fn flaky(x: u64) -> Result<u64, String> {
    let attempt = rask::task_context().map_or(1, |c| c.attempt);
    if attempt < 3 {
        return Err(format!("attempt {attempt} fails"));
    }
    Ok(x + attempt as u64)
}

#[rask::task]
fn slow(x: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    x
}

#[rask::task]
fn where_am_i(x: u64) -> String {
    let c = rask::task_context().expect("a task context");
    format!("{x}@{}", c.worker)
}

#[rask::task]
fn nested(n: u64) -> Result<u64, String> {
    let client = rask::get_client().map_err(|e| e.to_string())?;
    let parts: Vec<Delayed<u64>> = (0..n).map(inc::delayed).collect();
    sum_all::delayed(parts)
        .compute(&client)
        .map_err(|e| e.to_string())
}

/// A multi-output task: `n` vectors of `len` numbers.
#[rask::task]
fn pieces(n: u64, len: u64) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| (0..len).map(|j| (i * len + j) as f64).collect())
        .collect()
}

#[rask::task]
async fn later(x: u64, ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    x * 10
}

#[rask::task]
async fn async_boom(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if x > 0 {
        panic!("async boom {x}");
    }
    x
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sync,
    Threads,
    Processes,
    Cluster,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Sync, Kind::Threads, Kind::Processes, Kind::Cluster];

    fn name(self) -> &'static str {
        match self {
            Kind::Sync => "sync",
            Kind::Threads => "threads",
            Kind::Processes => "processes",
            Kind::Cluster => "cluster",
        }
    }

    fn remote(self) -> bool {
        matches!(self, Kind::Processes | Kind::Cluster)
    }

    fn client(self) -> Client {
        match self {
            Kind::Sync => Client::sync(),
            Kind::Threads => Client::threads_with(2),
            Kind::Processes => Client::processes(2),
            Kind::Cluster => Client::local_cluster(2, 1).unwrap(),
        }
    }
}

/// What a scenario checked on one executor (shown in the matrix), or why
/// it failed.
type Outcome = Result<String, String>;

fn ok() -> Outcome {
    Ok("✓".to_owned())
}

/// The typed error an executor gave where it cannot do something.
fn typed(kind: &str) -> Outcome {
    Ok(format!("✓ {kind}"))
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn eq<T: PartialEq + std::fmt::Debug>(got: T, want: T, what: &str) -> Result<(), String> {
    check(got == want, || {
        format!("{what}: got {got:?}, want {want:?}")
    })
}

fn err_kind(r: &rask::Result<impl std::fmt::Debug>) -> Option<TaskErrorKind> {
    r.as_ref()
        .err()
        .and_then(|e| e.as_task())
        .map(|t| t.root().kind.clone())
}

// ----- the scenarios ----------------------------------------------------

fn trees(c: &Client, _: Kind) -> Outcome {
    let n = 300;
    eq(
        tree((0..n).map(inc::delayed).collect())
            .compute(c)
            .map_err(|e| e.to_string())?,
        n * (n + 1) / 2,
        "tree",
    )?;
    ok()
}

fn gathers(c: &Client, _: Kind) -> Outcome {
    let parts: Vec<Delayed<u64>> = (0..50).map(inc::delayed).collect();
    eq(
        sum_all::delayed(parts)
            .compute(c)
            .map_err(|e| e.to_string())?,
        1275,
        "gather",
    )?;
    eq(
        sum_all::delayed(Vec::<Delayed<u64>>::new())
            .compute(c)
            .map_err(|e| e.to_string())?,
        0,
        "empty",
    )?;
    ok()
}

fn closures(c: &Client, k: Kind) -> Outcome {
    let d = task("my_closure").delayed(|| 41u64, ());
    let r = inc::delayed(&d).compute(c);
    if k.remote() {
        eq(
            err_kind(&r),
            Some(TaskErrorKind::NotRegistered),
            "closure on workers",
        )?;
        let e = r.unwrap_err().to_string();
        check(e.contains("my_closure"), || {
            format!("names the closure: {e}")
        })?;
        return typed("NotRegistered");
    }
    eq(r.map_err(|e| e.to_string())?, 42, "closure")?;
    ok()
}

fn failures(c: &Client, _: Kind) -> Outcome {
    let leaves: Vec<Delayed<u64>> = (0..6).map(fails_at_three::delayed).collect();
    let bad = add::delayed(&leaves[2], &leaves[3]);
    let good = add::delayed(&leaves[4], &leaves[5]);
    let (b, g) = (bad.compute(c), good.compute(c));
    let e = b.unwrap_err();
    let te = e.as_task().ok_or("not a task error")?;
    check(
        matches!(te.kind, TaskErrorKind::DependencyFailed { .. }),
        || format!("{e}"),
    )?;
    eq(te.root().kind.clone(), TaskErrorKind::Panicked, "root kind")?;
    check(e.to_string().contains("three is not allowed"), || {
        format!("message: {e}")
    })?;
    check(e.to_string().contains("fails_at_three"), || {
        format!("names the task: {e}")
    })?;
    eq(g.map_err(|e| e.to_string())?, 9, "independent branch")?;
    let r = parse::delayed("x7".to_owned()).compute(c);
    eq(err_kind(&r), Some(TaskErrorKind::Failed), "returned error")?;
    check(r.unwrap_err().to_string().contains("invalid digit"), || {
        "source message".into()
    })?;
    ok()
}

fn retries(c: &Client, _: Kind) -> Outcome {
    eq(
        flaky::delayed(5)
            .retries(2)
            .compute(c)
            .map_err(|e| e.to_string())?,
        8,
        "third attempt",
    )?;
    let e = flaky::delayed(5).retries(1).compute(c).unwrap_err();
    let te = e.as_task().ok_or("not a task error")?;
    eq(te.attempt, 2, "the attempt that failed")?;
    // The message says which attempt failed, apart from the task's own text.
    check(
        e.to_string()
            .contains("failed on attempt 2: attempt 2 fails"),
        || format!("{e}"),
    )?;
    // Only the kinds asked for are retried.
    let r = flaky::delayed(5)
        .retries(2)
        .retry_on(RetryOn::PANICKED)
        .compute(c);
    eq(err_kind(&r), Some(TaskErrorKind::Failed), "not retried")?;
    ok()
}

fn retry_if(c: &Client, k: Kind) -> Outcome {
    let d = flaky::delayed(1)
        .retries(2)
        .retry_if(|e| e.message.contains("fails"));
    let r = d.compute(c);
    if k.remote() {
        eq(
            err_kind(&r),
            Some(TaskErrorKind::NotSupported),
            "retry_if on workers",
        )?;
        check(r.unwrap_err().to_string().contains("retry_on"), || {
            "says what to use".into()
        })?;
        return typed("NotSupported");
    }
    eq(r.map_err(|e| e.to_string())?, 4, "retry_if")?;
    ok()
}

fn timeouts(c: &Client, _: Kind) -> Outcome {
    let t0 = Instant::now();
    let r = slow::delayed(1, 300)
        .timeout(Duration::from_millis(50))
        .compute(c);
    check(
        matches!(err_kind(&r), Some(TaskErrorKind::TimedOut { .. })),
        || format!("{r:?}"),
    )?;
    check(t0.elapsed() < Duration::from_secs(5), || "bounded".into())?;
    eq(
        slow::delayed(7, 1)
            .timeout(Duration::from_secs(5))
            .compute(c)
            .map_err(|e| e.to_string())?,
        7,
        "in time",
    )?;
    ok()
}

fn eager(c: &Client, k: Kind) -> Outcome {
    let f = add::submit(c, 40, 2);
    eq(f.result().map_err(|e| e.to_string())?, 42, "f::submit")?;
    let fs: Vec<_> = (0..10u64).map(|i| c.compute(inc::delayed(i))).collect();
    eq(
        c.gather(&fs)
            .map_err(|e| e.to_string())?
            .iter()
            .sum::<u64>(),
        55,
        "gather",
    )?;
    let closure = c.submit(|| 5u64, ());
    if k.remote() {
        eq(
            err_kind(&closure.result()),
            Some(TaskErrorKind::NotRegistered),
            "eager closure",
        )?;
        return typed("NotRegistered (closures)");
    }
    eq(
        closure.result().map_err(|e| e.to_string())?,
        5,
        "eager closure",
    )?;
    ok()
}

fn cancel(c: &Client, k: Kind) -> Outcome {
    // `compute` on `sync` runs at once, on the caller's thread: there the
    // eager form is cancelled.
    let f = if k == Kind::Sync {
        c.submit(|| std::thread::sleep(Duration::from_millis(2000)), ())
            .erase()
            .typed::<u64>()
    } else {
        c.compute(slow::delayed(1, 2000))
    };
    check(f.cancel(), || "cancelled".into())?;
    let r = f.result();
    eq(
        err_kind(&r),
        Some(TaskErrorKind::Cancelled),
        "cancelled future",
    )?;
    ok()
}

fn persist(c: &Client, _: Kind) -> Outcome {
    let n = 1u64 << 14;
    let v = c.persist(&ramp::delayed(n));
    let want = (n * (n - 1) / 2) as f64;
    eq(
        total::delayed(v.as_delayed())
            .compute(c)
            .map_err(|e| e.to_string())?,
        want,
        "used",
    )?;
    eq(
        total::delayed(v.as_delayed())
            .compute(c)
            .map_err(|e| e.to_string())?,
        want,
        "again",
    )?;
    eq(
        v.result().map_err(|e| e.to_string())?.len(),
        n as usize,
        "fetched",
    )?;
    let bad = c.persist(&parse::delayed("zz".to_owned()));
    let r = inc::delayed(bad.as_delayed()).compute(c);
    check(
        r.is_err_and(|e| e.to_string().contains("invalid digit")),
        || "a failed persist fails its users".into(),
    )?;
    ok()
}

fn scatter(c: &Client, _: Kind) -> Outcome {
    let s = c.scatter(vec![0.5f64; 50_000]);
    eq(
        total::delayed(s.as_delayed())
            .compute(c)
            .map_err(|e| e.to_string())?,
        25_000.0,
        "scattered",
    )?;
    // A future of another client goes in as a constant.
    let other = Client::sync().compute(rask::value(vec![1.0f64, 2.0]));
    eq(
        total::delayed(other.as_delayed())
            .compute(c)
            .map_err(|e| e.to_string())?,
        3.0,
        "foreign",
    )?;
    ok()
}

fn nested_tasks(c: &Client, k: Kind) -> Outcome {
    let r = nested::delayed(10).compute(c);
    if k.remote() {
        eq(
            err_kind(&r),
            Some(TaskErrorKind::Failed),
            "no client on a worker",
        )?;
        check(
            r.unwrap_err()
                .to_string()
                .contains("outside a task of a client"),
            || "says why".into(),
        )?;
        return typed("Failed (no client on workers)");
    }
    eq(r.map_err(|e| e.to_string())?, 55, "nested")?;
    ok()
}

fn async_tasks(c: &Client, k: Kind) -> Outcome {
    // An async registered function, in a graph with compute tasks.
    let a = later::delayed(4, 20);
    let s = add::delayed(&a, inc::delayed(1));
    eq(
        s.compute(c).map_err(|e| e.to_string())?,
        42,
        "async in a graph",
    )?;
    let r = async_boom::delayed(3).compute(c);
    eq(err_kind(&r), Some(TaskErrorKind::Panicked), "async panic")?;
    check(r.unwrap_err().to_string().contains("async boom 3"), || {
        "message".into()
    })?;
    let r = later::delayed(1, 500)
        .timeout(Duration::from_millis(30))
        .compute(c);
    check(
        matches!(err_kind(&r), Some(TaskErrorKind::TimedOut { .. })),
        || format!("{r:?}"),
    )?;
    // An async closure runs on the client's own runtime.
    let f = c.submit_async(|| async { 7u64 }, ());
    eq(f.result().map_err(|e| e.to_string())?, 7, "submit_async")?;
    let _ = k;
    ok()
}

fn parts(c: &Client, _: Kind) -> Outcome {
    // 6 parts of 100,000 numbers (800 KB each: kept on the worker, fetched
    // one by one), each summed by its own task, and the whole used once.
    let (n, len) = (6u64, 100_000u64);
    let v = pieces::delayed(n, len);
    let sums: Vec<Delayed<f64>> = v.split(n as usize).iter().map(total::delayed).collect();
    let got = c.get(&sums).map_err(|e| e.to_string())?;
    for (i, s) in got.iter().enumerate() {
        let lo = i as u64 * len;
        let want = ((lo..lo + len).sum::<u64>()) as f64;
        eq(*s, want, "part sum")?;
    }
    // A part past the end fails, naming the task.
    let past = v.split(8);
    let r = total::delayed(&past[7]).compute(c);
    check(
        r.is_err_and(|e| e.to_string().contains("more parts than it has")),
        || "past the end".into(),
    )?;
    ok()
}

fn big_values(c: &Client, _: Kind) -> Outcome {
    let n = 5u64 << 20; // 40 MiB of f64
    let v = ramp::delayed(n);
    let s = total::delayed(&v);
    let (s, v) = c.get(&(s, v)).map_err(|e| e.to_string())?;
    eq(s, (n * (n - 1) / 2) as f64, "sum")?;
    eq(v.len(), n as usize, "value back")?;
    eq(v[123_456], 123_456.0, "intact")?;
    // And the value sent back in as a constant (written straight where it
    // is kept on processes and clusters).
    let again = c.get(&total::delayed(v)).map_err(|e| e.to_string())?;
    eq(
        again,
        (n * (n - 1) / 2) as f64,
        "sum of the value sent back",
    )?;
    ok()
}

fn contexts(c: &Client, k: Kind) -> Outcome {
    let names = c
        .get(&(0..8).map(where_am_i::delayed).collect::<Vec<_>>())
        .map_err(|e| e.to_string())?;
    let want = match k {
        Kind::Sync => "sync",
        Kind::Threads => "threads",
        _ => "local-",
    };
    check(names.iter().all(|n| n.contains(want)), || {
        format!("{names:?}")
    })?;
    ok()
}

/// Counts task events as they come, and when the first finish and the
/// run's end came.
#[derive(Default)]
struct Counter {
    started: AtomicUsize,
    finished: AtomicUsize,
    run_tasks: AtomicUsize,
    first_finish: Mutex<Option<Instant>>,
    run_end: Mutex<Option<Instant>>,
}

impl Subscriber for Counter {
    fn on_event(&self, e: &Event<'_>) {
        match e {
            Event::RunStarted { tasks, .. } => {
                self.run_tasks.store(*tasks, Ordering::SeqCst);
            }
            Event::TaskStarted { .. } => {
                self.started.fetch_add(1, Ordering::SeqCst);
            }
            Event::TaskFinished { .. } => {
                self.finished.fetch_add(1, Ordering::SeqCst);
                self.first_finish
                    .lock()
                    .unwrap()
                    .get_or_insert_with(Instant::now);
            }
            Event::RunFinished { .. } => *self.run_end.lock().unwrap() = Some(Instant::now()),
            _ => {}
        }
    }
}

fn events(c: &Client, k: Kind) -> Outcome {
    let counter = Arc::new(Counter::default());
    let sub = c.clone().with_subscriber(counter.clone());
    // 22 user tasks (20 `slow` of 10 ms, their gather, one `sum_all`): each
    // is counted once (the literal arguments are not tasks).
    let parts: Vec<Delayed<u64>> = (0..20).map(|i| slow::delayed(i, 10)).collect();
    let r = sum_all::delayed(parts)
        .compute(&sub)
        .map_err(|e| e.to_string())?;
    eq(r, 190, "result")?;
    let tasks = counter.run_tasks.load(Ordering::SeqCst);
    eq(tasks, 22, "tasks in RunStarted")?;
    eq(
        counter.finished.load(Ordering::SeqCst),
        22,
        "finished events",
    )?;
    eq(counter.started.load(Ordering::SeqCst), 22, "started events")?;
    // Live: the first finish comes while the graph runs (at least 100 ms
    // of work on at most two threads), not with the rest at the end.
    let first = counter.first_finish.lock().unwrap().ok_or("no finish")?;
    let end = counter.run_end.lock().unwrap().ok_or("no run end")?;
    check(
        end.duration_since(first) > Duration::from_millis(40),
        || {
            format!(
                "the first finish came {:?} before the end",
                end.duration_since(first)
            )
        },
    )?;
    let _ = k;
    ok()
}

fn placement(c: &Client, k: Kind) -> Outcome {
    let d = where_am_i::delayed(1).workers(&["local-1"]);
    let r = d.compute(c).map_err(|e| e.to_string())?;
    if k.remote() {
        check(r.ends_with("local-1"), || {
            format!("restricted to local-1: {r}")
        })?;
        let gpu = inc::delayed(1).resources(&[("gpu", 1.0)]);
        let t0 = Instant::now();
        let e = gpu.compute(c);
        // No worker has a gpu: the no-workers timeout (shortened for the
        // suite) fails it, saying why.
        eq(
            err_kind(&e),
            Some(TaskErrorKind::NoWorkers),
            "no worker has it",
        )?;
        check(t0.elapsed() < Duration::from_secs(10), || "bounded".into())?;
        return Ok("✓ (NoWorkers after the timeout)".to_owned());
    }
    // In-process executors ignore placement.
    check(r.starts_with("1@"), || r.clone())?;
    ok()
}

fn arrays(c: &Client, _: Kind) -> Outcome {
    use rask::array as ra;
    let x = ra::random(3, &[40, 30], [16, 8]).map_err(|e| e.to_string())?;
    let y = x
        .add(&x.T().rechunk([8, 16]).map_err(|e| e.to_string())?.T())
        .map_err(|e| e.to_string())?;
    let r = y.mean(0).map_err(|e| e.to_string())?;
    let a = r.compute::<f64, _>(c).map_err(|e| e.to_string())?;
    let b = r
        .compute::<f64, _>(&Client::sync())
        .map_err(|e| e.to_string())?;
    eq(a, b, "array mean")?;
    ok()
}

fn dataframes(c: &Client, _: Kind) -> Outcome {
    use rask::dataframe::arrow::array::{Float64Array, Int64Array, RecordBatch};
    use rask::dataframe::arrow::datatypes::{DataType, Field, Schema};
    use rask::dataframe::{DataFrame, JoinStrategy, JoinType};
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Float64, false),
    ]));
    let batch = |lo: i64, hi: i64| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values((lo..hi).map(|i| i % 17))),
                Arc::new(Float64Array::from_iter_values(
                    (lo..hi).map(|i| i as f64 * 0.5),
                )),
            ],
        )
        .unwrap()
    };
    let df = DataFrame::from_record_batches(vec![batch(0, 300), batch(300, 500), batch(500, 900)])
        .map_err(|e| e.to_string())?;
    let other = DataFrame::from_record_batches(vec![batch(0, 40), batch(40, 100)])
        .map_err(|e| e.to_string())?;
    let sync = Client::sync();
    let frames = [
        df.join_with(&other, &["k"], JoinType::Inner, JoinStrategy::Shuffle)
            .map_err(|e| e.to_string())?,
        df.shuffle(&["k"], 3).map_err(|e| e.to_string())?,
        df.sort_values(&["v"], false).map_err(|e| e.to_string())?,
    ];
    for f in &frames {
        let a = f.collect(c).map_err(|e| e.to_string())?;
        let b = f.collect(&sync).map_err(|e| e.to_string())?;
        eq(a.num_rows(), b.num_rows(), "rows")?;
        let total = |rb: &RecordBatch| -> f64 {
            rb.columns()
                .iter()
                .filter_map(|c| c.as_any().downcast_ref::<Float64Array>())
                .flat_map(|a| a.values().iter().copied())
                .sum()
        };
        eq(total(&a), total(&b), "checksum")?;
    }
    ok()
}

fn lost_workers(c: &Client, k: Kind) -> Outcome {
    if !k.remote() {
        return Ok("—".to_owned());
    }
    let d = c.deployment().ok_or("no deployment")?;
    let before = d.pids();
    let xs: Vec<Delayed<u64>> = (0..30).map(|i| slow::delayed(i, 15)).collect();
    let s = sum_all::delayed(xs);
    let f = c.compute(s);
    std::thread::sleep(Duration::from_millis(80));
    // SAFETY: kill(2) on a worker process this test's deployment started.
    unsafe { kill(before[0] as i32, 9) };
    eq(
        f.result().map_err(|e| e.to_string())?,
        (0..30).sum::<u64>(),
        "recovered",
    )?;
    let t0 = Instant::now();
    while d.pids().len() < 2 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    eq(d.pids().len(), 2, "replaced")?;
    check(d.restarts() >= 1, || "the nanny restarted it".into())?;
    Ok("✓ (restarted, recomputed)".to_owned())
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

type Scenario = (&'static str, &'static str, fn(&Client, Kind) -> Outcome);

const SCENARIOS: &[Scenario] = &[
    ("trees", "a tree of registered tasks", trees),
    ("gathers", "a list of delayed values into one task", gathers),
    ("closures", "closures as tasks", closures),
    (
        "failures",
        "a failure names its task; the rest completes",
        failures,
    ),
    ("retries", "retries and retry_on", retries),
    ("retry_if", "retry_if (a closure)", retry_if),
    ("timeouts", "timeouts", timeouts),
    ("eager", "submit, compute, gather", eager),
    ("cancel", "cancel", cancel),
    ("persist", "persist, as_delayed, release", persist),
    ("scatter", "scatter; another client's future", scatter),
    ("nested", "a task that computes a graph", nested_tasks),
    ("async", "async registered tasks, submit_async", async_tasks),
    ("parts", "multi-output tasks (split)", parts),
    ("big", "a 40 MiB value out, and in again", big_values),
    ("context", "task_context() inside a task", contexts),
    ("events", "live events, each task counted once", events),
    ("placement", "worker restrictions, resources", placement),
    ("arrays", "chunked arrays", arrays),
    ("dataframes", "dataframe join, shuffle, sort", dataframes),
    ("lost", "a worker killed mid-graph", lost_workers),
    (
        "cache",
        "a result cache: hits, a changed input, failures",
        conformance_cache::cache,
    ),
    (
        "coord_lock",
        "a lock around read-modify-writes; timed waits",
        conformance_coord::locks,
    ),
    (
        "coord_lock_var",
        "a lock taken with a variable, given back with its new value",
        conformance_coord::locked_vars,
    ),
    (
        "coord_semaphore",
        "semaphores cap holders",
        conformance_coord::semaphores,
    ),
    (
        "coord_queue",
        "a queue: each item once, unacknowledged ones back",
        conformance_coord::queues,
    ),
    (
        "coord_event",
        "an event set by the driver wakes a task",
        conformance_coord::events,
    ),
    (
        "coord_variable",
        "variables shared by tasks and the driver",
        conformance_coord::variables,
    ),
    (
        "coord_pubsub",
        "publish/subscribe",
        conformance_coord::topics,
    ),
    (
        "coord_barrier",
        "a barrier of tasks and the driver",
        conformance_coord::barriers,
    ),
];

fn main() {
    rask::init();
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut failed = 0;
    let t_all = Instant::now();
    let clients: Vec<(Kind, Client)> = Kind::ALL
        .iter()
        .map(|&k| {
            let c = match k {
                // A short no-workers timeout, so the placement scenario
                // ends in seconds.
                Kind::Processes | Kind::Cluster => {
                    let mut o = rask::LocalOptions::new(
                        2,
                        1,
                        if k == Kind::Cluster {
                            rask::Transport::Tcp
                        } else {
                            rask::Transport::Local
                        },
                    );
                    o.scheduler.core.no_workers_timeout = Some(Duration::from_secs(1));
                    Client::try_processes(o).unwrap()
                }
                _ => k.client(),
            };
            (k, c)
        })
        .collect();
    for (id, what, f) in SCENARIOS {
        if !filters.is_empty() && !filters.iter().any(|x| id.contains(x.as_str())) {
            continue;
        }
        let mut cells = Vec::new();
        for (k, c) in &clients {
            let t0 = Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(c, *k)))
                .unwrap_or_else(|p| {
                    Err(p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "panicked".to_owned()))
                });
            let dt = t0.elapsed();
            match r {
                Ok(cell) => {
                    println!("test {id} on {} ... ok ({dt:.2?})", k.name());
                    cells.push(cell);
                }
                Err(why) => {
                    println!("test {id} on {} ... FAILED ({dt:.2?}): {why}", k.name());
                    failed += 1;
                    cells.push("✗".to_owned());
                }
            }
        }
        rows.push((format!("{what} (`{id}`)"), cells));
    }
    drop(clients);
    let matrix = render(&rows);
    println!("\n{matrix}");
    if filters.is_empty() {
        failed += compare_with_readme(&matrix);
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed ({:.1?})",
        if failed == 0 { "ok" } else { "FAILED" },
        rows.len() * Kind::ALL.len() - failed.min(rows.len() * Kind::ALL.len()),
        t_all.elapsed()
    );
    std::process::exit(i32::from(failed > 0));
}

fn render(rows: &[(String, Vec<String>)]) -> String {
    let mut s = String::from(
        "| scenario | sync | threads | processes | cluster |\n|---|---|---|---|---|\n",
    );
    for (what, cells) in rows {
        s.push_str(&format!("| {what} | {} |\n", cells.join(" | ")));
    }
    s
}

const BEGIN: &str = "<!-- conformance:begin (made by crates/rask/tests/conformance.rs) -->\n";
const END: &str = "<!-- conformance:end -->";

/// 0 if the README holds this matrix (or was updated to it), 1 if stale.
fn compare_with_readme(matrix: &str) -> usize {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let Ok(readme) = std::fs::read_to_string(path) else {
        println!("FAILED: cannot read {path}");
        return 1;
    };
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else {
        println!("FAILED: the README has no conformance matrix between the markers");
        return 1;
    };
    let current = &readme[b + BEGIN.len()..e];
    if current == matrix {
        return 0;
    }
    if std::env::var_os("RASK_UPDATE_README").is_some() {
        let updated = format!("{}{BEGIN}{matrix}{}", &readme[..b], &readme[e..]);
        if std::fs::write(path, updated).is_ok() {
            println!("updated the README's conformance matrix");
            return 0;
        }
    }
    println!("FAILED: the README's conformance matrix is stale; RASK_UPDATE_README=1 rewrites it");
    1
}
