//! README "When a task fails": one task of 64 panics; its dependents say
//! which dependency failed and carry the root cause; the independent branch
//! still completes.
//!
//! `cargo run --release --example failures` prints the error chain and
//! `the other branch: 2016`.

use rask::prelude::*;

fn main() -> rask::Result<()> {
    let client = Client::threads();
    let leaves: Vec<Delayed<u64>> = (0..64u64)
        .map(|i| {
            task(("leaf", i)).delayed(
                move || {
                    assert!(i != 42, "leaf {i} hit a bad record");
                    i
                },
                (),
            )
        })
        .collect();
    let total = task("total").delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (leaves,));
    let other: Vec<Delayed<u64>> = (0..64u64)
        .map(|i| task(("other", i)).delayed(move || i, ()))
        .collect();
    let other = task("other-total").delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (other,));
    match total.compute(&client) {
        Err(e) => {
            println!("{e}");
            if let Some(t) = e.as_task() {
                println!("root cause: task `{}` ({:?})", t.root().key, t.root().kind);
            }
        }
        Ok(v) => println!("unexpected: {v}"),
    }
    println!("the other branch: {}", other.compute(&client)?);
    Ok(())
}
