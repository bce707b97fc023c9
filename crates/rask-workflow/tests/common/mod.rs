//! Helpers shared by the workflow tests: a scratch directory per test, a
//! workflow written into it, and a tiny runner that reports failures
//! (these tests run without libtest: their binaries also serve as cluster
//! workers and as drivers killed mid-run).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use rask_workflow::{RunOptions, Workflow};

/// A fresh directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-wf-{}-{}", std::process::id(), name));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `text` as `dir/workflow.toml` and loads it.
pub(crate) fn workflow(dir: &Path, text: &str) -> Workflow {
    let f = dir.join("workflow.toml");
    std::fs::write(&f, text).unwrap();
    Workflow::load(&f).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn opts(jobs: usize) -> RunOptions {
    RunOptions {
        jobs,
        ..RunOptions::default()
    }
}

pub(crate) fn read(dir: &Path, p: &str) -> String {
    std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

pub(crate) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Whether `pid` has exited (or is a zombie nobody reaped yet), waiting up to 3 s.
pub(crate) fn gone(pid: i32) -> bool {
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("X");
        if stat.is_empty() || state == "Z" || state == "X" {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    false
}

/// Runs each test, prints its outcome, exits non-zero if any failed.
pub(crate) fn run_tests(tests: &[(&str, fn())]) {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut passed = 0;
    for (name, t) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let start = std::time::Instant::now();
        match std::panic::catch_unwind(t) {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.2} s)",
                    start.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!();
    println!("{passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        // Every scratch directory of this process (kept on failure, to look at).
        let prefix = format!("rask-wf-{}-", std::process::id());
        if let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    if !failed.is_empty() {
        println!("failed: {failed:?}");
        std::process::exit(1);
    }
}
