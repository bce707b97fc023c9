//! README "Seeing inside a run": records a run, then writes the graph
//! picture, the HTML performance report and a Chrome trace.
//!
//! `cargo run --release --example diagnostics` prints the three paths.

use rask::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::threads().with_recorder(); // records every run of this client
    let parts: Vec<Delayed<u64>> = (0..100)
        .map(|i| task(("load", i)).delayed(move || i * i, ()))
        .collect();
    let total = task("total").delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (parts,));
    let dir = std::env::temp_dir();
    rask::visualize(&total)?.write(dir.join("graph.svg"))?; // DOT or SVG
    println!("total: {}", total.compute(&client)?);
    let report = client.report(dir.join("report.html"))?; // one HTML file
    client.write_trace(dir.join("trace.json"))?; // chrome://tracing, Perfetto
    println!("graph: {}", dir.join("graph.svg").display());
    println!("report: {}", report.display());
    println!("trace: {}", dir.join("trace.json").display());
    Ok(())
}
