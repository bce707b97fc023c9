use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{delayed, task, try_delayed, value, Delayed, ResultCache, SyncExecutor};

/// A counter of body runs, and a task that counts and returns `x * 2`.
fn counted(runs: &Arc<AtomicUsize>, x: &Delayed<u64>) -> Delayed<u64> {
    let runs = runs.clone();
    delayed(
        move |v: u64| {
            runs.fetch_add(1, Ordering::SeqCst);
            v * 2
        },
        (x,),
    )
}

#[test]
fn a_repeated_computation_runs_nothing_again() {
    let cache = ResultCache::new(1 << 20);
    let ex = SyncExecutor::new().with_cache(cache.clone());
    let runs = Arc::new(AtomicUsize::new(0));
    let a = counted(&runs, &value(1));
    let b = counted(&runs, &a);
    assert_eq!(b.compute(&ex).unwrap(), 4);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.inserts, s.entries), (0, 2, 2, 2));
    // Again: the output hits, and nothing upstream is looked up or run.
    assert_eq!(b.compute(&ex).unwrap(), 4);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses), (1, 2));
    // A new task on top of a cached one: only the new task runs, and it
    // gets the cached value.
    let c = counted(&runs, &b);
    assert_eq!(c.compute(&ex).unwrap(), 8);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses), (2, 3));
}

#[test]
fn user_keys_name_the_same_computation_across_builds() {
    let cache = ResultCache::new(1 << 20);
    let ex = SyncExecutor::new().with_cache(cache.clone());
    let runs = Arc::new(AtomicUsize::new(0));
    let build = |input: u64| {
        let r = runs.clone();
        let load = task("load").delayed(move || input, ());
        task("double").delayed(
            move |v: u64| {
                r.fetch_add(1, Ordering::SeqCst);
                v * 2
            },
            (load,),
        )
    };
    assert_eq!(build(5).compute(&ex).unwrap(), 10);
    assert_eq!(build(5).compute(&ex).unwrap(), 10);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // A changed input is a different key upstream: a miss.
    let r = runs.clone();
    let other = task("load2").delayed(|| 7u64, ());
    let d = task("double").delayed(
        move |v: u64| {
            r.fetch_add(1, Ordering::SeqCst);
            v * 2
        },
        (other,),
    );
    assert_eq!(d.compute(&ex).unwrap(), 14);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // An anonymous input (a new constant) is a new node: a miss too.
    let r = runs.clone();
    let d = task("double").delayed(
        move |v: u64| {
            r.fetch_add(1, Ordering::SeqCst);
            v * 2
        },
        (value(5u64),),
    );
    assert_eq!(d.compute(&ex).unwrap(), 10);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[test]
fn failures_are_never_cached() {
    let cache = ResultCache::new(1 << 20);
    let ex = SyncExecutor::new().with_cache(cache.clone());
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let f: Delayed<u64> = try_delayed(
        move || {
            r.fetch_add(1, Ordering::SeqCst);
            Err::<u64, _>(std::io::Error::other("no"))
        },
        (),
    );
    let g = counted(&runs, &f);
    assert!(g.compute(&ex).is_err());
    assert!(g.compute(&ex).is_err());
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the failing body ran twice");
    let s = cache.stats();
    assert_eq!((s.hits, s.inserts, s.entries), (0, 0, 0));
}

#[test]
fn uncached_tasks_and_their_dependents_run_every_time() {
    let cache = ResultCache::new(1 << 20);
    let ex = SyncExecutor::new().with_cache(cache.clone());
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let clock = delayed(move || r.fetch_add(1, Ordering::SeqCst) as u64, ()).uncached();
    let report = counted(&runs, &clock);
    assert_eq!(report.compute(&ex).unwrap(), 0);
    assert_eq!(report.compute(&ex).unwrap(), 4, "the clock moved");
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    assert_eq!(cache.stats().entries, 0);
}

#[test]
fn least_recently_used_values_go_first_by_bytes() {
    // Each value is a `Vec<u8>` of 1,000 bytes (+ the vector's 24): three fit.
    let cache = ResultCache::new(3 * 1024 + 100);
    let ex = SyncExecutor::new().with_cache(cache.clone());
    let runs = Arc::new(AtomicUsize::new(0));
    let make = |i: u8| {
        let r = runs.clone();
        task(("v", i as u64)).delayed(
            move || {
                r.fetch_add(1, Ordering::SeqCst);
                vec![i; 1000]
            },
            (),
        )
    };
    let vs: Vec<_> = (0..4).map(make).collect();
    for v in &vs[..3] {
        v.compute(&ex).unwrap();
    }
    assert_eq!(cache.stats().bytes, 3 * 1024);
    // Use v0 again, so v1 is the least recently used when v3 comes.
    vs[0].compute(&ex).unwrap();
    vs[3].compute(&ex).unwrap();
    let s = cache.stats();
    assert_eq!((s.entries, s.evictions, s.bytes), (3, 1, 3 * 1024));
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    vs[0].compute(&ex).unwrap();
    vs[2].compute(&ex).unwrap();
    vs[3].compute(&ex).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 4, "v0, v2, v3 were kept");
    vs[1].compute(&ex).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 5, "v1 was evicted");
    // A value bigger than the whole cache is not stored.
    let big = task("big").delayed(|| vec![0u8; 10_000], ());
    big.compute(&ex).unwrap();
    assert_eq!(cache.stats().rejected, 1);
}

#[test]
fn several_outputs_and_shared_inputs() {
    let cache = ResultCache::new(1 << 20);
    let ex = SyncExecutor::new().with_cache(cache.clone());
    let runs = Arc::new(AtomicUsize::new(0));
    let a = counted(&runs, &value(1));
    let b = counted(&runs, &a);
    let c = counted(&runs, &a);
    assert_eq!(
        crate::compute(&ex, &(b.clone(), c.clone())).unwrap(),
        (4, 4)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    // b hits; c was evicted by hand, so a (cached) feeds it.
    cache.clear();
    b.compute(&ex).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    let d = counted(&runs, &a);
    assert_eq!(crate::compute(&ex, &(b, d)).unwrap(), (4, 4));
    assert_eq!(runs.load(Ordering::SeqCst), 6, "only d ran");
}

#[test]
fn sizes_of_known_registered_and_unknown_types() {
    use crate::cache::estimate_nbytes;
    use crate::node::Value;
    let v = |x: Value| estimate_nbytes(&x, None);
    assert_eq!(v(Arc::new(vec![0f64; 100])), 24 + 800);
    assert_eq!(v(Arc::new(String::from("abcd"))), 24 + 4);
    assert_eq!(v(Arc::new(vec![vec![0u32; 10]; 2])), 24 + 2 * (24 + 40));
    assert_eq!(v(Arc::new(7u64)), 8);
    // A registered type.
    struct Blob(usize);
    impl crate::NBytes for Blob {
        fn nbytes(&self) -> usize {
            self.0
        }
    }
    inventory::submit!(crate::SizeOf::of::<Blob>());
    assert_eq!(v(Arc::new(Blob(12345))), 12345);
    // An unknown type without a codec: its inline size.
    #[allow(dead_code)]
    struct Pair(u64, u64);
    assert_eq!(v(Arc::new(Pair(1, 2))), 16);
    // An unknown type with a codec: its encoding's length.
    let codec = crate::codec_of_type::<Vec<(u8, u8)>>();
    let x: Value = Arc::new(vec![(1u8, 2u8); 10]);
    assert_eq!(estimate_nbytes(&x, Some(codec)), 21);
}
