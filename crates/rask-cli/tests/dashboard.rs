//! `rask scheduler --dashboard`, `rask status` and `rask explain` against a
//! real cluster: a scheduler and a worker process on loopback, a client
//! (`rask check`) computing on it, all the `rask` binary.

#![allow(clippy::unwrap_used)]

mod common;
use common::{text, Proc, RASK};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn rask(args: &[&str]) -> Output {
    Command::new(RASK)
        .args(args)
        .env_remove("RASK_SECRET")
        .output()
        .unwrap()
}

/// A GET of `path` at `addr` with `headers`: the status and the body.
fn http(addr: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out[9..12].parse().unwrap();
    (
        code,
        out.split_once("\r\n\r\n").map_or("", |x| x.1).to_owned(),
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
            "--metrics",
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
    // The dashboard's URL carries its token: `http://ADDR/?token=T`.
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    let (dash, token) = url
        .trim_start_matches("http://")
        .split_once("/?token=")
        .unwrap_or_else(|| panic!("no token in {line}"));
    let (dash, token) = (dash.to_owned(), token.to_owned());
    line.clear();
    out.read_line(&mut line).unwrap();
    let metrics = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_once("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {line}"))
        .0
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

    // The token is derived from the secret the scheduler made: `rask
    // token` finds it in the scheduler's secret file.
    let printed = rask(&["token", &addr]);
    assert!(printed.status.success(), "{}", text(&printed));
    assert_eq!(String::from_utf8_lossy(&printed.stdout).trim(), token);

    // Without the token, or with a wrong one, nothing is served.
    let refused = rask(&["status", &dash]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("asks for its token"),
        "{}",
        text(&refused)
    );
    let wrong = Command::new(RASK)
        .args(["status", &dash])
        .env("RASK_HTTP_TOKEN", "0123")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("refused the token"),
        "{}",
        text(&wrong)
    );
    assert_eq!(http(&dash, "/api/status", "").0, 401);
    let bearer = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(http(&dash, "/api/status", &bearer).0, 200);
    // /metrics asks for the same token; /health is open (probes).
    assert_eq!(http(&metrics, "/metrics", "").0, 401);
    assert_eq!(
        http(&metrics, "/metrics", "Authorization: Bearer 0123\r\n").0,
        403
    );
    let (code, body) = http(&metrics, "/metrics", &bearer);
    assert_eq!(code, 200);
    assert!(body.contains("rask_workers 1"), "{body}");
    assert_eq!(http(&metrics, "/health", ""), (200, "ok\n".to_owned()));
    // The token in RASK_HTTP_TOKEN is as good as the URL's.
    let with_env = Command::new(RASK)
        .args(["status", &dash])
        .env("RASK_HTTP_TOKEN", &token)
        .output()
        .unwrap();
    assert!(with_env.status.success(), "{}", text(&with_env));

    // What the client computed is on the scheduler's dashboard.
    let dash = url; // the URL as printed, token and all
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
