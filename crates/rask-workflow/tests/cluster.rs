//! Workflows on a local cluster (a scheduler here, worker processes that
//! are this binary started again: `main` calls `rask::init()` first, so
//! without libtest). The jobs run on the workers through the registered
//! job task; retries, time limits, failures, up-to-date checks and
//! cancellation must behave as on threads.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{gone, opts, read, run_tests, scratch, sorted, workflow};
use rask::Client;
use rask_workflow::{interrupt, run, run_local};

fn main() {
    rask::init();
    run_tests(&[
        (
            "a_diamond_runs_on_the_workers",
            a_diamond_runs_on_the_workers,
        ),
        (
            "failures_retries_and_timeouts",
            failures_retries_and_timeouts,
        ),
        (
            "ctrl_c_cancels_jobs_on_the_workers_and_the_run_resumes",
            ctrl_c_cancels_jobs_on_the_workers,
        ),
    ]);
}

fn cluster() -> Client {
    Client::local_cluster(2, 2).unwrap()
}

fn a_diamond_runs_on_the_workers() {
    let d = scratch("cluster-diamond");
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "top"
cmd = "echo $PPID > {output}"
outputs = ["top.txt"]

[[job]]
name = "side"
for = { s = "0..6" }
cmd = "cat {input} > {output}; echo {s} >> {output}"
inputs = ["top.txt"]
outputs = ["side/{s}.txt"]

[[job]]
name = "bottom"
cmd = "cat {inputs} | wc -l > {output}"
inputs = ["side/*.txt"]
outputs = ["bottom.txt"]
"#,
    );
    let client = cluster();
    let s = run(&wf, &client, &opts(0)).unwrap();
    assert!(s.success(), "{s}");
    assert_eq!(s.ran.len(), 8);
    assert_eq!(read(&d, "bottom.txt").trim(), "12");
    // The command's parent (the worker) is not this process.
    let worker: u32 = read(&d, "top.txt").trim().parse().unwrap();
    assert_ne!(worker, std::process::id());
    // Up to date on the cluster, and on threads: one journal, one answer.
    let again = run(&wf, &client, &opts(0)).unwrap();
    assert!(again.ran.is_empty() && again.up_to_date == 8, "{again}");
    let here = run_local(&wf, &opts(2)).unwrap();
    assert!(here.ran.is_empty() && here.up_to_date == 8, "{here}");
    // A change made here flows down on the cluster.
    std::fs::write(d.join("side/3.txt"), "edited\n").unwrap();
    let s = run(&wf, &client, &opts(0)).unwrap();
    assert_eq!(s.ran, ["side[3]"], "{s}");
}

fn failures_retries_and_timeouts() {
    let d = scratch("cluster-failures");
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "lucky"
retries = 3
cmd = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ] && echo ok > {output}"
outputs = ["lucky.txt"]

[[job]]
name = "bad"
cmd = "echo 'no such thing' >&2; exit 4"
outputs = ["bad.txt"]

[[job]]
name = "after-bad"
cmd = "cp {input} {output}"
inputs = ["bad.txt"]
outputs = ["after-bad.txt"]

[[job]]
name = "slow"
timeout = "200ms"
cmd = "sleep 20 & echo $! > slow.pid; wait"
"#,
    );
    let client = cluster();
    let t = Instant::now();
    let s = run(&wf, &client, &opts(0)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(s.ran, ["lucky"]);
    assert_eq!(read(&d, "count").trim(), "3");
    let bad = s.failed.iter().find(|f| f.job == "bad").unwrap();
    assert_eq!(bad.exit_code, Some(4));
    assert_eq!(bad.stderr_tail, "no such thing");
    let slow = s.failed.iter().find(|f| f.job == "slow").unwrap();
    assert!(
        slow.why.starts_with("timed out after 200 ms"),
        "{}",
        slow.why
    );
    let pid: i32 = read(&d, "slow.pid").trim().parse().unwrap();
    assert!(gone(pid), "the timed-out job's background sleep survived");
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(
        (s.skipped[0].job.as_str(), s.skipped[0].because.as_str()),
        ("after-bad", "bad")
    );
}

fn ctrl_c_cancels_jobs_on_the_workers() {
    let d = scratch("cluster-cancel");
    std::fs::create_dir_all(d.join("pids")).unwrap();
    let text = r#"
[[job]]
name = "step-{i}"
for = { i = "0..12" }
cmd = "if [ {i} -ge 2 ]; then sleep $(cat sleep.txt) & echo $! > pids/{i}; wait; fi; echo {i} > {output}"
outputs = ["out/{i}.txt"]
"#;
    std::fs::write(d.join("sleep.txt"), "30").unwrap();
    let wf = workflow(&d, text);
    let client = cluster();
    interrupt::install().unwrap();
    let pids = d.join("pids");
    let killer = std::thread::spawn(move || {
        let t = Instant::now();
        while std::fs::read_dir(&pids).map_or(0, |r| r.count()) < 3 {
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signalling this process; the handler only writes to a pipe.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    });
    let t = Instant::now();
    let s = run(&wf, &client, &opts(0)).unwrap();
    killer.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(s.interrupted && s.cancelled > 0, "{s}");
    assert_eq!(s.exit_code(), 130);
    for p in std::fs::read_dir(d.join("pids")).unwrap() {
        let pid: i32 = std::fs::read_to_string(p.unwrap().path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            gone(pid),
            "sleep {pid} on a worker survived the cancellation"
        );
    }
    let files: Vec<String> = sorted(
        std::fs::read_dir(d.join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
    );
    assert!(
        files.iter().all(|f| f == "0.txt" || f == "1.txt"),
        "{files:?}"
    );
    let finished = files.len();
    interrupt::clear();
    std::fs::write(d.join("sleep.txt"), "0").unwrap();
    let again = run(&wf, &client, &opts(0)).unwrap();
    assert!(again.success(), "{again}");
    assert_eq!(
        (again.up_to_date, again.ran.len()),
        (finished, 12 - finished),
        "{again}"
    );
}
