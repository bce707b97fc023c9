//! README "A first graph", the keyed form: tasks named by tuple keys that
//! name their dependencies by key, a tree sum, and a cycle refused before
//! anything runs.
//!
//! `cargo run --release --example keyed_graph` prints the total (`total = 28`)
//! and the refused cycle.

use rask::prelude::*;

/// Adds every input of a task.
fn add_inputs(inputs: &mut Inputs<'_>) -> Result<u64, TaskFailure> {
    let mut s = 0;
    while inputs.remaining() > 0 {
        s += inputs.take::<u64>()?;
    }
    Ok(s)
}

fn main() -> rask::Result<()> {
    let mut g = Graph::new();
    for i in 0..8u64 {
        g.insert(("load", i), Vec::<Key>::new(), move |_: &mut Inputs<'_>| {
            Ok::<_, TaskFailure>(i)
        });
    }
    // A pairwise tree: ("sum", depth, j) adds two tasks of the level below.
    let mut below: Vec<Key> = (0..8u64).map(|i| Key::from(("load", i))).collect();
    let mut depth = 1u32;
    while below.len() > 1 {
        let level: Vec<Key> = below
            .chunks(2)
            .enumerate()
            .map(|(j, pair)| {
                let key = Key::from(("sum", depth, j));
                g.insert(key.clone(), pair.to_vec(), add_inputs);
                key
            })
            .collect();
        below = level;
        depth += 1;
    }
    let client = Client::threads();
    let root = below.remove(0);
    let total: u64 = g.compute(&client, root.clone())?;
    println!("{root} = {total}");
    g.insert("total", [root], add_inputs);
    println!("total = {}", g.compute::<u64, _>(&client, "total")?);

    // A graph that cannot run is refused with the keys on the cycle.
    let mut bad = Graph::new();
    bad.insert("a", ["b"], add_inputs);
    bad.insert("b", ["a"], add_inputs);
    match bad.compute::<u64, _>(&client, "a") {
        Err(e) => println!("refused: {e}"),
        Ok(v) => println!("unexpected: {v}"),
    }
    Ok(())
}
