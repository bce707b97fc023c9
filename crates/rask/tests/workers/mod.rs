//! What the tests that spawn worker processes share: the runner (those binaries run
//! without libtest, because a worker is the test binary started again and
//! libtest's `main` would not call `rask::init()`), and registered functions
//! both use (each binary must register its own; this module is compiled into
//! each).

#![allow(dead_code)]

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
