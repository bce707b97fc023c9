//! README "Testing your graphs": a graph with a hidden ordering bug gives
//! the right answer on `Client::sync()`, and `Client::shuffled(seed)` finds
//! a seed that breaks it and replays it.
//!
//! `cargo run --release --example shuffled` prints the seed that fails.

use rask::prelude::*;
use std::sync::{Arc, Mutex};

fn total() -> Delayed<u64> {
    let cache = Arc::new(Mutex::new(0u64));
    let c = cache.clone();
    let load = task("load").delayed(
        move || {
            *c.lock().expect("lock") = 6;
            0u64
        },
        (),
    );
    // The bug: `report` reads what `load` writes without depending on it.
    let report = task("report").delayed(move || *cache.lock().expect("lock"), ());
    delayed(|a: u64, b: u64| a + b, (load, report))
}

fn main() -> rask::Result<()> {
    println!("sync: {}", total().compute(&Client::sync())?);
    for seed in 0..64 {
        let v = total().compute(&Client::shuffled(seed))?;
        if v != 6 {
            let again = total().compute(&Client::shuffled(seed))?;
            println!("seed {seed} gives {v}, and again {again}: an ordering bug");
            return Ok(());
        }
    }
    println!("no seed of 64 found a difference");
    Ok(())
}
