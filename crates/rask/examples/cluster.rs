//! README "A cluster": a scheduler in this process and two worker processes
//! over loopback TCP with a fresh secret.
//!
//! `cargo run --release --example cluster` prints `sum on 2 workers: 5050`.

use rask::prelude::*;

#[rask::task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[rask::task]
fn sum_all(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    rask::init(); // in a worker process: serves tasks and never returns

    let client = Client::local_cluster(2, 1)?; // 2 workers, 1 compute thread each
                                               // or: let client = Client::connect("10.0.0.5:8786")?;  (secret from RASK_SECRET)
    let parts: Vec<Delayed<u64>> = (0..100).map(inc::delayed).collect();
    println!(
        "sum on 2 workers: {}",
        sum_all::delayed(parts).compute(&client)?
    );
    Ok(())
}
