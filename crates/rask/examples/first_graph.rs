//! README "A first graph": a lazy graph of 65 keyed tasks on the threads
//! executor, with the progress bar.
//!
//! `cargo run --release --example first_graph` prints `sum of 64,000 values: 2047968000`.

use rask::prelude::*;

fn load(part: u64) -> Vec<f64> {
    (0..1000).map(|i| (part * 1000 + i) as f64).collect()
}

fn total(parts: Vec<Vec<f64>>) -> f64 {
    parts.iter().flatten().sum()
}

fn main() -> rask::Result<()> {
    // Lazy: nothing runs yet. Every `Delayed` passed as an argument is a dependency.
    let parts: Vec<Delayed<Vec<f64>>> = (0..64)
        .map(|p| task(("load", p)).delayed(move || load(p), ()))
        .collect();
    let sum = task("total").delayed(total, (parts,));

    let client = Client::threads().with_progress(); // or Client::sync() to debug
    println!("sum of 64,000 values: {}", sum.compute(&client)?);
    Ok(())
}
