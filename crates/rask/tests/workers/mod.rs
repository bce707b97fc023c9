//! What the tests that spawn worker processes share: the runner (those binaries run
//! without libtest, because a worker is the test binary started again and
//! libtest's `main` would not call `rask::init()`), and registered functions
//! both use (each binary must register its own; this module is compiled into
//! each).

#![allow(dead_code)]

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

#[rask::task]
pub(crate) fn inc(x: u64) -> u64 {
    x + 1
}

#[rask::task]
pub(crate) fn add(x: u64, y: u64) -> u64 {
    x + y
}

#[rask::task]
pub(crate) fn sum_all(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[rask::task]
pub(crate) fn ramp(n: u64) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

#[rask::task]
pub(crate) fn total(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

/// A pairwise tree of `add`s over `leaves` (an odd one is carried up).
pub(crate) fn tree(leaves: Vec<rask::Delayed<u64>>) -> rask::Delayed<u64> {
    let mut xs = leaves;
    while xs.len() > 1 {
        let mut next: Vec<rask::Delayed<u64>> = xs
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| add::delayed(&c[0], &c[1]))
            .collect();
        if xs.len() % 2 == 1 {
            next.push(xs[xs.len() - 1].clone());
        }
        xs = next;
    }
    xs.pop().unwrap_or_else(|| inc::delayed(0))
}

/// Runs the checks whose names contain one of the command line's words (all
/// if none), each caught and timed; `after` looks for what a check left
/// behind (a message makes it fail). Returns (ran, failed).
pub(crate) fn run_checks(
    checks: &[(&str, fn())],
    after: impl Fn() -> Option<String>,
) -> (usize, usize) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut ran, mut failed) = (0, 0);
    for (name, check) in checks {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let t0 = Instant::now();
        let ok = catch_unwind(AssertUnwindSafe(check)).is_ok();
        let left = after();
        let pass = ok && left.is_none();
        println!(
            "test {name} ... {} ({:.2?}){}",
            if pass { "ok" } else { "FAILED" },
            t0.elapsed(),
            left.map(|l| format!(" {l}")).unwrap_or_default()
        );
        if !pass {
            failed += 1;
        }
    }
    (ran, failed)
}

/// Prints the summary line and exits with the right status.
pub(crate) fn finish(ran: usize, failed: usize) -> ! {
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        ran - failed.min(ran)
    );
    std::process::exit(i32::from(failed > 0));
}

/// Log lines of this process (where the scheduler of a `LocalCluster`
/// runs), for assertions: [`capture_logs`] sends `tracing`'s INFO and above
/// here.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the subscriber that keeps this process's log lines.
pub(crate) fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_writer(|| LogWriter)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_ansi(false)
        .try_init();
}

/// Whether a log line so far contains `what`.
pub(crate) fn logged(what: &str) -> bool {
    logs_since(0).contains(what)
}

/// How many bytes were logged so far (a mark for [`logs_since`]).
pub(crate) fn log_len() -> usize {
    LOGS.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len()
}

/// What was logged after the mark `at`.
pub(crate) fn logs_since(at: usize) -> String {
    String::from_utf8_lossy(
        &LOGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[at..],
    )
    .into_owned()
}
