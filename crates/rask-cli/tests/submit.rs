//! `rask submit`, `rask jobs`, `rask wait`, `rask cancel` and `rask run
//! --cluster` against a real cluster: `rask scheduler` and `rask worker`
//! processes on loopback, all the `rask` binary.

#![allow(clippy::unwrap_used)]

mod common;
use common::{text, Proc, RASK};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cluster() -> (String, Proc, Proc) {
    let mut sched = Command::new(RASK)
        .args(["scheduler", "--listen", "127.0.0.1:0"])
        .env_remove("RASK_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sched.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    let worker = Command::new(RASK)
        .args(["worker", &addr, "--threads", "2"])
        .env_remove("RASK_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (addr, Proc(sched), Proc(worker))
}

fn rask(dir: &Path, store: &Path, args: &[&str]) -> Output {
    Command::new(RASK)
        .args(args)
        .arg("--store")
        .arg(store)
        .current_dir(dir)
        .env_remove("RASK_SECRET")
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `rask submit ... -- ARGS` with its own options before `--`.
fn submit(dir: &Path, store: &Path, addr: &str, opts: &[&str], cmd: &[&str]) -> String {
    let mut args = vec!["submit", "--cluster", addr];
    args.extend_from_slice(opts);
    let mut c = Command::new(RASK);
    c.args(&args)
        .arg("--store")
        .arg(store)
        .arg("--")
        .args(cmd)
        .current_dir(dir)
        .env_remove("RASK_SECRET");
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

#[test]
fn submitted_arrays_run_on_the_cluster_and_are_waited_for() {
    let (addr, _s, _w) = cluster();
    let dir = scratch("submit");
    let store = dir.join("store");
    std::fs::create_dir_all(dir.join("out")).unwrap();
    // An array: {} is the index, RASK_TASK_ID too.
    let id = submit(
        &dir,
        &store,
        &addr,
        &["--array", "1-20"],
        &[
            "sh",
            "-c",
            "echo $0 $RASK_TASK_ID > out/$0.txt; echo done $0",
            "{}",
        ],
    );
    assert_eq!(id, "1");
    let w = rask(&dir, &store, &["wait", "1"]);
    assert!(w.status.success(), "{}", text(&w));
    assert!(text(&w).contains("finished (20 tasks ok)"), "{}", text(&w));
    for i in 1..=20 {
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("out/{i}.txt"))).unwrap(),
            format!("{i} {i}\n")
        );
    }
    // A failing task: `wait` says which, with its exit code, and fails.
    let id = submit(
        &dir,
        &store,
        &addr,
        &["--name", "bad", "--retries", "1"],
        &["sh", "-c", "echo oops >&2; exit 3"],
    );
    let w = rask(&dir, &store, &["wait", &id]);
    assert_eq!(w.status.code(), Some(1), "{}", text(&w));
    let t = text(&w);
    assert!(
        t.contains("FAILED bad: exit code 3") && t.contains("| oops"),
        "{t}"
    );
    // A long one is listed as running, then cancelled.
    let id = submit(
        &dir,
        &store,
        &addr,
        &["--array", "1-4", "--name", "sleepy"],
        &["sleep", "30"],
    );
    let j = rask(&dir, &store, &["jobs"]);
    let listing = text(&j);
    assert!(
        listing.contains("sleepy") && listing.contains("running (0/4 done)"),
        "{listing}"
    );
    assert!(
        listing.contains("finished (20 tasks ok)")
            && listing.contains("failed (1 of 1 tasks failed)"),
        "{listing}"
    );
    let t = Instant::now();
    let c = rask(&dir, &store, &["cancel", &id]);
    assert!(c.status.success(), "{}", text(&c));
    let w = rask(&dir, &store, &["wait", &id]);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "cancelling took {:?}",
        t.elapsed()
    );
    assert!(text(&w).contains("cancelled"), "{}", text(&w));
    // Logs of each task are in the job's directory.
    assert_eq!(
        std::fs::read_to_string(store.join("1/logs/sh[7].out")).unwrap(),
        "done 7\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rask_run_on_a_cluster_and_its_errors() {
    let (addr, _s, _w) = cluster();
    let dir = scratch("run");
    std::fs::write(
        dir.join("w.toml"),
        "[[job]]\nname = \"sq-{i}\"\nfor = { i = \"1..=8\" }\ncmd = \"echo $(({i} * {i})) > {output}\"\noutputs = [\"sq/{i}.txt\"]\n\n\
         [[job]]\nname = \"sum\"\ncmd = \"cat {inputs} | awk '{{s+=$1}} END {{print s}}' > {output}\"\ninputs = [\"sq/*.txt\"]\noutputs = [\"sum.txt\"]\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut c = Command::new(RASK);
        c.args(["run", "w.toml", "--quiet"])
            .args(extra)
            .current_dir(&dir);
        c.output().unwrap()
    };
    let o = run(&["--cluster", &addr]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.join("sum.txt")).unwrap().trim(),
        "204"
    );
    let o = run(&["--dry-run"]);
    assert!(
        text(&o).contains("0 would run, 0 may run, 9 up to date"),
        "{}",
        text(&o)
    );
    // A typo is an error with its line; the exit status says so.
    std::fs::write(
        dir.join("bad.toml"),
        "[[job]]\nname = \"a\"\ncmd = \"true\"\noutptus = [\"x\"]\n",
    )
    .unwrap();
    let o = Command::new(RASK)
        .args(["run", "bad.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("line 4") && text(&o).contains("outptus"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
