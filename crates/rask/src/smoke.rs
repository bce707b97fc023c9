//! A smoke test for a deployment: a graph of registered tasks, a value
//! moved between workers, and a chunked array, computed on a client and
//! each checked against the answer computed here. `rask check --cluster
//! ADDRESS` runs it after deploying (Slurm, containers, Kubernetes,
//! systemd); the tasks are registered in every binary that links `rask`,
//! so the `rask` binary's workers run them.

use std::collections::HashSet;
use std::time::Instant;

use rask_core::{Delayed, Executor};

/// Leaves of the graph.
#[rask_macros::task(crate = rask_client)]
fn smoke_leaf(i: u64) -> u64 {
    i * i + 1
}

/// A reduction step.
#[rask_macros::task(crate = rask_client)]
fn smoke_sum(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

/// A value big enough to be held on its worker and fetched by another.
#[rask_macros::task(crate = rask_client)]
fn smoke_ramp(n: u64) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

/// Reads a fetched value.
#[rask_macros::task(crate = rask_client)]
fn smoke_total(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

/// A probe for deployment tests: `i`, the id of the process that made it,
/// and `bytes` bytes (so that it is held on its worker rather than sent
/// back inline): a value computed again shows another process id.
#[rask_macros::task(crate = rask_client)]
pub fn stamp(i: u64, bytes: u64) -> (u64, u32, Vec<u8>) {
    (i, std::process::id(), vec![0x5a; bytes as usize])
}

/// A probe for deployment tests: `i` after `ms` milliseconds of sleep (work
/// that takes time, for scaling).
#[rask_macros::task(crate = rask_client)]
pub fn nap(i: u64, ms: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    i
}

/// A probe for deployment tests: the name of the worker that ran it (its
/// host name where there is none) and its process id.
#[rask_macros::task(crate = rask_client)]
pub fn whereabouts(i: u64) -> (u64, String, u32) {
    let name = rask_core::task_context()
        .map(|c| c.worker.to_string())
        .unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default()
        });
    (i, name, std::process::id())
}

/// What a passing smoke test saw.
#[derive(Clone, Debug, PartialEq)]
pub struct SmokeReport {
    /// Tasks computed.
    pub tasks: usize,
    /// Distinct workers that ran the probe tasks.
    pub workers: usize,
    /// Whether a value was fetched by one worker from another (there were
    /// two or more).
    pub moved: bool,
    /// Seconds it took.
    pub seconds: f64,
}

/// A smoke test that failed: what, and why.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    /// A computation failed.
    #[error("{what}: {error}")]
    Failed {
        /// Which part.
        what: &'static str,
        /// Its error.
        error: String,
    },
    /// A computation gave a wrong answer.
    #[error("{what}: got {got}, want {want}")]
    Wrong {
        /// Which part.
        what: &'static str,
        /// The answer.
        got: String,
        /// The right one.
        want: String,
    },
}

fn failed(what: &'static str) -> impl Fn(rask_core::Error) -> SmokeError {
    move |e| SmokeError::Failed {
        what,
        error: e.to_string(),
    }
}

fn expect<T: PartialEq + std::fmt::Debug>(
    what: &'static str,
    got: T,
    want: T,
) -> Result<(), SmokeError> {
    if got == want {
        Ok(())
    } else {
        Err(SmokeError::Wrong {
            what,
            got: format!("{got:?}"),
            want: format!("{want:?}"),
        })
    }
}

/// Runs the smoke test on `executor` (a cluster's client, usually).
pub fn check<E: Executor + ?Sized>(executor: &E) -> Result<SmokeReport, SmokeError> {
    let t0 = Instant::now();
    let mut tasks = 0;
    // A two-level tree over 400 leaves.
    let leaves: Vec<Delayed<u64>> = (0..400).map(smoke_leaf::delayed).collect();
    let groups: Vec<Delayed<u64>> = leaves
        .chunks(20)
        .map(|c| smoke_sum::delayed(c.to_vec()))
        .collect();
    let total = smoke_sum::delayed(groups)
        .compute(executor)
        .map_err(failed("a graph"))?;
    tasks += 421;
    let want: u64 = (0..400u64).map(|i| i * i + 1).sum();
    expect("a graph", total, want)?;
    // Where the probes ran.
    let probes: Vec<Delayed<(u64, String, u32)>> = (0..64).map(whereabouts::delayed).collect();
    let seen = rask_core::compute(executor, &probes).map_err(failed("probes"))?;
    tasks += 64;
    let workers: HashSet<String> = seen.into_iter().map(|(_, w, _)| w).collect();
    // 8 MiB made on one worker and read on another (where there are two).
    let mut names: Vec<&str> = workers.iter().map(String::as_str).collect();
    names.sort_unstable();
    let n = 1 << 20;
    let (made, read) = match names[..] {
        [a, b, ..] => (smoke_ramp::delayed(n).workers(&[a]), Some(b)),
        _ => (smoke_ramp::delayed(n), None),
    };
    let total = match read {
        Some(b) => smoke_total::delayed(made).workers(&[b]),
        None => smoke_total::delayed(made),
    };
    let got = total
        .compute(executor)
        .map_err(failed("a value moved between workers"))?;
    tasks += 2;
    expect(
        "a value moved between workers",
        got,
        (n * (n - 1) / 2) as f64,
    )?;
    #[cfg(feature = "array")]
    {
        use rask_array::{self as ra, Axes};
        let arr = |what: &'static str| {
            move |e: ra::ArrayError| SmokeError::Failed {
                what,
                error: e.to_string(),
            }
        };
        let x = ra::random(7, &[600, 600], 150).map_err(arr("an array"))?;
        let y = x
            .add(&x.T())
            .map_err(arr("an array"))?
            .sum(Axes::All)
            .map_err(arr("an array"))?;
        let got: f64 = y.compute_scalar(executor).map_err(arr("an array"))?;
        let here: f64 = y
            .compute_scalar(&rask_local::SyncExecutor::default())
            .map_err(arr("an array (here)"))?;
        tasks += 16 * 3;
        if (got - here).abs() > 1e-9 * here.abs().max(1.0) {
            return Err(SmokeError::Wrong {
                what: "an array",
                got: got.to_string(),
                want: here.to_string(),
            });
        }
    }
    Ok(SmokeReport {
        tasks,
        workers: workers.len(),
        moved: read.is_some(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
