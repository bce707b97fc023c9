//! An array larger than this machine's memory (32 GiB of seeded uniform
//! numbers, 4096 chunks of 8 MiB) is summed in bounded memory: chunks are
//! generated as the threaded executor gets to them and freed as soon as
//! their partial sum is taken, so peak RSS stays under 2 GiB.
//!
//! Release builds only (CI runs `cargo test --release -p rask-array --test big`);
//! ignored in debug builds, where it would take minutes.

use std::time::Instant;

use rask_array::{self as ra, Axes};
use rask_client::Client;

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[test]
#[cfg_attr(debug_assertions, ignore = "release only: 32 GiB of numbers")]
fn a_32_gib_array_is_summed_in_bounded_memory() {
    let n = 65_536; // n * n * 8 bytes = 32 GiB
    let x = ra::random(2026, &[n, n], 1024).expect("graph");
    assert_eq!(x.nbytes(), 32 << 30);
    assert_eq!(x.blocks().len(), 4096);
    let total = x.sum(Axes::All).expect("graph");
    let t0 = Instant::now();
    let s: f64 = total.compute_scalar(&Client::threads()).expect("compute");
    let secs = t0.elapsed().as_secs_f64();
    let mean = s / (n as f64 * n as f64);
    let peak = peak_rss_bytes();
    eprintln!(
        "32 GiB summed in {secs:.1} s, mean {mean:.6}, peak RSS {:.0} MiB",
        peak as f64 / (1 << 20) as f64
    );
    assert!((mean - 0.5).abs() < 1e-4, "mean {mean}");
    assert!(peak < 2 << 30, "peak RSS {peak} bytes");
}
