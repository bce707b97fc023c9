//! `rask scheduler --dashboard`, `rask status` and `rask explain` against a
//! real cluster: a scheduler and a worker process on loopback, a client
//! (`rask check`) computing on it, all the `rask` binary.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

const RASK: &str = env!("CARGO_BIN_EXE_rask");

/// Kills its process when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rask(args: &[&str]) -> Output {
    Command::new(RASK)
        .args(args)
        .env_remove("RASK_SECRET")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_scheduler_dashboard_shows_every_clients_tasks() {
    let mut sched = Command::new(RASK)
        .args([
            "scheduler",
            "--listen",
            "127.0.0.1:0",
            "--dashboard",
            "127.0.0.1:0",
        ])
        .env_remove("RASK_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(sched.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    line.clear();
    out.read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    let dash = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let _sched = Proc(sched);
    let _worker = Proc(
        Command::new(RASK)
            .args(["worker", &addr, "--threads", "2", "--name", "w0"])
            .env_remove("RASK_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let check = rask(&["check", "--cluster", &addr, "--wait-workers", "1"]);
    assert!(check.status.success(), "{}", text(&check));

    // What the client computed is on the scheduler's dashboard.
    let status = rask(&["status", &dash]);
    let s = text(&status);
    assert!(status.status.success(), "{s}");
    assert!(s.starts_with("cluster: "), "{s}");
    assert!(s.contains("worker 0 w0"), "{s}");
    let json = rask(&["status", &dash, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let done = v["tasks"]["done"].as_u64().unwrap();
    assert!(done > 0, "{v}");
    assert_eq!(v["tasks"]["failed"].as_u64(), Some(0), "{v}");

    // Any task it shows can be explained: the first prefix's task 0 or later.
    let prefix = v["prefixes"][0]["name"].as_str().unwrap().to_owned();
    let explained = (0..300)
        .map(|i| rask(&["explain", &dash, &format!("{prefix}[{i}]")]))
        .find(|o| o.status.success())
        .unwrap_or_else(|| panic!("no task of `{prefix}` could be explained"));
    let e = text(&explained);
    assert!(e.contains(&prefix) && e.contains("done"), "{e}");

    // An unknown key is a clear error, and a dashboard that is not there
    // is named.
    let bad = rask(&["explain", &dash, "nothing[1]"]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("nothing"), "{}", text(&bad));
    let gone = rask(&["status", "127.0.0.1:1"]);
    assert!(!gone.status.success());
    assert!(
        text(&gone).contains("cannot reach the dashboard at 127.0.0.1:1"),
        "{}",
        text(&gone)
    );
}
