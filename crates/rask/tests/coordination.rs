//! Coordination under failure (`rask::coord`), with real worker processes
//! killed by SIGKILL while they hold locks, permits and queue items (the
//! deployment's nanny restarts them), and on pools and workers of one
//! thread. The checks do not trust the primitives they test: exclusion is
//! seen through marker files in a directory and the kernel's view of which
//! processes are alive.
//!
//! Leases cached by workers (`rask_distributed::coord::cache`): tasks on
//! two workers sharing one lock lose no update and both finish (so the
//! lease was recalled), the driver takes the lock from a worker keeping it,
//! and a worker killed while keeping it gives it back by dying, its
//! reported write kept.
//!
//! Runs without libtest: workers are this binary started again.

#![allow(clippy::unwrap_used)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::coord::{ErrorKind, Event, Lock, Queue, Semaphore, Variable};
use rask::prelude::*;

mod workers;
use workers::{finish, run_checks};

/// Whether process `pid` is alive (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.trim().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

fn note(dir: &Path, file: &str, line: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
        .unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// Enters the critical section: creates `dir/inside` with this process's
/// id. If it exists and its process is alive, exclusion was broken (noted
/// in `dir/violations`); a dead holder's marker is taken over.
fn enter(dir: &Path) {
    let marker = dir.join("inside");
    let me = std::process::id();
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
        {
            Ok(mut f) => {
                f.write_all(me.to_string().as_bytes()).unwrap();
                return;
            }
            Err(_) => {
                let holder: Option<u32> = fs::read_to_string(&marker)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                match holder {
                    Some(pid) if pid != me && alive(pid) => {
                        note(
                            dir,
                            "violations",
                            &format!("{me} entered while {pid} was inside"),
                        );
                        return;
                    }
                    // Killed inside (or half-written): take it over.
                    _ => {
                        let _ = fs::remove_file(&marker);
                    }
                }
            }
        }
    }
}

fn leave(dir: &Path) {
    let _ = fs::remove_file(dir.join("inside"));
}

/// `k` critical sections on lock `name` (none with `locked == false`: the
/// control that shows the check can fail), each a read-modify-write of
/// variable `name/count` with a pause inside.
#[rask::task]
fn sections(dir: String, name: String, k: u64, locked: bool) -> Result<u64, rask::coord::Error> {
    let dir = PathBuf::from(dir);
    let lock = Lock::new(name.clone());
    let count = Variable::<u64>::new(format!("{name}/count"));
    for _ in 0..k {
        let held = if locked {
            Some(lock.acquire_timeout(Duration::from_secs(60))?)
        } else {
            None
        };
        enter(&dir);
        let n = count.get()?.unwrap_or(0);
        std::thread::sleep(Duration::from_millis(2));
        count.set(&(n + 1))?;
        leave(&dir);
        drop(held);
    }
    Ok(k)
}

/// `sections` in the combined form: the lock taken with the count's value
/// (`acquire_and_get`), given back with the new one (`set_and_release`).
#[rask::task]
fn sections_combined(dir: String, name: String, k: u64) -> Result<u64, rask::coord::Error> {
    let dir = PathBuf::from(dir);
    let lock = Lock::new(name.clone());
    let count = Variable::<u64>::new(format!("{name}/count"));
    for _ in 0..k {
        let held = lock.acquire_and_get_timeout(&count, Duration::from_secs(60))?;
        enter(&dir);
        let n = held.value().copied().unwrap_or(0);
        std::thread::sleep(Duration::from_millis(2));
        leave(&dir);
        held.set_and_release(&(n + 1))?;
    }
    Ok(k)
}

/// `k` times: a permit of semaphore `name` (of `n`); while it is held, the
/// holders alive (files `dir/h-*`) must be at most `limit` (`n`, or less
/// for the control that shows the check can fail).
#[rask::task]
fn permits(
    dir: String,
    name: String,
    n: u32,
    limit: u32,
    k: u64,
) -> Result<u64, rask::coord::Error> {
    let dir = PathBuf::from(dir);
    let sem = Semaphore::new(name, n);
    let me = std::process::id();
    for i in 0..k {
        let _permit = sem.acquire_timeout(Duration::from_secs(60))?;
        let mine = dir.join(format!("h-{me}-{i}"));
        fs::write(&mine, b"").unwrap();
        let holders = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                n.strip_prefix("h-")?.split('-').next()?.parse::<u32>().ok()
            })
            .filter(|&pid| alive(pid))
            .count();
        if holders > limit as usize {
            note(&dir, "violations", &format!("{holders} holders of {n}"));
        }
        std::thread::sleep(Duration::from_millis(3));
        let _ = fs::remove_file(&mine);
    }
    Ok(k)
}

/// Takes items from queue `name` until it stays empty for 300 ms; notes
/// each in `dir/processed` before acknowledging it.
#[rask::task]
fn consume(dir: String, name: String) -> Result<u64, rask::coord::Error> {
    let dir = PathBuf::from(dir);
    let q = Queue::<u64>::new(name);
    let mut n = 0;
    loop {
        let item = match q.get_timeout(Duration::from_millis(300)) {
            Ok(i) => i,
            Err(e) if matches!(e.kind, ErrorKind::TimedOut(_)) => return Ok(n),
            Err(e) => return Err(e),
        };
        note(&dir, "processed", &item.to_string());
        std::thread::sleep(Duration::from_millis(1));
        item.ack()?;
        n += 1;
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-coord-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A local deployment whose tasks survive many deaths.
fn deployment(workers: usize, transport: rask::Transport) -> Client {
    let mut o = rask::LocalOptions::new(workers, 1, transport);
    o.scheduler.core.max_deaths = 1000;
    Client::try_processes(o).unwrap()
}

/// SIGKILLs the oldest worker of `c`'s deployment every `every` until
/// `stop`, at most `max` times; returns how many it killed. The oldest: so
/// the kills go round the workers, and none dies young
/// `MAX_QUICK_DEATHS` times in a row (its nanny would give up on it).
fn killer(
    c: &Client,
    every: Duration,
    max: u32,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    let c = c.clone();
    std::thread::spawn(move || {
        let mut kills = 0;
        while !stop.load(Ordering::SeqCst) && kills < max {
            std::thread::sleep(every);
            let Some(&pid) = c.deployment().unwrap().pids().first() else {
                continue;
            };
            // SAFETY: kill(2) on a worker process this test's deployment started.
            if unsafe { kill(pid as i32, 9) } == 0 {
                kills += 1;
            }
        }
        kills
    })
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

fn violations(dir: &Path) -> String {
    fs::read_to_string(dir.join("violations")).unwrap_or_default()
}

fn lock_holders_killed() {
    let c = deployment(3, rask::Transport::Local);
    let dir = scratch("lock");
    let d = dir.to_string_lossy().into_owned();
    // The control: without the lock, the check sees overlapping sections.
    let free: Vec<Delayed<u64>> = (0..3)
        .map(|_| sections::delayed(d.clone(), "free".to_owned(), 10, false))
        .collect();
    c.get(&free).unwrap();
    assert!(!violations(&dir).is_empty(), "the check never saw overlap");
    fs::remove_file(dir.join("violations")).unwrap();
    leave(&dir);

    let tasks: Vec<Delayed<u64>> = (0..12)
        .map(|_| sections::delayed(d.clone(), "L".to_owned(), 10, true))
        .collect();
    sections_killed(&c, &dir, &tasks, "L/count");
}

/// As `lock_holders_killed`, in the combined form, over TCP.
fn combined_lock_holders_killed() {
    let c = deployment(3, rask::Transport::Tcp);
    let dir = scratch("combined");
    let d = dir.to_string_lossy().into_owned();
    let tasks: Vec<Delayed<u64>> = (0..12)
        .map(|_| sections_combined::delayed(d.clone(), "LC".to_owned(), 10))
        .collect();
    sections_killed(&c, &dir, &tasks, "LC/count");
}

/// Runs `tasks` (12 x 10 critical sections noted in `dir`, counted in
/// variable `count`) while workers are killed: no overlap, every section.
fn sections_killed(c: &Client, dir: &Path, tasks: &[Delayed<u64>], count: &str) {
    let stop = Arc::new(AtomicBool::new(false));
    let k = killer(c, Duration::from_millis(100), 9, stop.clone());
    let done = c.get(tasks);
    stop.store(true, Ordering::SeqCst);
    let kills = k.join().unwrap();
    done.unwrap();
    assert_eq!(violations(dir), "", "mutual exclusion broke");
    assert!(kills >= 3, "only {kills} kills");
    let count = Variable::<u64>::new(count).on(c).get().unwrap().unwrap();
    // Attempts killed mid-way ran some sections twice.
    assert!(count >= 120, "{count} sections of 120");
    println!("    {kills} workers killed, {count} sections for 120");
    let _ = fs::remove_dir_all(dir);
}

fn permit_holders_killed() {
    let c = deployment(4, rask::Transport::Tcp);
    let dir = scratch("sem");
    let d = dir.to_string_lossy().into_owned();
    // The control: 3 permits, checked against 2.
    let over: Vec<Delayed<u64>> = (0..4)
        .map(|_| permits::delayed(d.clone(), "S3".to_owned(), 3, 2, 10))
        .collect();
    c.get(&over).unwrap();
    assert!(
        !violations(&dir).is_empty(),
        "the check never saw 3 holders"
    );
    fs::remove_file(dir.join("violations")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let k = killer(&c, Duration::from_millis(100), 9, stop.clone());
    let tasks: Vec<Delayed<u64>> = (0..12)
        .map(|_| permits::delayed(d.clone(), "S".to_owned(), 2, 2, 15))
        .collect();
    let done = c.get(&tasks);
    stop.store(true, Ordering::SeqCst);
    let kills = k.join().unwrap();
    done.unwrap();
    assert_eq!(violations(&dir), "", "more holders than permits");
    assert!(kills >= 3, "only {kills} kills");
    // All permits came back: both can be taken now.
    let s = Semaphore::new("S", 2).on(&c);
    let (a, b) = (s.try_acquire().unwrap(), s.try_acquire().unwrap());
    assert!(a.is_some() && b.is_some() && s.try_acquire().unwrap().is_none());
    println!("    {kills} workers killed");
    let _ = fs::remove_dir_all(&dir);
}

fn queue_consumers_killed() {
    let c = deployment(3, rask::Transport::Tcp);
    let dir = scratch("queue");
    let d = dir.to_string_lossy().into_owned();
    let q = Queue::<u64>::new("Q").on(&c);
    let n = 300u64;
    for i in 0..n {
        q.put(&i).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let k = killer(&c, Duration::from_millis(80), 9, stop.clone());
    let tasks: Vec<Delayed<u64>> = (0..4)
        .map(|_| consume::delayed(d.clone(), "Q".to_owned()))
        .collect();
    let done = c.get(&tasks);
    stop.store(true, Ordering::SeqCst);
    let kills = k.join().unwrap();
    done.unwrap();
    // What a consumer held when it died went back; what the consumers
    // left (none returned while items came back late) is still there.
    let mut seen: Vec<u64> = fs::read_to_string(dir.join("processed"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    while let Some(item) = q.try_get().unwrap() {
        seen.push(item.ack().unwrap());
    }
    let processed = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "an item was lost");
    assert!(kills >= 3, "only {kills} kills");
    println!(
        "    {kills} workers killed; {} items processed twice",
        processed - n as usize
    );
    let _ = fs::remove_dir_all(&dir);
}

// ----- one thread: a blocked task lends its slot ------------------------

/// Waits for event `e` (then releases lock `l` if it took it).
#[rask::task]
fn hold_and_wait(l: String, e: String, take_lock: bool) -> Result<u64, rask::coord::Error> {
    let _held = if take_lock {
        Some(Lock::new(l).acquire()?)
    } else {
        None
    };
    Event::new(e).wait_timeout(Duration::from_secs(30))?;
    Ok(1)
}

#[rask::task]
fn take_lock(l: String) -> Result<u64, rask::coord::Error> {
    let _held = Lock::new(l).acquire_timeout(Duration::from_secs(30))?;
    Ok(2)
}

#[rask::task]
fn set_event(e: String) -> Result<u64, rask::coord::Error> {
    Event::new(e).set()?;
    Ok(3)
}

#[rask::task]
fn get_one(q: String) -> Result<u64, rask::coord::Error> {
    Queue::<u64>::new(q)
        .get_timeout(Duration::from_secs(30))?
        .ack()
}

/// `get_one` in an async body: on `threads` its pool thread waits for it,
/// lending its slot.
#[rask::task]
async fn get_one_async(q: String) -> Result<u64, rask::coord::Error> {
    Queue::<u64>::new(q)
        .get_timeout_async(Duration::from_secs(30))
        .await?
        .ack()
}

#[rask::task]
fn put_one(q: String, v: u64) -> Result<u64, rask::coord::Error> {
    Queue::<u64>::new(q).put(&v)?;
    Ok(0)
}

/// On one compute thread: A holds a lock and waits for an event; C waits
/// for A's lock; B sets the event. In that order each must lend its slot
/// to the next. Then a consumer queued before its producer (a plain one,
/// then an async one).
fn one_thread(c: &Client, tag: &str) {
    let t0 = Instant::now();
    let (l, e, q) = (format!("{tag}/l"), format!("{tag}/e"), format!("{tag}/q"));
    let order = vec![
        hold_and_wait::delayed(l.clone(), e.clone(), true),
        take_lock::delayed(l),
        set_event::delayed(e),
    ];
    assert_eq!(c.get(&order).unwrap(), [1, 2, 3], "{tag}");
    let pair = vec![get_one::delayed(q.clone()), put_one::delayed(q.clone(), 42)];
    assert_eq!(c.get(&pair).unwrap(), [42, 0], "{tag}");
    let pair = vec![get_one_async::delayed(q.clone()), put_one::delayed(q, 43)];
    assert_eq!(c.get(&pair).unwrap(), [43, 0], "{tag}: async");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "{tag}: {:?}",
        t0.elapsed()
    );
}

fn one_thread_everywhere() {
    one_thread(&Client::threads_with(1), "threads");
    one_thread(&Client::processes(1), "processes");
    one_thread(&Client::local_cluster(1, 1).unwrap(), "cluster");
}

/// A task's wait fails with `Disconnected`-free timeouts, and one that
/// ends holding a lease (its guard leaked) frees it with its attempt.
#[rask::task]
fn leak_lease(l: String) -> Result<u64, rask::coord::Error> {
    std::mem::forget(Lock::new(l).acquire()?);
    Ok(1)
}

/// As `leak_lease`, the lock taken with a variable.
#[rask::task]
fn leak_locked_var(l: String) -> Result<u64, rask::coord::Error> {
    let (lock, var) = (Lock::new(l.clone()), Variable::<u64>::new(l));
    std::mem::forget(lock.acquire_and_get(&var)?);
    Ok(1)
}

fn leaked_guard_ends_with_attempt() {
    let c = Client::processes(1);
    leak_lease::delayed("leak".to_owned()).compute(&c).unwrap();
    let l = Lock::new("leak").on(&c);
    assert!(l.acquire_timeout(Duration::from_secs(5)).is_ok());
    leak_locked_var::delayed("leak2".to_owned())
        .compute(&c)
        .unwrap();
    let l = Lock::new("leak2").on(&c);
    assert!(l.acquire_timeout(Duration::from_secs(5)).is_ok());
}

// ----- leases cached by workers ------------------------------------------

/// `k` read-modify-writes of `name/count` under lock `name`, nothing in
/// between (so the lease stays on the worker between them), alternating
/// the combined and the separate forms; returns this process's id.
#[rask::task]
fn tight_sections(name: String, k: u64) -> Result<u64, rask::coord::Error> {
    let lock = Lock::new(name.clone());
    let count = Variable::<u64>::new(format!("{name}/count"));
    for i in 0..k {
        if i % 4 == 3 {
            let _held = lock.acquire()?;
            let n = count.get()?.unwrap_or(0);
            count.set(&(n + 1))?;
        } else {
            let held = lock.acquire_and_get(&count)?;
            let n = held.value().copied().unwrap_or(0);
            held.set_and_release(&(n + 1))?;
        }
    }
    Ok(u64::from(std::process::id()))
}

/// Tasks on two workers share one lock: each worker keeps the lease
/// between its tasks' sections, and gives it back when recalled (the other
/// worker's tasks could not finish otherwise); no update is lost, and the
/// driver reads every write.
fn cached_leases_across_workers() {
    let c = deployment(2, rask::Transport::Tcp);
    let count = Variable::<u64>::new("T/count").on(&c);
    count.set(&0).unwrap();
    let tasks: Vec<Delayed<u64>> = (0..16)
        .map(|_| tight_sections::delayed("T".to_owned(), 200))
        .collect();
    let pids = c.get(&tasks).unwrap();
    let mut seen = pids.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 2, "the tasks ran on {seen:?}");
    assert_eq!(count.get().unwrap(), Some(16 * 200), "lost updates");
    // The driver takes the lock from the worker that keeps it, and reads
    // the value the last section wrote with it.
    let lock = Lock::new("T").on(&c);
    let held = lock
        .acquire_and_get_timeout(&count, Duration::from_secs(10))
        .unwrap();
    assert_eq!(held.value(), Some(&(16 * 200)));
    held.set_and_release(&0).unwrap();
    // Its write, made while no worker kept the lease, is what tasks read.
    let more: Vec<Delayed<u64>> = (0..4)
        .map(|_| tight_sections::delayed("T".to_owned(), 200))
        .collect();
    c.get(&more).unwrap();
    assert_eq!(count.get().unwrap(), Some(4 * 200));
}

/// Takes lock `l` with variable `l`, adds one; returns this process's id.
#[rask::task]
fn add_one(l: String) -> Result<u64, rask::coord::Error> {
    let (lock, var) = (Lock::new(l.clone()), Variable::<u64>::new(l));
    let held = lock.acquire_and_get(&var)?;
    let n = held.value().copied().unwrap_or(0);
    held.set_and_release(&(n + 1))?;
    Ok(u64::from(std::process::id()))
}

/// A worker killed while it keeps a lease (no task holds it): the lease
/// comes back when the scheduler learns of the death, and the write made
/// under it before the task reported is not lost.
fn cached_lease_worker_killed() {
    let c = deployment(2, rask::Transport::Tcp);
    let pid = add_one::delayed("K".to_owned()).compute(&c).unwrap();
    let var = Variable::<u64>::new("K").on(&c);
    assert_eq!(
        var.get().unwrap(),
        Some(1),
        "the write reached the scheduler"
    );
    // SAFETY: kill(2) on a worker process this test's deployment started.
    assert_eq!(unsafe { kill(pid as i32, 9) }, 0);
    let t0 = Instant::now();
    let lock = Lock::new("K").on(&c);
    let held = lock
        .acquire_and_get_timeout(&var, Duration::from_secs(20))
        .unwrap();
    assert_eq!(held.value(), Some(&1));
    held.set_and_release(&10).unwrap();
    println!("    the lease came back {:?} after the kill", t0.elapsed());
    // The restarted deployment goes on from the driver's write.
    add_one::delayed("K".to_owned()).compute(&c).unwrap();
    assert_eq!(var.get().unwrap(), Some(11));
}

// ----- the async forms, in an async task on a worker -------------------

/// A timed `acquire_timeout_async` of lock `l` (which the driver holds)
/// fails; a `get_async` dropped before an item came leaves nothing behind;
/// then, once event `ready` is set, an item the driver puts wakes
/// `get_timeout_async`, and the lock the driver gave back is taken.
#[rask::task]
async fn async_waits(l: String, q: String, ready: String) -> Result<u64, String> {
    let lock = Lock::new(l);
    match lock.acquire_timeout_async(Duration::from_millis(50)).await {
        Err(e) if matches!(e.kind, ErrorKind::TimedOut(_)) => {}
        other => return Err(format!("a held lock: {other:?}")),
    }
    let queue = Queue::<u64>::new(q);
    let dropped = tokio::time::timeout(Duration::from_millis(30), queue.get_async()).await;
    if dropped.is_ok() {
        return Err(format!("from an empty queue: {dropped:?}"));
    }
    Event::new(ready).set().map_err(|e| e.to_string())?;
    let item = queue
        .get_timeout_async(Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    let v = item.ack().map_err(|e| e.to_string())?;
    let held = lock
        .acquire_timeout_async(Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    drop(held);
    // The combined form: the item's value written under the lock.
    let var = Variable::<u64>::new(format!("{}/v", lock.name()));
    let held = lock
        .acquire_and_get_timeout_async(&var, Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    if held.value().is_some() {
        return Err(format!("a variable never set: {:?}", held.value()));
    }
    held.set_and_release(&v).map_err(|e| e.to_string())?;
    Ok(v)
}

fn async_forms() {
    for (c, tag) in [
        (Client::processes(1), "processes"),
        (Client::threads_with(1), "threads"),
    ] {
        let (l, q, ready) = (
            format!("{tag}/al"),
            format!("{tag}/aq"),
            format!("{tag}/ar"),
        );
        let lock = Lock::new(l.as_str()).on(&c);
        let held = lock.acquire().unwrap();
        let f = async_waits::submit(&c, l.clone(), q.clone(), ready.clone());
        if let Err(e) = Event::new(ready)
            .on(&c)
            .wait_timeout(Duration::from_secs(20))
        {
            panic!("{tag}: {e}; the task: {:?}", f.result());
        }
        drop(held);
        let queue = Queue::<u64>::new(q).on(&c);
        queue.put(&7).unwrap();
        assert_eq!(f.result().unwrap(), 7, "{tag}");
        let var = Variable::<u64>::new(format!("{l}/v")).on(&c);
        assert_eq!(
            var.get().unwrap(),
            Some(7),
            "{tag}: written with the release"
        );
        // The task's lease ended with it; the dropped wait took nothing.
        assert!(lock.try_acquire().unwrap().is_some(), "{tag}");
        assert!(queue.try_get().unwrap().is_none(), "{tag}");
    }
}

fn main() {
    rask::init();
    let checks: &[(&str, fn())] = &[
        ("lock_holders_killed", lock_holders_killed),
        ("combined_lock_holders_killed", combined_lock_holders_killed),
        ("permit_holders_killed", permit_holders_killed),
        ("queue_consumers_killed", queue_consumers_killed),
        ("one_thread_everywhere", one_thread_everywhere),
        (
            "leaked_guard_ends_with_attempt",
            leaked_guard_ends_with_attempt,
        ),
        ("async_forms", async_forms),
        ("cached_leases_across_workers", cached_leases_across_workers),
        ("cached_lease_worker_killed", cached_lease_worker_killed),
    ];
    let (ran, failed) = run_checks(checks, || None);
    finish(ran, failed);
}
