//! README "Worker processes": registered tasks on two worker processes
//! started from this binary.
//!
//! `cargo run --release --example processes` prints `5050 42`.

use rask::prelude::*;

#[rask::task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[rask::task]
fn add(x: u64, y: u64) -> u64 {
    x + y
}

fn main() -> rask::Result<()> {
    rask::init(); // first line of main: in a worker process, serves tasks and never returns

    let client = Client::processes(2);
    // `f::delayed` takes values or `Delayed`s; `f::submit` starts the call at once.
    let xs: Vec<Delayed<u64>> = (0..100).map(inc::delayed).collect();
    let total = xs.iter().skip(1).fold(xs[0].clone(), add::delayed);
    println!(
        "{} {}",
        total.compute(&client)?,
        add::submit(&client, 40, 2).result()?
    );
    Ok(())
}
