//! The recorder fed with events directly: bounded memory for 10 million
//! tasks, totals over everything, cursors, failures, samples, transfers,
//! and the report and trace it writes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_core::{Event, Key, RunId, Stamp, Subscriber, TaskError, TaskErrorKind, TaskId, WorkerId};
use rask_diagnostics::{ClusterState, Cursor, Recorder, RecorderOptions, TaskState};

fn quiet(capacity: usize) -> Recorder {
    Recorder::with_options(RecorderOptions {
        capacity,
        sample_every: None,
        ..RecorderOptions::default()
    })
}

/// Feeds `n` started+finished pairs on worker `w`, alternating two keys.
fn feed(rec: &Recorder, w: u32, n: u64, t0: Stamp) {
    let keys = [Key::indexed("load", 0), Key::new("merge")];
    for i in 0..n {
        let key = &keys[(i % 2) as usize];
        let at = Stamp(t0.0 + i * 100);
        rec.on_event(&Event::TaskStarted {
            run: RunId(0),
            task: TaskId(i as u32),
            key,
            worker: WorkerId(w),
            thread: 0,
            attempt: 1,
            at,
        });
        rec.on_event(&Event::TaskFinished {
            run: RunId(0),
            task: TaskId(i as u32),
            key,
            worker: WorkerId(w),
            thread: 0,
            attempt: 1,
            started: at,
            finished: Stamp(at.0 + 50),
            nbytes: Some(8),
        });
    }
}

#[test]
fn ten_million_tasks_stay_within_the_stated_budget() {
    let rec = Recorder::with_options(RecorderOptions {
        sample_every: None,
        ..RecorderOptions::default()
    });
    let t0 = Stamp::from_instant(rec.epoch());
    // Two threads, as two pool workers would deliver them.
    std::thread::scope(|s| {
        for w in 0..2 {
            let rec = rec.clone();
            s.spawn(move || feed(&rec, w, 5_000_000, t0));
        }
    });
    let mem = rec.memory_bytes();
    assert!(mem < 80 << 20, "{} MiB", mem >> 20);
    assert!(mem > 40 << 20, "the ring should be full: {} MiB", mem >> 20);
    let st = rec.status();
    // The totals count every task, kept or dropped.
    assert_eq!(st.tasks.done, 10_000_000);
    assert_eq!(st.tasks.running, 0);
    let load = st.prefixes.iter().find(|p| p.name == "load").unwrap();
    assert_eq!(load.done, 5_000_000);
    assert_eq!(load.nbytes, 40_000_000);
    assert!((load.busy_s - 0.25).abs() < 1e-9, "{}", load.busy_s);
    assert_eq!(st.workers.iter().map(|w| w.done).sum::<u64>(), 10_000_000);
    let kept = rec.snapshot(usize::MAX).tasks.len() as u64;
    assert_eq!(kept + rec.dropped(), 10_000_000);
    // The ring keeps its capacity (2^20) less the unfilled ends of the
    // two threads' last chunks.
    assert!(kept > 1_040_000, "{kept}");
}

#[test]
fn a_stream_cursor_gives_each_record_once_and_counts_what_it_missed() {
    let rec = quiet(4096);
    let t0 = Stamp::from_instant(rec.epoch());
    feed(&rec, 0, 10, t0);
    let a = rec.stream(&Cursor::default(), usize::MAX);
    assert_eq!(a.tasks.len(), 10);
    assert_eq!(a.missed, 0);
    let b = rec.stream(&a.cursor, usize::MAX);
    assert_eq!(b.tasks.len(), 0);
    feed(&rec, 1, 5, t0);
    let c = rec.stream(&b.cursor, usize::MAX);
    assert_eq!(c.tasks.len(), 5);
    assert!(c.tasks.worker.iter().all(|&w| w == 1));
    // More than the ring holds: the reader learns how many it missed.
    feed(&rec, 0, 20_000, t0);
    let d = rec.stream(&c.cursor, usize::MAX);
    assert_eq!(d.tasks.len() as u64 + d.missed, 20_000);
    assert!(d.missed > 0);
    // A limit keeps the most recent.
    feed(&rec, 0, 100, t0);
    let e = rec.stream(&d.cursor, 30);
    assert_eq!((e.tasks.len(), e.missed), (30, 70));
    assert_eq!(e.names.iter().filter(|n| *n == "load").count(), 1);
}

fn error(key: Key, kind: TaskErrorKind, attempt: u32) -> TaskError {
    TaskError {
        key,
        kind,
        message: "boom".into(),
        backtrace: None,
        attempt,
        cause: None,
    }
}

#[test]
fn failures_retries_and_running_tasks_are_counted() {
    let rec = quiet(1 << 16);
    let now = Instant::now();
    let stamp = Stamp::from_instant(now);
    let key = Key::indexed("flaky", 1);
    for attempt in 1..=2 {
        rec.on_event(&Event::TaskStarted {
            run: RunId(0),
            task: TaskId(1),
            key: &key,
            worker: WorkerId(0),
            thread: 0,
            attempt,
            at: stamp,
        });
    }
    let st = rec.status();
    assert_eq!(st.tasks.running, 2);
    let e = error(key.clone(), TaskErrorKind::Failed, 1);
    rec.on_event(&Event::TaskRetrying {
        run: RunId(0),
        task: TaskId(1),
        error: &e,
        worker: WorkerId(0),
        at: now,
    });
    let e2 = error(key.clone(), TaskErrorKind::Panicked, 2);
    rec.on_event(&Event::TaskFailed {
        run: RunId(0),
        task: TaskId(1),
        error: &e2,
        worker: WorkerId(0),
        at: now + Duration::from_millis(3),
    });
    let dep = error(
        Key::new("after"),
        TaskErrorKind::DependencyFailed {
            dependency: key.clone(),
        },
        1,
    );
    rec.on_event(&Event::TaskFailed {
        run: RunId(0),
        task: TaskId(2),
        error: &dep,
        worker: WorkerId(1),
        at: now,
    });
    let st = rec.status();
    assert_eq!(st.tasks.running, 0);
    assert_eq!(
        (st.tasks.failed, st.tasks.skipped, st.tasks.done),
        (1, 1, 0)
    );
    let snap = rec.snapshot(usize::MAX);
    assert_eq!(snap.tasks.len(), 3);
    assert_eq!(snap.errors.len(), 1);
    assert!(snap.errors[0].1.contains("boom"), "{:?}", snap.errors);
    // The failed attempt that was the last one ran for 3 ms.
    let i = snap
        .tasks
        .flags
        .iter()
        .position(|f| f & 4 != 0 && f & 8 == 0 && f & 16 == 0)
        .unwrap();
    assert!(snap.tasks.dur[i] >= 3_000_000);
}

#[test]
fn samples_transfers_and_workers_from_other_processes_are_kept() {
    let rec = quiet(1 << 16);
    let now = Instant::now();
    rec.on_event(&Event::WorkerJoined {
        worker: WorkerId(3),
        name: "box-3",
        threads: 4,
        at: now,
    });
    rec.on_event(&Event::WorkerSample {
        worker: WorkerId(3),
        at: now,
        cpu_percent: 250.0,
        rss_bytes: 1 << 30,
        managed_bytes: 1 << 20,
        spilled_bytes: 5,
        moved_bytes: 7,
    });
    rec.on_event(&Event::Transferred {
        run: RunId(1),
        task: TaskId(0),
        from: WorkerId(3),
        to: WorkerId::CLIENT,
        nbytes: 4096,
        started: now,
        finished: now + Duration::from_micros(10),
    });
    rec.on_event(&Event::WorkerLost {
        worker: WorkerId(3),
        name: "box-3",
        why: "was killed by signal 9 (SIGKILL)",
        at: now,
    });
    let st = rec.status();
    let w = st.workers.iter().find(|w| w.id == 3).unwrap();
    assert_eq!((w.name.as_str(), w.threads, w.alive), ("box-3", 4, false));
    assert_eq!(
        (w.rss_bytes, w.spilled_bytes, w.moved_bytes),
        (Some(1 << 30), Some(5), Some(7))
    );
    assert_eq!((st.bytes_moved, st.transfers), (4096, 1));
    let snap = rec.snapshot(0);
    assert_eq!(snap.samples.len(), 1);
    assert_eq!(snap.transfers.nbytes, vec![4096]);
    assert_eq!(snap.transfers.dur, vec![10_000]);
}

#[test]
fn this_process_is_sampled_about_every_interval() {
    let rec = Recorder::with_options(RecorderOptions {
        sample_every: Some(Duration::from_millis(20)),
        ..RecorderOptions::default()
    });
    // About 15 in 300 ms; a loaded machine may delay the sampler, so wait
    // (up to 10 s) for 5.
    let t0 = Instant::now();
    let (snap, mine) = loop {
        std::thread::sleep(Duration::from_millis(100));
        let snap = rec.snapshot(0);
        let mine: Vec<usize> = (0..snap.samples.len())
            .filter(|&i| snap.samples.worker[i] == WorkerId::CLIENT.0)
            .collect();
        if mine.len() >= 5 || t0.elapsed() > Duration::from_secs(10) {
            break (snap, mine);
        }
    };
    assert!(mine.len() >= 5, "{} samples", mine.len());
    assert!(mine.iter().all(|&i| snap.samples.rss[i] > 1 << 20));
    let me = rec
        .status()
        .workers
        .into_iter()
        .find(|w| w.id == WorkerId::CLIENT.0)
        .unwrap();
    assert_eq!(me.name, "this process");
}

#[test]
fn a_thread_that_exits_leaves_its_records_behind() {
    let rec = quiet(1 << 16);
    let t0 = Stamp::from_instant(rec.epoch());
    let r2 = rec.clone();
    std::thread::spawn(move || feed(&r2, 7, 100, t0))
        .join()
        .unwrap();
    let snap = rec.snapshot(usize::MAX);
    assert_eq!(snap.tasks.len(), 100);
    assert_eq!(rec.status().tasks.done, 100);
    // Dropping a recorder while other threads hold buffers for it is fine.
    let r3 = quiet(4096);
    feed(&r3, 0, 10, Stamp::from_instant(r3.epoch()));
    drop(r3);
    feed(&rec, 0, 10, t0);
    assert_eq!(rec.status().tasks.done, 110);
}

#[test]
fn explain_refuses_keys_it_cannot_read_or_does_not_know() {
    let rec = quiet(4096);
    let e = rec.explain("no-such-task[3]").unwrap_err();
    assert!(e.to_string().contains("no task `no-such-task[3]`"), "{e}");
    let e = rec.explain("").unwrap_err();
    assert!(e.to_string().contains("not a task key"), "{e}");
    assert_eq!(TaskState::Ready.name(), "ready");
}

#[test]
fn the_report_is_one_file_that_needs_no_network_and_the_trace_is_json() {
    let rec = quiet(1 << 16);
    feed(&rec, 0, 50, Stamp::from_instant(rec.epoch()));
    let dir = std::env::temp_dir().join(format!("rask-report-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = std::fs::read_to_string(rec.write_report(dir.join("r.html")).unwrap()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for bad in [
        "<script src",
        "<link",
        "@import",
        "url(",
        "fetch(",
        "XMLHttpRequest",
        "EventSource",
    ] {
        assert!(!html.contains(bad), "the report refers to `{bad}`");
    }
    assert!(html.contains("Rask.report("));
    let trace = std::fs::read_to_string(rec.write_trace(dir.join("t.json")).unwrap()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&trace).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let tasks: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(tasks.len(), 50);
    assert_eq!(tasks[0]["name"], "load[0]");
    assert_eq!(tasks[1]["name"], "merge");
    assert_eq!(tasks[0]["args"]["nbytes"], 8);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_with_script_in_it_cannot_break_out_of_the_report() {
    let rec = quiet(4096);
    let key = Key::new("</script><script>alert(1)</script>");
    let now = Stamp::now();
    rec.on_event(&Event::TaskFinished {
        run: RunId(0),
        task: TaskId(0),
        key: &key,
        worker: WorkerId(0),
        thread: 0,
        attempt: 1,
        started: now,
        finished: now,
        nbytes: None,
    });
    let html = rask_diagnostics::report_html(&rec.snapshot(10), "t").unwrap();
    assert!(!html.contains("</script><script>alert"));
    let _ = Arc::new(0);
}
