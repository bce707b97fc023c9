//! The shuffled executor: same answers as `sync`, orders drawn from the seed,
//! the same schedule for the same seed, and a planted order bug found.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rask_core::{delayed, task, value, Delayed, Key, SyncExecutor, TaskErrorKind};
use rask_local::ShuffledExecutor;

/// A few layers of tasks mixing their inputs, with one failing branch.
fn graph(width: u64, layers: u64) -> (Delayed<u64>, Delayed<u64>) {
    let mut layer: Vec<Delayed<u64>> = (0..width)
        .map(|i| task(("leaf", i)).delayed(move || i * 7 + 1, ()))
        .collect();
    for l in 1..layers {
        layer = (0..width)
            .map(|i| {
                let a = &layer[i as usize];
                let b = &layer[((i + 1) % width) as usize];
                task(("mix", l * 1000 + i)).delayed(|x: u64, y: u64| x.wrapping_mul(31) ^ y, (a, b))
            })
            .collect();
    }
    let ok = delayed(
        |v: Vec<u64>| v.iter().fold(0u64, |s, x| s ^ x),
        (layer.clone(),),
    );
    let bad = task("bad").delayed(|x: u64| -> u64 { panic!("bad {x}") }, (&layer[0],));
    let failed = delayed(|a: u64, b: u64| a + b, (ok.clone(), bad));
    (ok, failed)
}

#[test]
fn same_answers_and_errors_as_sync() {
    let (ok, failed) = graph(6, 5);
    let want = ok.compute(&SyncExecutor::new()).unwrap();
    for seed in 0..20 {
        let ex = ShuffledExecutor::new(seed);
        assert_eq!(ok.compute(&ex).unwrap(), want, "seed {seed}");
        let e = failed.compute(&ex).unwrap_err();
        let e = e.as_task().unwrap();
        assert!(matches!(e.kind, TaskErrorKind::DependencyFailed { .. }));
        assert_eq!(e.cause.as_ref().unwrap().key, Key::new("bad"));
    }
}

#[test]
fn a_seed_fixes_the_schedule() {
    let (ok, _) = graph(8, 4);
    let schedule = |seed: u64| {
        let ex = ShuffledExecutor::new(seed).with_overlap(4);
        ok.compute(&ex).unwrap();
        ex.last_schedule()
    };
    let first = schedule(42);
    assert_eq!(first.iter().map(Vec::len).sum::<usize>(), 8 * 4 + 1);
    for _ in 0..5 {
        assert_eq!(schedule(42), first);
    }
    // Other seeds draw other schedules; rounds overlap (several tasks).
    let others: HashSet<Vec<Vec<Key>>> = (0..10).map(schedule).collect();
    assert!(
        others.len() >= 9,
        "only {} distinct schedules",
        others.len()
    );
    assert!(first.iter().any(|r| r.len() > 1));
}

#[test]
fn one_at_a_time_the_seed_fixes_what_tasks_see() {
    // One task at a time (the default), the order the tasks themselves
    // observe is the schedule, and it is the same on every replay.
    let seen = |seed: u64| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let leaves: Vec<Delayed<u64>> = (0..12u64)
            .map(|i| {
                let log = log.clone();
                task(("t", i)).delayed(
                    move || {
                        log.lock().unwrap().push(i);
                        i
                    },
                    (),
                )
            })
            .collect();
        let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (leaves,));
        let ex = ShuffledExecutor::new(seed);
        assert_eq!(sum.compute(&ex).unwrap(), 66);
        let order = log.lock().unwrap().clone();
        let rounds = ex.last_schedule();
        assert!(rounds.iter().all(|r| r.len() == 1));
        order
    };
    let a = seen(7);
    assert_eq!(seen(7), a);
    assert_ne!(
        a,
        (0..12).collect::<Vec<u64>>(),
        "seed 7 kept priority order"
    );
    assert_ne!(seen(8), a);
}

/// A reader that expects a writer to have run first, with no dependency
/// between them: a bug `sync` never shows (it runs `write` first).
fn planted_bug() -> Delayed<u64> {
    let cell = Arc::new(Mutex::new(None::<u64>));
    let w = cell.clone();
    let write = task("write").delayed(
        move || {
            *w.lock().unwrap() = Some(42);
            0u64
        },
        (),
    );
    let read = task("read").delayed(move || cell.lock().unwrap().unwrap_or(0), ());
    task("sum").delayed(|a: u64, b: u64| a + b, (write, read))
}

#[test]
fn finds_a_planted_order_bug_and_replays_it() {
    assert_eq!(planted_bug().compute(&SyncExecutor::new()).unwrap(), 42);
    // One task at a time: every seed that fails, fails on every replay.
    let failing: Vec<u64> = (0..32)
        .filter(|&seed| planted_bug().compute(&ShuffledExecutor::new(seed)).unwrap() != 42)
        .collect();
    assert!((4..=28).contains(&failing.len()), "{failing:?}");
    for &seed in &failing {
        for _ in 0..3 {
            assert_eq!(
                planted_bug().compute(&ShuffledExecutor::new(seed)).unwrap(),
                0
            );
        }
    }
    // Overlapping rounds: a seed that put `read` in an earlier round than
    // `write` fails on every replay too (rule 1 of `shuffled.rs`).
    let failing: Vec<u64> = (0..32)
        .filter(|&seed| {
            let ex = ShuffledExecutor::new(seed).with_overlap(4);
            planted_bug().compute(&ex).unwrap() != 42
        })
        .collect();
    let earlier = |s: &[Vec<Key>], k: &'static str| s.iter().position(|r| r.contains(&Key::new(k)));
    let mut replayed = 0;
    for seed in 0..32 {
        let ex = ShuffledExecutor::new(seed).with_overlap(4);
        let got = planted_bug().compute(&ex).unwrap();
        let s = ex.last_schedule();
        if earlier(&s, "read") < earlier(&s, "write") {
            assert_eq!(got, 0, "seed {seed}");
            assert!(failing.contains(&seed));
            for _ in 0..5 {
                let again = ShuffledExecutor::new(seed).with_overlap(4);
                assert_eq!(planted_bug().compute(&again).unwrap(), 0, "seed {seed}");
                assert_eq!(again.last_schedule(), s);
            }
            replayed += 1;
        }
    }
    assert!(replayed > 0);
}

#[test]
fn long_chains_and_wide_fans() {
    let mut x = value(0u64);
    for _ in 0..10_000 {
        x = delayed(|v: u64| v + 1, (x,));
    }
    let fan: Vec<Delayed<u64>> = (0..10_000).map(value).collect();
    let sum = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (fan,));
    let ex = ShuffledExecutor::new(3).with_threads(2);
    assert_eq!(x.compute(&ex).unwrap(), 10_000);
    assert_eq!(sum.compute(&ex).unwrap(), 10_000 * 9_999 / 2);
}
