//! The conformance suite's coordination scenarios (`rask::coord`): every
//! primitive, used from tasks and from the driver, on every executor. On
//! `sync`, work that must overlap with the driver is started as an eager
//! task (which runs on the client's background thread); elsewhere as a
//! registered task, so it runs on the workers.

use std::time::{Duration, Instant};

use rask::coord::{Barrier, ErrorKind, Event, Lock, Queue, Semaphore, Topic, Variable};
use rask::prelude::*;

use super::{check, eq, ok, Kind, Outcome};

type R<T> = Result<T, rask::coord::Error>;

/// `k` read-modify-writes of variable `var` under lock `lock`.
#[rask::task]
fn locked_adds(lock: String, var: String, k: u64) -> Result<u64, rask::coord::Error> {
    let (l, v) = (Lock::new(lock), Variable::<u64>::new(var));
    for _ in 0..k {
        let _held = l.acquire()?;
        let x = v.get()?.unwrap_or(0);
        v.set(&(x + 1))?;
    }
    Ok(k)
}

/// `k` read-modify-writes of variable `var` under lock `lock`, each one
/// request and one message (`acquire_and_get`, `set_and_release`).
#[rask::task]
fn locked_var_adds(lock: String, var: String, k: u64) -> Result<u64, rask::coord::Error> {
    let (l, v) = (Lock::new(lock), Variable::<u64>::new(var));
    for _ in 0..k {
        let held = l.acquire_and_get(&v)?;
        let x = held.value().copied().unwrap_or(0);
        held.set_and_release(&(x + 1))?;
    }
    Ok(k)
}

/// Takes lock `lock` with variable `var` within `ms`: what it read (then
/// gives it back unwritten), or what happened.
#[rask::task]
fn read_under(lock: String, var: String, ms: u64) -> String {
    let (l, v) = (Lock::new(lock), Variable::<u64>::new(var));
    let what = match l.acquire_and_get_timeout(&v, Duration::from_millis(ms)) {
        Ok(held) => format!("read {:?}", held.value()),
        Err(e) if matches!(e.kind, ErrorKind::TimedOut(_)) => "timed out".to_owned(),
        Err(e) => e.to_string(),
    };
    what
}

/// Panics holding lock `lock` (taken with `var`), before writing.
#[rask::task]
fn fail_under(lock: String, var: String) -> Result<u64, rask::coord::Error> {
    let (l, v) = (Lock::new(lock), Variable::<u64>::new(var));
    let _held = l.acquire_and_get(&v)?;
    panic!("failing while holding the lock");
}

/// Tries lock `lock` for `ms`: what happened.
#[rask::task]
fn try_lock_for(lock: String, ms: u64) -> String {
    match Lock::new(lock).acquire_timeout(Duration::from_millis(ms)) {
        Ok(_) => "acquired".to_owned(),
        Err(e) if matches!(e.kind, ErrorKind::TimedOut(_)) => "timed out".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// Holds a permit of `sem` (of `n`) for `ms`, counting holders in
/// variables `sem/in` and `sem/peak` under lock `sem/count`.
#[rask::task]
fn sem_section(sem: String, n: u32, ms: u64) -> Result<u64, rask::coord::Error> {
    let count = Lock::new(format!("{sem}/count"));
    let (inside, peak) = (
        Variable::<u64>::new(format!("{sem}/in")),
        Variable::<u64>::new(format!("{sem}/peak")),
    );
    let _permit = Semaphore::new(sem, n).acquire()?;
    {
        let _c = count.acquire()?;
        let now = inside.get()?.unwrap_or(0) + 1;
        inside.set(&now)?;
        peak.set(&now.max(peak.get()?.unwrap_or(0)))?;
    }
    std::thread::sleep(Duration::from_millis(ms));
    let _c = count.acquire()?;
    inside.set(&(inside.get()?.unwrap_or(1) - 1))?;
    Ok(1)
}

/// Takes `n` items of `queue`, acknowledging each; their sum.
#[rask::task]
fn drain(queue: String, n: u64) -> Result<u64, rask::coord::Error> {
    let q = Queue::<u64>::new(queue);
    let mut sum = 0;
    for _ in 0..n {
        let item = q.get_timeout(Duration::from_secs(20))?;
        sum += item.ack()?;
    }
    Ok(sum)
}

/// Takes an item and drops it unacknowledged: it goes back.
#[rask::task]
fn peek_and_drop(queue: String) -> Result<u64, rask::coord::Error> {
    let item = Queue::<u64>::new(queue).get_timeout(Duration::from_secs(20))?;
    Ok(*item)
}

/// Waits for event `name` (at most `ms`).
#[rask::task]
fn wait_event(name: String, ms: u64) -> Result<bool, rask::coord::Error> {
    Event::new(name).wait_timeout(Duration::from_millis(ms))?;
    Ok(true)
}

/// Waits for variable `name`, appends `x`, sets it again.
#[rask::task]
fn append_to(name: String, x: String) -> Result<usize, rask::coord::Error> {
    let v = Variable::<Vec<String>>::new(name);
    let mut list = v.wait_timeout(Duration::from_secs(20))?;
    list.push(x);
    v.set(&list)?;
    Ok(list.len())
}

/// Subscribes to `topic`, says so on event `ready`, and sums `n` messages.
#[rask::task]
fn listen(topic: String, ready: String, n: u64) -> Result<u64, rask::coord::Error> {
    let sub = Topic::<u64>::new(topic).subscribe()?;
    Event::new(ready).set()?;
    let mut sum = 0;
    for _ in 0..n {
        sum += sub.next_timeout(Duration::from_secs(20))?;
    }
    Ok(sum)
}

/// Arrives at barrier `name` of `parties`: whether it was the leader.
#[rask::task]
fn arrive(name: String, parties: u32) -> Result<bool, rask::coord::Error> {
    Ok(Barrier::new(name, parties)
        .wait_timeout(Duration::from_secs(20))?
        .leader)
}

/// Starts work that must overlap with the driver: an eager task on `sync`
/// (its `compute` would run on this thread), a registered call elsewhere.
fn start<T: rask::core::Data>(
    c: &Client,
    k: Kind,
    local: impl Fn() -> R<T> + Send + Sync + 'static,
    remote: impl FnOnce() -> Future<T>,
) -> Future<T> {
    if k == Kind::Sync {
        c.try_submit(local, ())
    } else {
        remote()
    }
}

fn s<T: std::fmt::Display>(e: T) -> String {
    e.to_string()
}

pub(crate) fn locks(c: &Client, _: Kind) -> Outcome {
    let v = Variable::<u64>::new("lock/count").on(c);
    v.set(&0).map_err(s)?;
    let tasks: Vec<Delayed<u64>> = (0..8)
        .map(|_| locked_adds::delayed("lock/l".to_owned(), "lock/count".to_owned(), 25))
        .collect();
    c.get(&tasks).map_err(s)?;
    eq(v.get().map_err(s)?, Some(200), "no lost update")?;
    // Held by the driver: a task's timed wait fails, and only then.
    let l = Lock::new("lock/held").on(c);
    let held = l.acquire().map_err(s)?;
    let t0 = Instant::now();
    let r = try_lock_for::delayed("lock/held".to_owned(), 100)
        .compute(c)
        .map_err(s)?;
    eq(r.as_str(), "timed out", "a held lock")?;
    check(t0.elapsed() >= Duration::from_millis(100), || {
        format!("timed out early: {:?}", t0.elapsed())
    })?;
    drop(held);
    let r = try_lock_for::delayed("lock/held".to_owned(), 5000)
        .compute(c)
        .map_err(s)?;
    eq(r.as_str(), "acquired", "a free lock")?;
    check(l.try_acquire().map_err(s)?.is_some(), || {
        "the task's lease ended with it".into()
    })?;
    ok()
}

pub(crate) fn locked_vars(c: &Client, _: Kind) -> Outcome {
    let (lock, var) = ("lockvar/l", "lockvar/count");
    let v = Variable::<u64>::new(var).on(c);
    v.set(&0).map_err(s)?;
    // The combined and the separate forms on one lock and variable.
    let tasks: Vec<Delayed<u64>> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                locked_var_adds::delayed(lock.to_owned(), var.to_owned(), 25)
            } else {
                locked_adds::delayed(lock.to_owned(), var.to_owned(), 25)
            }
        })
        .collect();
    c.get(&tasks).map_err(s)?;
    eq(v.get().map_err(s)?, Some(200), "no lost update")?;
    // Held by the driver: a task's timed wait fails; given back with a
    // value, the next holder reads that value.
    let l = Lock::new(lock).on(c);
    let held = l.acquire_and_get(&v).map_err(s)?;
    eq(held.value().copied(), Some(200), "the driver's read")?;
    let r = read_under::delayed(lock.to_owned(), var.to_owned(), 100)
        .compute(c)
        .map_err(s)?;
    eq(r.as_str(), "timed out", "a held lock")?;
    held.set_and_release(&500).map_err(s)?;
    let r = read_under::delayed(lock.to_owned(), var.to_owned(), 5000)
        .compute(c)
        .map_err(s)?;
    eq(
        r.as_str(),
        "read Some(500)",
        "the value given back with the lock",
    )?;
    // A task that fails holding it frees it, and writes nothing.
    let failed = fail_under::delayed(lock.to_owned(), var.to_owned()).compute(c);
    check(failed.is_err(), || format!("the failing task: {failed:?}"))?;
    let again = l
        .acquire_and_get_timeout(&v, Duration::from_secs(5))
        .map_err(s)?;
    eq(again.value().copied(), Some(500), "nothing written")?;
    again.release();
    check(l.try_acquire().map_err(s)?.is_some(), || {
        "released unwritten".into()
    })?;
    ok()
}

pub(crate) fn semaphores(c: &Client, _: Kind) -> Outcome {
    for (name, n) in [("sem/one", 1u32), ("sem/two", 2)] {
        let tasks: Vec<Delayed<u64>> = (0..6)
            .map(|_| sem_section::delayed(name.to_owned(), n, 15))
            .collect();
        eq(c.get(&tasks).map_err(s)?.len(), 6, "sections")?;
        let peak = Variable::<u64>::new(format!("{name}/peak")).on(c);
        let peak = peak.get().map_err(s)?.unwrap_or(0);
        check(peak >= 1 && peak <= u64::from(n), || {
            format!("{peak} held a semaphore of {n}")
        })?;
    }
    // Another size of a semaphore in use is refused.
    let a = Semaphore::new("sem/x", 2).on(c);
    let _p = a.acquire().map_err(s)?;
    let e = Semaphore::new("sem/x", 3).on(c).try_acquire().unwrap_err();
    check(matches!(e.kind, ErrorKind::Conflict(_)), || e.to_string())?;
    ok()
}

pub(crate) fn queues(c: &Client, k: Kind) -> Outcome {
    let q = Queue::<u64>::new("queue/q").on(c);
    for i in 0..30 {
        q.put(&i).map_err(s)?;
    }
    eq(q.len().map_err(s)?, 30, "len")?;
    let parts: Vec<Delayed<u64>> = (0..3)
        .map(|_| drain::delayed("queue/q".to_owned(), 10))
        .collect();
    let sums = c.get(&parts).map_err(s)?;
    eq(sums.iter().sum::<u64>(), (0..30).sum(), "every item once")?;
    check(q.try_get().map_err(s)?.is_none(), || "drained".into())?;
    // An item dropped without an ack comes back, marked.
    q.put(&77).map_err(s)?;
    let seen = start(
        c,
        k,
        || peek_and_drop("queue/q".to_owned()),
        || peek_and_drop::submit(c, "queue/q".to_owned()),
    );
    eq(seen.result().map_err(s)?, 77, "taken")?;
    let again = q.get_timeout(Duration::from_secs(20)).map_err(s)?;
    eq((*again, again.redelivered()), (77, 1), "given back")?;
    again.ack().map_err(s)?;
    let e = q.get_timeout(Duration::from_millis(30)).unwrap_err();
    check(matches!(e.kind, ErrorKind::TimedOut(_)), || e.to_string())?;
    ok()
}

pub(crate) fn events(c: &Client, k: Kind) -> Outcome {
    let e = Event::new("event/go").on(c);
    let w = start(
        c,
        k,
        || wait_event("event/go".to_owned(), 20_000),
        || wait_event::submit(c, "event/go".to_owned(), 20_000),
    );
    std::thread::sleep(Duration::from_millis(30));
    check(!e.is_set().map_err(s)?, || "not yet set".into())?;
    e.set().map_err(s)?;
    eq(w.result().map_err(s)?, true, "woken")?;
    e.clear().map_err(s)?;
    let r = wait_event::delayed("event/go".to_owned(), 40).compute(c);
    check(
        r.as_ref()
            .is_err_and(|e| e.to_string().contains("nothing within")),
        || format!("{r:?}"),
    )?;
    ok()
}

pub(crate) fn variables(c: &Client, k: Kind) -> Outcome {
    let v = Variable::<Vec<String>>::new("var/list").on(c);
    let w = start(
        c,
        k,
        || append_to("var/list".to_owned(), "task".to_owned()),
        || append_to::submit(c, "var/list".to_owned(), "task".to_owned()),
    );
    std::thread::sleep(Duration::from_millis(20));
    v.set(&vec!["driver".to_owned()]).map_err(s)?;
    eq(w.result().map_err(s)?, 2, "the task saw the driver's value")?;
    eq(
        v.get().map_err(s)?,
        Some(vec!["driver".to_owned(), "task".to_owned()]),
        "the driver sees the task's",
    )?;
    v.delete().map_err(s)?;
    eq(v.get().map_err(s)?, None, "deleted")?;
    let e = v.wait_timeout(Duration::from_millis(20)).unwrap_err();
    check(matches!(e.kind, ErrorKind::TimedOut(_)), || e.to_string())?;
    ok()
}

pub(crate) fn topics(c: &Client, k: Kind) -> Outcome {
    let t = Topic::<u64>::new("topic/t").on(c);
    let ready = Event::new("topic/ready").on(c);
    let l = start(
        c,
        k,
        || listen("topic/t".to_owned(), "topic/ready".to_owned(), 10),
        || listen::submit(c, "topic/t".to_owned(), "topic/ready".to_owned(), 10),
    );
    ready.wait_timeout(Duration::from_secs(20)).map_err(s)?;
    let mine = t.subscribe().map_err(s)?;
    for i in 1..=10 {
        t.publish(&i).map_err(s)?;
    }
    eq(l.result().map_err(s)?, 55, "the task got every message")?;
    let got: Vec<u64> = (0..10)
        .map(|_| mine.next_timeout(Duration::from_secs(20)))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    eq(got, (1..=10).collect::<Vec<_>>(), "in order")?;
    ok()
}

pub(crate) fn barriers(c: &Client, k: Kind) -> Outcome {
    let parties: Vec<Future<bool>> = (0..2)
        .map(|_| {
            start(
                c,
                k,
                || arrive("barrier/b".to_owned(), 3),
                || arrive::submit(c, "barrier/b".to_owned(), 3),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let me = Barrier::new("barrier/b", 3)
        .on(c)
        .wait_timeout(Duration::from_secs(20))
        .map_err(s)?;
    let mut leaders = u32::from(me.leader);
    for p in parties {
        leaders += u32::from(p.result().map_err(s)?);
    }
    eq(leaders, 1, "one leader")?;
    eq(me.generation, 0, "the first filling")?;
    ok()
}
