//! `Client::shuffled(seed)`: a user's test loops over seeds, finds the one
//! that breaks an order assumption, and replays it.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use rask_client::Client;
use rask_core::{delayed, task, Delayed, Executor};

/// `report` expects `load` to have filled the cache, but does not say so.
fn pipeline() -> Delayed<String> {
    let cache = Arc::new(Mutex::new(Vec::<u64>::new()));
    let c = cache.clone();
    let load = task("load").delayed(
        move || {
            c.lock().unwrap().extend([1, 2, 3]);
            3usize
        },
        (),
    );
    let report = task("report").delayed(move || cache.lock().unwrap().iter().sum::<u64>(), ());
    delayed(
        |n: usize, s: u64| format!("{n} items, sum {s}"),
        (load, report),
    )
}

#[test]
fn a_seed_loop_finds_the_bug_and_the_seed_replays_it() {
    assert_eq!(
        pipeline().compute(&Client::sync()).unwrap(),
        "3 items, sum 6"
    );
    let client = Client::shuffled(0);
    assert_eq!(client.name(), "shuffled");
    assert_eq!(client.workers(), 4);
    let bad = (0..64u64)
        .find(|&seed| {
            (0..3).all(|_| pipeline().compute(&Client::shuffled(seed)).unwrap() == "3 items, sum 0")
        })
        .expect("some seed runs `report` before `load` every time");
    for _ in 0..5 {
        assert_eq!(
            pipeline().compute(&Client::shuffled(bad)).unwrap(),
            "3 items, sum 0"
        );
    }
}

#[test]
fn graphs_futures_and_failures_behave_as_elsewhere() {
    let client = Client::shuffled(11);
    let xs: Vec<Delayed<u64>> = (0..50u64).map(|i| delayed(move || i, ())).collect();
    let total = delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (xs,));
    assert_eq!(total.compute(&client).unwrap(), 1225);
    assert_eq!(client.compute(total.clone()).result().unwrap(), 1225);
    let f = client.submit(|| 2u64, ());
    assert_eq!(client.submit(|x: u64| x * 21, (&f,)).result().unwrap(), 42);
    let boom = task("boom").delayed(|| -> u64 { panic!("boom") }, ());
    let after = delayed(|x: u64| x, (boom,));
    let e = after.compute(&client).unwrap_err();
    assert_eq!(
        e.as_task().unwrap().cause.as_ref().unwrap().key.to_string(),
        "boom"
    );
}
