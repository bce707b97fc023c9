//! README "Async tasks": 10,000 waits of 20 ms overlap on the client's tokio
//! runtime, then one compute task over their results.
//!
//! `cargo run --release --example async_tasks` prints
//! `88890 bytes from 10000 async tasks in ...`.

use rask::prelude::*;
use std::time::{Duration, Instant};

fn main() -> rask::Result<()> {
    let client = Client::threads();
    let t0 = Instant::now();
    // `async` tasks run on a tokio runtime the client owns, never on the compute threads.
    let pages: Vec<Future<String>> = (0..10_000u64)
        .map(|i| {
            client.submit_async(
                move || async move {
                    tokio::time::sleep(Duration::from_millis(20)).await; // stands for a request
                    format!("page {i}")
                },
                (),
            )
        })
        .collect();
    // One graph may mix both kinds: a compute task over async results.
    let bytes = client.submit(
        |ps: Vec<String>| ps.iter().map(String::len).sum::<usize>(),
        (&pages,),
    );
    let n = bytes.result()?;
    println!(
        "{n} bytes from 10000 async tasks in {:.2} s (the waits overlap)",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
