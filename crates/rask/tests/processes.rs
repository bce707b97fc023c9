//! Worker processes: registered tasks run in child processes of this test
//! binary (its `main` calls `rask::init()` first, as every program using
//! `Client::processes` must). Runs without the libtest harness: a worker is
//! this binary started again, and libtest's `main` would not call `init`.
//!
//! Each check leaves no process and no `/dev/shm` entry behind; the last
//! check asserts it.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use rask::prelude::*;

mod workers;
use rask::{LocalOptions, Placement, TaskErrorKind, Transport};
use workers::{add, inc, ramp, sum_all, total};

#[rask::task]
fn fails_at_three(x: u64) -> u64 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

#[rask::task]
fn parse(s: String) -> Result<u64, std::num::ParseIntError> {
    s.parse()
}

#[rask::task]
fn whoami(x: u64) -> (u64, u32) {
    (x, std::process::id())
}

#[rask::task]
fn slow(x: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    x
}

#[rask::task]
fn crash(x: u64) -> u64 {
    if x > 0 {
        std::process::abort();
    }
    x
}

#[rask::task]
fn mix0(seed: u64) -> u64 {
    check(seed);
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7
}

#[rask::task]
fn mix1(a: u64, seed: u64) -> u64 {
    check(seed);
    a.rotate_left(5) ^ seed
}

#[rask::task]
fn mix2(a: u64, b: u64, seed: u64) -> u64 {
    check(seed);
    a.wrapping_add(b.rotate_left(17)) ^ seed
}

#[rask::task]
fn mix3(a: u64, b: u64, c: u64, seed: u64) -> u64 {
    check(seed);
    a.wrapping_mul(3) ^ b.wrapping_add(c) ^ seed
}

/// A node fails when its seed says so (about one in forty).
fn check(seed: u64) {
    if seed % 40 == 7 {
        panic!("node with seed {seed} fails");
    }
}

fn pool(n: usize) -> Client {
    Client::processes(n)
}

fn pids(c: &Client) -> Vec<u32> {
    c.deployment().unwrap().pids()
}

fn tree(n: u64) -> Delayed<u64> {
    workers::tree((0..n).map(inc::delayed).collect())
}

fn a_tree_of_registered_tasks_gives_the_right_sum() {
    for placement in [
        Placement::EarliestStart,
        Placement::LeastLoaded,
        Placement::RoundRobin,
        Placement::Weighted,
    ] {
        let mut opts = LocalOptions::new(2, 1, Transport::Local);
        opts.scheduler.core.placement = placement;
        let pool = Client::try_processes(opts).unwrap();
        let n = 3000;
        assert_eq!(
            tree(n).compute(&pool).unwrap(),
            n * (n + 1) / 2,
            "{placement:?}"
        );
    }
    // A list of delayed values where a function takes a `Vec` (a gather),
    // the same everywhere: tree sums with fan-in 3 over 1000 leaves.
    let fan_in = |n: u64| {
        let mut xs: Vec<Delayed<u64>> = (0..n).map(inc::delayed).collect();
        while xs.len() > 1 {
            xs = xs.chunks(3).map(sum_all::delayed).collect();
        }
        xs.pop().unwrap()
    };
    let big = fan_in(1000);
    let empty = sum_all::delayed(Vec::<Delayed<u64>>::new());
    for c in [Client::sync(), Client::threads(), Client::processes(2)] {
        assert_eq!(big.compute(&c).unwrap(), 500_500);
        assert_eq!(empty.compute(&c).unwrap(), 0);
    }
    // Through a client, lazily and eagerly.
    let client = Client::processes(2);
    assert_eq!(tree(100).compute(&client).unwrap(), 5050);
    let f = add::submit(&client, 40, 2);
    assert_eq!(f.result().unwrap(), 42);
    // Work spreads over both workers, and none of it runs here.
    let pids: Vec<Delayed<(u64, u32)>> = (0..64).map(whoami::delayed).collect();
    let got = client.get(&pids).unwrap();
    let mut seen: Vec<u32> = got.iter().map(|p| p.1).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(!seen.contains(&std::process::id()));
}

fn failures_name_the_task_and_spare_the_rest() {
    let pool = pool(2);
    // A panic in a worker: the task's error names it and carries the message;
    // its dependents say which dependency failed; the other branch completes.
    let leaves: Vec<Delayed<u64>> = (0..6).map(fails_at_three::delayed).collect();
    let sum = add::delayed(&leaves[2], &leaves[3]);
    let fine = add::delayed(&leaves[4], &leaves[5]);
    let (bad, good) = pool_get(&pool, &sum, &fine);
    let e = bad.unwrap_err();
    let te = e.as_task().unwrap();
    assert!(
        matches!(te.kind, TaskErrorKind::DependencyFailed { .. }),
        "{e}"
    );
    assert_eq!(te.root().kind, TaskErrorKind::Panicked);
    assert!(e.to_string().contains("three is not allowed"), "{e}");
    assert_eq!(good.unwrap(), 9);

    // A returned error.
    let e = parse::delayed("x7".to_owned()).compute(&pool).unwrap_err();
    assert_eq!(e.as_task().unwrap().kind, TaskErrorKind::Failed);
    assert!(e.to_string().contains("invalid digit"), "{e}");
    assert_eq!(parse::delayed("77".to_owned()).compute(&pool).unwrap(), 77);

    // A closure cannot cross into a worker: refused by name, not run.
    let closure = task("my_closure").delayed(|| 5u64, ());
    let e = inc::delayed(&closure).compute(&pool).unwrap_err();
    let root = e.as_task().unwrap().root();
    assert_eq!(root.kind, TaskErrorKind::NotRegistered);
    assert!(
        root.to_string()
            .contains("task `my_closure` cannot run in a worker process"),
        "{root}"
    );
    // An eager closure on a process client is refused the same way.
    let client = Client::processes(1);
    let e = client.submit(|| 1u64, ()).result().unwrap_err();
    assert_eq!(e.as_task().unwrap().kind, TaskErrorKind::NotRegistered);
}

fn pool_get(
    pool: &Client,
    a: &Delayed<u64>,
    b: &Delayed<u64>,
) -> (rask::Result<u64>, rask::Result<u64>) {
    (a.compute(pool), b.compute(pool))
}

fn big_values_travel_through_shared_memory() {
    let pool = pool(2);
    let n = 1 << 20; // 8 MiB of f64
    let v = ramp::delayed(n);
    let s = total::delayed(&v);
    let expected = (n * (n - 1) / 2) as f64;
    assert_eq!(s.compute(&pool).unwrap(), expected);
    // The value itself comes back to the client intact.
    let back = v.compute(&pool).unwrap();
    assert_eq!(back.len(), n as usize);
    assert_eq!(back[12345], 12345.0);
    // And a big value made here goes out to a worker.
    let here: Vec<f64> = vec![0.5; 3 << 16];
    assert_eq!(
        total::delayed(here).compute(&pool).unwrap(),
        0.5 * (3 << 16) as f64
    );
    // Shared segments are reused once released, both ways: many big values
    // in one graph and over many graphs, each read back intact (a segment
    // refilled while someone still read it would show another value).
    for round in 0..4u64 {
        let sizes: Vec<u64> = (0..6).map(|i| (1 << 16) + i * 4099 + round).collect();
        let sums: Vec<Delayed<f64>> = sizes
            .iter()
            .map(|&n| total::delayed(ramp::delayed(n)))
            .collect();
        let outs: Vec<f64> = rask::compute(&pool, &sums).unwrap();
        let want: Vec<f64> = sizes.iter().map(|&n| (n * (n - 1) / 2) as f64).collect();
        assert_eq!(outs, want, "round {round}");
        let made_here: Vec<Vec<f64>> = sizes
            .iter()
            .map(|&n| vec![round as f64; n as usize])
            .collect();
        for (v, &n) in made_here.into_iter().zip(&sizes) {
            let back = total::delayed(v).compute(&pool).unwrap();
            assert_eq!(back, (round * n) as f64);
        }
    }
}

fn a_worker_killed_mid_task_is_replaced_and_its_tasks_retried() {
    let pool = pool(2);
    let before = pids(&pool);
    let xs: Vec<Delayed<u64>> = (0..40).map(|i| slow::delayed(i, 20)).collect();
    let mut acc = xs[0].clone();
    for x in &xs[1..] {
        acc = add::delayed(&acc, x);
    }
    let victim = before[0];
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: kill(2) on a child process we started.
        unsafe { libc_kill(victim as i32, 9) };
    });
    let t0 = Instant::now();
    assert_eq!(acc.compute(&pool).unwrap(), (0..40).sum::<u64>());
    killer.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(30));
    let after = pids(&pool);
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&victim), "{before:?} -> {after:?}");
}

fn a_task_that_always_kills_its_worker_fails_after_the_limit() {
    let mut opts = LocalOptions::new(2, 1, Transport::Local);
    opts.scheduler.core.max_deaths = 3;
    let pool = Client::try_processes(opts).unwrap();
    let doomed = crash::delayed(1);
    let fine = add::delayed(inc::delayed(1), inc::delayed(2));
    let out = pool_get(&pool, &doomed, &fine);
    let e = out.0.unwrap_err();
    let te = e.as_task().unwrap();
    match &te.kind {
        TaskErrorKind::WorkerDied { how, .. } => assert!(how.contains("SIGABRT"), "{how}"),
        other => panic!("{other:?}: {e}"),
    }
    assert_eq!(te.attempt, 3);
    assert!(e.to_string().contains("crash"), "{e}");
    assert_eq!(out.1.unwrap(), 5);
    // The pool is whole again.
    assert_eq!(pids(&pool).len(), 2);
    assert_eq!(inc::delayed(41).compute(&pool).unwrap(), 42);
}

/// Random DAGs of registered tasks (fan-in up to 3, some failing nodes) give
/// the same results and the same errors on processes as on `sync`.
fn random_graphs_match_the_sync_executor() {
    let pool = pool(2);
    let sync = Client::sync();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };
    let (mut oks, mut errs) = (0, 0);
    for round in 0..25 {
        let size = 5 + next(60) as usize;
        let mut nodes: Vec<Delayed<u64>> = Vec::with_capacity(size);
        for i in 0..size {
            let seed = next(1 << 20) * 40
                + if next(45) == 0 {
                    7
                } else {
                    1 + next(6) * 7 % 39
                };
            let seed = if seed % 40 == 7 && round % 3 == 0 {
                seed + 1
            } else {
                seed
            };
            let pick = |next: &mut dyn FnMut(u64) -> u64| nodes[next(i as u64) as usize].clone();
            let node = match if i == 0 { 0 } else { next(4) } {
                0 => mix0::delayed(seed),
                1 => mix1::delayed(pick(&mut next), seed),
                2 => mix2::delayed(pick(&mut next), pick(&mut next), seed),
                _ => mix3::delayed(pick(&mut next), pick(&mut next), pick(&mut next), seed),
            };
            nodes.push(node);
        }
        let outs: Vec<Delayed<u64>> = (0..3)
            .map(|_| nodes[next(size as u64) as usize].clone())
            .collect();
        for out in &outs {
            let want = out.compute(&sync).map_err(|e| e.to_string());
            let got = out.compute(&pool).map_err(|e| e.to_string());
            assert_eq!(got, want, "round {round}");
            if got.is_ok() {
                oks += 1;
            } else {
                errs += 1;
            }
        }
    }
    // Both kinds of outcome were compared.
    assert!(oks > 10 && errs > 3, "{oks} results, {errs} errors");
}

fn persisted_values_stay_on_the_workers_and_feed_later_graphs() {
    for client in [
        Client::processes(2),
        Client::local_cluster(2, 1).unwrap(),
        Client::threads(),
    ] {
        let n = 1u64 << 16;
        let v = client.persist(&ramp::delayed(n));
        let s = total::delayed(v.as_delayed());
        assert_eq!(s.compute(&client).unwrap(), (n * (n - 1) / 2) as f64);
        // Used again, and fetched here on request.
        assert_eq!(
            total::delayed(v.as_delayed()).compute(&client).unwrap(),
            (n * (n - 1) / 2) as f64
        );
        assert_eq!(v.result().unwrap().len(), n as usize);
        // A small persisted value, and eager use.
        let k = client.persist(&add::delayed(40, 2));
        assert_eq!(inc::delayed(k.as_delayed()).compute(&client).unwrap(), 43);
        // Scatter: a value made here, put on a worker.
        let big: Vec<f64> = vec![0.25; 100_000];
        let sc = client.scatter(big);
        assert_eq!(
            total::delayed(sc.as_delayed()).compute(&client).unwrap(),
            25_000.0
        );
        // A future of another client is sent as a constant.
        let other = Client::threads().compute(rask::value(vec![1.0f64, 2.0]));
        assert_eq!(
            total::delayed(other.as_delayed()).compute(&client).unwrap(),
            3.0
        );
        // A failed persisted future fails its users, naming it.
        let bad = client.persist(&parse::delayed("zz".to_owned()));
        let e = inc::delayed(bad.as_delayed()).compute(&client).unwrap_err();
        assert!(e.to_string().contains("invalid digit"), "{e}");
        drop((v, k, sc, bad));
        if let Some(d) = client.deployment() {
            let _ = d;
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn children_of_this_process() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The fourth field, after the parenthesised name, is the parent.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                if rest.split_whitespace().nth(1) == Some(me.as_str()) {
                    kids.push(pid);
                }
            }
        }
    }
    kids
}

/// Rask's entries in `/dev/shm` (names with `rask` in them). Other programs
/// on the machine (Python's multiprocessing, browsers) make and remove their
/// own there while the tests run, so a count of everything is not ours.
fn shm_entries() -> usize {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains("rask"))
                .count()
        })
        .unwrap_or(0)
}

fn main() {
    rask::init();
    let checks: &[(&str, fn())] = &[
        (
            "a_tree_of_registered_tasks_gives_the_right_sum",
            a_tree_of_registered_tasks_gives_the_right_sum,
        ),
        (
            "failures_name_the_task_and_spare_the_rest",
            failures_name_the_task_and_spare_the_rest,
        ),
        (
            "big_values_travel_through_shared_memory",
            big_values_travel_through_shared_memory,
        ),
        (
            "a_worker_killed_mid_task_is_replaced_and_its_tasks_retried",
            a_worker_killed_mid_task_is_replaced_and_its_tasks_retried,
        ),
        (
            "a_task_that_always_kills_its_worker_fails_after_the_limit",
            a_task_that_always_kills_its_worker_fails_after_the_limit,
        ),
        (
            "random_graphs_match_the_sync_executor",
            random_graphs_match_the_sync_executor,
        ),
        (
            "persisted_values_stay_on_the_workers_and_feed_later_graphs",
            persisted_values_stay_on_the_workers_and_feed_later_graphs,
        ),
    ];
    let shm_before = shm_entries();
    let (ran, mut failed) = workers::run_checks(checks, || {
        let left = children_of_this_process();
        (!left.is_empty()).then(|| format!("left processes {left:?}"))
    });
    let shm_after = shm_entries();
    if shm_after > shm_before {
        println!("FAILED: /dev/shm went from {shm_before} to {shm_after} entries");
        failed += 1;
    }
    workers::finish(ran, failed)
}
