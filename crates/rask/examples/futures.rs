//! README "Futures: work that starts now": `map`, `submit`, per-task
//! settings, `as_completed`, `wait`, a task that submits tasks, and a retried
//! task whose error says which attempt failed.
//!
//! `cargo run --release --example futures` prints
//! `328350 42 500500` and the retried task's error.

use rask::prelude::*;
use std::time::Duration;

fn main() -> rask::Result<()> {
    let client = Client::threads();

    // Eager: each task starts at once. A future passed as an argument is a dependency.
    let squares: Vec<Future<u64>> = client.map(|x: u64| x * x, 0..100u64);
    let total = client.submit(|xs: Vec<u64>| xs.iter().sum::<u64>(), (&squares,));

    // Per-task settings: a key, retries, a timeout, a priority.
    let parsed = client
        .task()
        .key(("parse", 7))
        .retries(2)
        .timeout(Duration::from_secs(5))
        .priority(10)
        .try_submit(|| "42".parse::<u64>(), ());

    // Results in completion order; `wait` for all or the first, with a timeout.
    let first_done = client
        .as_completed(squares.clone())
        .next()
        .map(|f| f.result());
    assert!(first_done.is_some());
    client.wait(&squares, WaitFor::All, Some(Duration::from_secs(10)))?;

    // A task that waits on tasks it submits gives its thread back meanwhile.
    let nested = client.submit(
        || -> u64 {
            let inner = get_client().expect("inside a task");
            let parts = inner.map(|i: u64| i + 1, 0..1000u64);
            inner.gather(&parts).expect("subtasks").iter().sum()
        },
        (),
    );
    println!(
        "{} {} {}",
        total.result()?,
        parsed.result()?,
        nested.result()?
    );

    // A task retried twice that always fails: the error names the last attempt.
    let flaky = client
        .task()
        .key(("fetch", 3))
        .retries(2)
        .try_submit(|| "x".parse::<u64>(), ());
    if let Err(e) = flaky.result() {
        println!("{e}");
    }
    Ok(())
}
