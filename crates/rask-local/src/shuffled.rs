//! The shuffled executor: ready tasks in a seeded random order, on several
//! threads, with random yields, for testing the graphs a user builds.
//!
//! A graph whose result depends on the order its tasks happen to run in
//! (a task that reads a file, a global or a channel that another task fills,
//! with no dependency between them) passes on `sync` (always priority order)
//! and usually on `threads`. [`ShuffledExecutor`] draws the order from a
//! seed instead, so that such a bug shows up for some seeds and the failing
//! seed shows it again.
//!
//! # How a run goes
//! The calling thread dispatches; `threads` scoped worker threads run tasks.
//! The run goes in *rounds*:
//! 1. From the ready set, draw a width `1..=min(overlap, ready)` (always 1
//!    with the default overlap of 1), then that many tasks, one by one,
//!    uniformly, and a distinct worker for each.
//! 2. Start them in the order drawn: each is handed to its worker, which
//!    says it has started, spins a random number of `yield_now`s, then runs
//!    the task; the dispatcher waits for that and yields a random number of
//!    times before starting the next. The tasks of a round overlap.
//! 3. Wait for the whole round; the tasks it readied join the ready set in
//!    id order.
//!
//! Rules this keeps:
//! 1. Every draw comes from one SplitMix64 stream seeded from `seed` and the
//!    run's number on this executor (the first `compute` is run 0), and the
//!    ready set evolves only at round boundaries, in an order independent of
//!    timing. So a seed fixes the rounds, their start order and the thread
//!    each task runs on: [`ShuffledExecutor::last_schedule`] is the same on
//!    every replay. An order bug between tasks of different rounds comes back
//!    exactly; one between tasks of the same round comes back as likely as it
//!    first showed. With the default overlap of 1 (one task at a time) the
//!    seed fixes everything the tasks can observe, so every failure replays;
//!    `with_overlap(k)` lets `k` tasks overlap, which can also show data
//!    races between tasks, at the price of exact replay within a round.
//! 2. Each task is still run through [`Run::execute`], so results, errors,
//!    events and freeing follow `run.rs` as on every executor; plans are made
//!    without fusion, so every task is placed and ordered on its own.
//! 3. A worker that panics outside a task (a bug in rask) ends the run
//!    incomplete instead of hanging; task panics are task errors as always.
//!
//! Eager tasks (`submit`) are not shuffled: a client built on this executor
//! runs them as `sync` does.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use rask_core::{EventSink, Executor, Key, PlanOptions, Run, TaskId, WorkerId};

/// Most `yield_now`s before one task starts.
const MAX_YIELDS: u64 = 16;

/// Runs graphs in a seeded random order; see the module docs.
#[derive(Debug)]
pub struct ShuffledExecutor {
    seed: u64,
    threads: usize,
    overlap: usize,
    events: Option<EventSink>,
    runs: AtomicU64,
    last: Mutex<Vec<Vec<Key>>>,
}

impl ShuffledExecutor {
    /// Four threads, one task at a time, the order and the threads drawn
    /// from `seed`.
    pub fn new(seed: u64) -> Self {
        ShuffledExecutor {
            seed,
            threads: 4,
            overlap: 1,
            events: None,
            runs: AtomicU64::new(0),
            last: Mutex::new(Vec::new()),
        }
    }

    /// With `n` threads (at least 1); the overlap is capped at `n`.
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self.overlap = self.overlap.min(self.threads);
        self
    }

    /// At most `k` tasks running at once (at least 1, at most the threads;
    /// default 1, which makes a run fully reproducible from its seed).
    pub fn with_overlap(mut self, k: usize) -> Self {
        self.overlap = k.clamp(1, self.threads);
        self
    }

    /// Sends events to `events`.
    pub fn with_events(mut self, events: EventSink) -> Self {
        self.events = Some(events);
        self
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The rounds of the last run that finished: the keys started together,
    /// in the order they were started.
    pub fn last_schedule(&self) -> Vec<Vec<Key>> {
        lock(&self.last).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// SplitMix64: small, fast, and a different stream for every seed.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the bias is below 2^-32 for our sizes).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    fn yields(&mut self) {
        for _ in 0..self.below(MAX_YIELDS as usize + 1) {
            std::thread::yield_now();
        }
    }
}

/// A task handed to a worker.
struct Job {
    slot: usize,
    task: TaskId,
    yields: u64,
}

/// What a worker tells the dispatcher.
enum Report {
    Started,
    Done { slot: usize, readied: Vec<TaskId> },
    Broken,
}

impl Executor for ShuffledExecutor {
    fn name(&self) -> &'static str {
        "shuffled"
    }
    fn workers(&self) -> usize {
        self.threads
    }
    fn events(&self) -> Option<&EventSink> {
        self.events.as_ref()
    }
    fn plan_options(&self) -> PlanOptions {
        PlanOptions { fuse: false }
    }
    fn execute(&self, run: &Arc<Run>) {
        let number = self.runs.fetch_add(1, Ordering::Relaxed);
        let mut rng = Rng(self.seed ^ Rng(number).next());
        let schedule = std::thread::scope(|s| {
            let (report, reports) = channel::<Report>();
            let mut workers: Vec<Sender<Job>> = Vec::with_capacity(self.threads);
            for w in 0..self.threads {
                let (tx, rx) = channel::<Job>();
                workers.push(tx);
                let report = report.clone();
                let run = &**run;
                let spawned = std::thread::Builder::new()
                    .name(format!("rask-shuffled-{w}"))
                    .spawn_scoped(s, move || work(run, WorkerId(w as u32), &rx, &report));
                if spawned.is_err() {
                    // Fewer threads than asked for: run on those we have.
                    workers.pop();
                    break;
                }
            }
            drop(report);
            dispatch(run, &workers, &reports, self.overlap, &mut rng)
            // Dropping `workers` ends the threads; the scope joins them.
        });
        *lock(&self.last) = schedule;
    }
}

/// One worker: runs the tasks it is handed until the dispatcher hangs up.
fn work(run: &Run, id: WorkerId, jobs: &Receiver<Job>, report: &Sender<Report>) {
    while let Ok(job) = jobs.recv() {
        if report.send(Report::Started).is_err() {
            return;
        }
        for _ in 0..job.yields {
            std::thread::yield_now();
        }
        let mut readied = Vec::new();
        // `Run::execute` is an `unsafe fn` on main (its contract is rule 1
        // of `run.rs`); the block is a no-op where it is still safe.
        #[allow(unused_unsafe)]
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the dispatcher hands out each task once: a root, or a
            // task whose last dependency's `ready` named it (rule 1).
            unsafe { run.execute(job.task, id, |d| readied.push(d)) }
        }));
        let msg = match outcome {
            Ok(_) => Report::Done {
                slot: job.slot,
                readied,
            },
            Err(_) => {
                // Task panics are caught inside `execute`: this is a bug in
                // rask. Say so, as the pool does, and end the run (rule 3).
                tracing::error!(
                    task = job.task.0,
                    "internal error in the shuffled executor: run abandoned"
                );
                Report::Broken
            }
        };
        if report.send(msg).is_err() {
            return;
        }
    }
}

/// The dispatcher's loop (module docs, steps 1-3); returns the schedule.
fn dispatch(
    run: &Run,
    workers: &[Sender<Job>],
    reports: &Receiver<Report>,
    overlap: usize,
    rng: &mut Rng,
) -> Vec<Vec<Key>> {
    let plan = run.plan();
    let mut schedule = Vec::new();
    let mut ready: Vec<TaskId> = plan.roots().to_vec();
    let mut threads: Vec<usize> = (0..workers.len()).collect();
    let mut outcome: Vec<Option<Vec<TaskId>>> = Vec::new();
    while !ready.is_empty() && !workers.is_empty() {
        let width = 1 + rng.below(overlap.min(ready.len()).min(workers.len()));
        // A partial Fisher-Yates shuffle picks `width` distinct threads.
        for i in 0..width {
            let j = i + rng.below(threads.len() - i);
            threads.swap(i, j);
        }
        let mut round = Vec::with_capacity(width);
        outcome.clear();
        outcome.resize(width, None);
        let mut done = 0;
        for (slot, &thread) in threads.iter().take(width).enumerate() {
            let task = ready.swap_remove(rng.below(ready.len()));
            round.push(plan.key(task).clone());
            let yields = rng.below(MAX_YIELDS as usize + 1) as u64;
            if workers[thread].send(Job { slot, task, yields }).is_err() {
                return schedule;
            }
            // Wait until it has started before starting the next one.
            loop {
                match reports.recv() {
                    Ok(Report::Started) => break,
                    Ok(Report::Done { slot, readied, .. }) => {
                        outcome[slot] = Some(readied);
                        done += 1;
                    }
                    Ok(Report::Broken) | Err(_) => return schedule,
                }
            }
            rng.yields();
        }
        while done < width {
            match reports.recv() {
                Ok(Report::Done { slot, readied, .. }) => {
                    outcome[slot] = Some(readied);
                    done += 1;
                }
                Ok(Report::Started) => {}
                Ok(Report::Broken) | Err(_) => return schedule,
            }
        }
        schedule.push(round);
        let mut readied: Vec<TaskId> = outcome
            .iter_mut()
            .flat_map(|o| o.take())
            .flatten()
            .collect();
        // Which task of the round readied a dependent depends on timing;
        // the set does not. Keep the ready set's order timing-free (rule 1).
        readied.sort_unstable();
        ready.extend(readied);
    }
    schedule
}
