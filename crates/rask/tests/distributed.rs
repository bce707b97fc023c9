//! The distributed runtime end to end: a scheduler in this process and
//! worker processes (this test binary started again; its `main` calls
//! `rask::init()` first), over loopback TCP with a secret. Runs without the
//! libtest harness for that reason.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::distributed::wire::{Secret, WireConfig, WireError};
use rask::prelude::*;
use rask::{LocalCluster, TaskErrorKind};

#[rask::task]
fn inc(x: u64) -> u64 {
    x + 1
}

#[rask::task]
fn add(x: u64, y: u64) -> u64 {
    x + y
}

#[rask::task]
fn sum_all(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

#[rask::task]
fn slow_inc(x: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    x + 1
}

#[rask::task]
fn fails_at_three(x: u64) -> u64 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

#[rask::task]
fn ramp(n: u64) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

#[rask::task]
fn total(v: Vec<f64>) -> f64 {
    v.iter().sum()
}

#[rask::task]
fn whoami(x: u64) -> (u64, u32) {
    (x, std::process::id())
}

#[rask::task]
fn mix(a: u64, b: u64, seed: u64) -> u64 {
    if seed % 31 == 7 {
        panic!("node with seed {seed} fails");
    }
    a.rotate_left(7) ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed
}

fn tree(leaves: Vec<Delayed<u64>>) -> Delayed<u64> {
    let mut xs = leaves;
    while xs.len() > 1 {
        let mut next: Vec<Delayed<u64>> = xs
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| add::delayed(&c[0], &c[1]))
            .collect();
        if xs.len() % 2 == 1 {
            next.push(xs[xs.len() - 1].clone());
        }
        xs = next;
    }
    xs.pop().unwrap()
}

fn graphs_of_registered_tasks_run_on_the_cluster() {
    let client = Client::local_cluster(2, 2).unwrap();
    let n = 2000;
    let t = tree((0..n).map(inc::delayed).collect());
    assert_eq!(t.compute(&client).unwrap(), n * (n + 1) / 2);
    // A gather (k-ary input) and eager submission.
    let parts: Vec<Delayed<u64>> = (0..10).map(inc::delayed).collect();
    assert_eq!(sum_all::delayed(parts).compute(&client).unwrap(), 55);
    assert_eq!(add::submit(&client, 40, 2).result().unwrap(), 42);
    // Work spreads over both workers, none of it runs here.
    let pids: Vec<Delayed<(u64, u32)>> = (0..64).map(whoami::delayed).collect();
    let got = client.get(&pids).unwrap();
    let mut seen: Vec<u32> = got.iter().map(|p| p.1).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(!seen.contains(&std::process::id()));
    // Big values move worker to worker and back.
    let m = 1 << 20;
    let v = ramp::delayed(m);
    let s = total::delayed(&v);
    let (s, v) = client.get(&(s, v)).unwrap();
    assert_eq!(s, (m * (m - 1) / 2) as f64);
    assert_eq!(v.len(), m as usize);
}

fn failures_name_the_task_and_spare_the_rest() {
    let client = Client::local_cluster(2, 1).unwrap();
    let leaves: Vec<Delayed<u64>> = (0..6).map(fails_at_three::delayed).collect();
    let bad = add::delayed(&leaves[2], &leaves[3]);
    let good = add::delayed(&leaves[4], &leaves[5]);
    let (b, g) = (bad.compute(&client), good.compute(&client));
    let e = b.unwrap_err();
    let te = e.as_task().unwrap();
    assert!(
        matches!(te.kind, TaskErrorKind::DependencyFailed { .. }),
        "{e}"
    );
    assert_eq!(te.root().kind, TaskErrorKind::Panicked);
    assert!(e.to_string().contains("three is not allowed"), "{e}");
    assert_eq!(g.unwrap(), 9);
    // A closure cannot run on the cluster: refused by name.
    let closure = task("my_closure").delayed(|| 5u64, ());
    let e = inc::delayed(&closure).compute(&client).unwrap_err();
    let root = e.as_task().unwrap().root();
    assert_eq!(root.kind, TaskErrorKind::NotRegistered);
    assert!(root.to_string().contains("my_closure"), "{root}");
}

fn random_graphs_match_the_sync_executor() {
    let client = Client::local_cluster(3, 1).unwrap();
    let sync = Client::sync();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };
    for round in 0..15 {
        let size = 5 + next(80) as usize;
        let mut nodes: Vec<Delayed<u64>> = Vec::new();
        for i in 0..size {
            let seed = next(1 << 20);
            let node = if i == 0 {
                inc::delayed(seed)
            } else {
                let a = nodes[next(i as u64) as usize].clone();
                let b = nodes[next(i as u64) as usize].clone();
                mix::delayed(a, b, seed)
            };
            nodes.push(node);
        }
        let outs: Vec<Delayed<u64>> = (0..3)
            .map(|_| nodes[next(size as u64) as usize].clone())
            .collect();
        for out in &outs {
            let want = out.compute(&sync).map_err(|e| e.to_string());
            let got = out.compute(&client).map_err(|e| e.to_string());
            assert_eq!(got, want, "round {round}");
        }
    }
}

fn a_killed_worker_is_recovered_from_lineage() {
    let mut cluster = LocalCluster::new(3, 1).unwrap();
    let client = Client::connect_with(&cluster.addr().to_string(), cluster.wire()).unwrap();
    // A map, a tree reduce and an all-to-all step, while a worker dies.
    let xs: Vec<Delayed<u64>> = (0..200).map(|i| slow_inc::delayed(i, 2)).collect();
    let sums: Vec<Delayed<u64>> = (0..20)
        .map(|k| sum_all::delayed(xs[k * 10..k * 10 + 10].to_vec()))
        .collect();
    let mixed: Vec<Delayed<u64>> = (0..20)
        .map(|k| add::delayed(&sums[k], &sums[(k + 7) % 20]))
        .collect();
    let all = tree(mixed);
    let want = all.compute(&Client::sync()).unwrap();
    let f = client.compute(all);
    std::thread::sleep(Duration::from_millis(150));
    cluster.kill_worker(0).unwrap();
    let t0 = Instant::now();
    assert_eq!(f.result().unwrap(), want);
    assert!(t0.elapsed() < Duration::from_secs(60));
}

fn shared_variables_live_on_the_scheduler() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let a = cluster.connect().unwrap();
    let b = cluster.connect().unwrap();
    a.set_var("threshold", &0.75f64).unwrap();
    assert_eq!(b.get_var::<f64>("threshold").unwrap(), Some(0.75));
    assert_eq!(b.get_var::<f64>("nothing").unwrap(), None);
}

fn bad_peers_get_typed_errors_and_the_rest_is_served() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let addr = cluster.addr().to_string();
    // Wrong secret.
    let wrong = WireConfig::default().with_secret(Secret::new("not the secret"));
    match rask::Connection::connect(&addr, wrong) {
        Err(rask::distributed::Error::Wire(WireError::AuthFailed(_))) => {}
        other => panic!("wrong secret: {other:?}"),
    }
    // No secret at all.
    assert!(rask::Connection::connect(&addr, WireConfig::default()).is_err());
    // Garbage bytes and an oversized frame header, then hang up.
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3][..],
    ] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(junk);
        drop(s);
    }
    // Everyone else is still served.
    let conn = cluster.connect().unwrap();
    let client = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(add::delayed(1, 2).compute(&client).unwrap(), 3);
    drop(conn);
    let _ = Arc::new(());
}

fn main() {
    rask::init();
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let checks: &[(&str, fn())] = &[
        (
            "graphs_of_registered_tasks_run_on_the_cluster",
            graphs_of_registered_tasks_run_on_the_cluster,
        ),
        (
            "failures_name_the_task_and_spare_the_rest",
            failures_name_the_task_and_spare_the_rest,
        ),
        (
            "random_graphs_match_the_sync_executor",
            random_graphs_match_the_sync_executor,
        ),
        (
            "a_killed_worker_is_recovered_from_lineage",
            a_killed_worker_is_recovered_from_lineage,
        ),
        (
            "shared_variables_live_on_the_scheduler",
            shared_variables_live_on_the_scheduler,
        ),
        (
            "bad_peers_get_typed_errors_and_the_rest_is_served",
            bad_peers_get_typed_errors_and_the_rest_is_served,
        ),
    ];
    let mut failed = 0;
    let mut ran = 0;
    for (name, check) in checks {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let t0 = Instant::now();
        let ok = catch_unwind(AssertUnwindSafe(check)).is_ok();
        println!(
            "test {name} ... {} ({:.2?})",
            if ok { "ok" } else { "FAILED" },
            t0.elapsed()
        );
        if !ok {
            failed += 1;
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" },
        ran - failed
    );
    std::process::exit(i32::from(failed > 0));
}
