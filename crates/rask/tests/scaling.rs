//! Scaling a local deployment end to end: retiring workers (their values
//! move, nothing is computed again), on both transports, and adaptive
//! scaling (workers added under load, retired when idle). Worker processes
//! are this test binary started again (`main` calls `rask::init()` first),
//! so it runs without the libtest harness.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use rask::prelude::*;
use rask::{AdaptOptions, LocalCluster, LocalOptions, Transport};

mod workers;

/// A value made by one process: its index, that process's id, and 4 KiB so
/// that it is held on the worker (not sent back inline).
#[rask::task]
fn stamp(i: u64) -> (u64, u32, Vec<u8>) {
    (i, std::process::id(), vec![7; 4096])
}

#[rask::task]
fn indices(xs: Vec<(u64, u32, Vec<u8>)>) -> u64 {
    xs.iter().map(|x| x.0).sum()
}

#[rask::task]
fn slow(x: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    x * 2
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Persists 40 stamped values on 3 workers, retires the worker holding the
/// most that only it holds, and checks every value is still the one first
/// made (the same process id: not recomputed), and usable by a new graph.
fn retire_keeps_values(client: &Client) {
    let cluster = client.deployment().unwrap();
    let futs: Vec<Future<(u64, u32, Vec<u8>)>> = (0..40)
        .map(|i| client.persist(&stamp::delayed(i)))
        .collect();
    client
        .wait(&futs, WaitFor::All, Some(Duration::from_secs(60)))
        .unwrap();
    let pids = cluster.pids();
    assert_eq!(pids.len(), 3);
    let report = cluster.report().unwrap();
    let victim = report
        .workers
        .iter()
        .max_by_key(|w| w.only_here)
        .unwrap()
        .clone();
    assert!(victim.only_here > 0, "{report:?}");
    let victim_pid = pids[victim
        .name
        .trim_start_matches("local-")
        .parse::<usize>()
        .unwrap()];
    let t0 = Instant::now();
    cluster.retire(std::slice::from_ref(&victim.name)).unwrap();
    let took = t0.elapsed();
    let after = cluster.report().unwrap();
    assert_eq!(after.workers.len(), 2, "{after:?}");
    assert!(after.workers.iter().all(|w| w.name != victim.name));
    // The process ends by itself, and is not replaced.
    wait_until("the retired worker exits", Duration::from_secs(10), || {
        cluster.pids().len() == 2
    });
    assert!(!cluster.pids().contains(&victim_pid));
    assert_eq!(cluster.restarts(), 0);
    assert_eq!(cluster.requested(), 2);
    // Every value is the one first made, including those made by the
    // retired process: none was computed again.
    let mut by_victim = 0;
    for (i, f) in futs.iter().enumerate() {
        let (j, pid, pad) = f.result().unwrap();
        assert_eq!((j, pad.len()), (i as u64, 4096));
        assert!(pids.contains(&pid));
        by_victim += usize::from(pid == victim_pid);
    }
    assert!(
        by_victim > 0,
        "the retired worker's values are still served"
    );
    // A new graph over them runs on the two left.
    let all: Vec<Delayed<(u64, u32, Vec<u8>)>> = futs.iter().map(|f| f.as_delayed()).collect();
    assert_eq!(indices::delayed(all).compute(client).unwrap(), 780);
    println!(
        "    retired `{}` ({} KiB only there, {} of 40 values) in {took:.2?}",
        victim.name,
        victim.only_here / 1024,
        by_victim
    );
}

fn retiring_a_worker_over_tcp_moves_its_values() {
    let client = Client::local_cluster(3, 1).unwrap();
    retire_keeps_values(&client);
}

fn retiring_a_worker_process_moves_its_values_in_shared_memory() {
    let client = Client::try_processes(LocalOptions::new(3, 1, Transport::Local)).unwrap();
    retire_keeps_values(&client);
}

fn the_last_worker_is_not_retired_and_scale_goes_both_ways() {
    let client = Client::local_cluster(1, 1).unwrap();
    let cluster: &LocalCluster = client.deployment().unwrap();
    let err = cluster.retire(&["local-0".to_owned()]).unwrap_err();
    assert!(err.to_string().contains("last worker"), "{err}");
    assert_eq!(cluster.requested(), 1);
    cluster.scale(3).unwrap();
    cluster
        .wait_for_workers(3, Duration::from_secs(20))
        .unwrap();
    let x = client.persist(&stamp::delayed(5));
    client
        .wait(std::slice::from_ref(&x), WaitFor::All, None)
        .unwrap();
    cluster.scale(1).unwrap();
    assert_eq!(cluster.report().unwrap().workers.len(), 1);
    assert_eq!(x.result().unwrap().0, 5);
    assert_eq!(cluster.restarts(), 0);
}

fn adaptive_scaling_adds_workers_under_load_and_retires_them_when_idle() {
    let client = Client::local_cluster(1, 1).unwrap();
    let cluster = client.deployment().unwrap();
    let mut opts = AdaptOptions::new(1, 3);
    opts.interval = Duration::from_millis(200);
    cluster.adapt(opts).unwrap();
    // 30 tasks of 300 ms: 9 s of work for one thread, a 5 s target.
    let xs: Vec<Delayed<u64>> = (0..30).map(|i| slow::delayed(i, 300)).collect();
    let f = client.compute(workers::tree(xs));
    let t0 = Instant::now();
    wait_until("scaled up to 3", Duration::from_secs(20), || {
        cluster.report().unwrap().workers.len() == 3
    });
    let up = t0.elapsed();
    assert_eq!(f.result().unwrap(), 870);
    let t1 = Instant::now();
    wait_until("scaled down to 1", Duration::from_secs(20), || {
        cluster.report().unwrap().workers.len() == 1 && cluster.pids().len() == 1
    });
    let down = t1.elapsed();
    assert_eq!(cluster.restarts(), 0);
    cluster.stop_adapting();
    // Still works after.
    assert_eq!(slow::delayed(4, 1).compute(&client).unwrap(), 8);
    println!("    up to 3 workers in {up:.2?}; down to 1 in {down:.2?} after the work");
}

fn main() {
    rask::init();
    let checks: &[(&str, fn())] = &[
        (
            "retiring_a_worker_over_tcp_moves_its_values",
            retiring_a_worker_over_tcp_moves_its_values,
        ),
        (
            "retiring_a_worker_process_moves_its_values_in_shared_memory",
            retiring_a_worker_process_moves_its_values_in_shared_memory,
        ),
        (
            "the_last_worker_is_not_retired_and_scale_goes_both_ways",
            the_last_worker_is_not_retired_and_scale_goes_both_ways,
        ),
        (
            "adaptive_scaling_adds_workers_under_load_and_retires_them_when_idle",
            adaptive_scaling_adds_workers_under_load_and_retires_them_when_idle,
        ),
    ];
    let (ran, failed) = workers::run_checks(checks, || None);
    workers::finish(ran, failed)
}
