//! The dashboard's routes over HTTP, on a recorder fed with events.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_core::{Event, Key, RunId, Subscriber, TaskId, WorkerId};
use rask_dashboard::{Dashboard, DashboardOptions};
use rask_diagnostics::{Recorder, RecorderOptions};

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |x| x.1).to_owned();
    (code, body)
}

fn finished(rec: &Recorder, key: &Key, task: u32) {
    let now = Instant::now();
    rec.on_event(&Event::TaskFinished {
        run: RunId(0),
        task: TaskId(task),
        key,
        worker: WorkerId(0),
        thread: 0,
        attempt: 1,
        started: now,
        finished: now + Duration::from_micros(5),
        nbytes: None,
    });
}

fn serve() -> (Recorder, Dashboard) {
    let rec = Recorder::with_options(RecorderOptions {
        sample_every: None,
        ..RecorderOptions::default()
    });
    let opts = DashboardOptions {
        interval: Duration::from_millis(50),
        ..DashboardOptions::default()
    };
    let d = Dashboard::serve_with(Arc::new(rec.clone()), "127.0.0.1:0", opts).unwrap();
    (rec, d)
}

#[test]
fn pages_and_apis_answer() {
    let (rec, d) = serve();
    for i in 0..3 {
        finished(&rec, &Key::indexed("load", i), i as u32);
    }
    let (code, html) = get(d.addr(), "/");
    assert_eq!(code, 200);
    assert!(html.contains("Rask.live()") && !html.contains("<script src"));
    let (code, page) = get(d.addr(), "/task?key=load%5B1%5D");
    assert_eq!(code, 200);
    assert!(page.contains(r#"Rask.task("load[1]")"#));
    let (code, page) = get(d.addr(), "/task?key=%3C%2Fscript%3E");
    assert_eq!(code, 200);
    assert!(
        !page.contains("Rask.task(\"</script>"),
        "a key must not close the script"
    );
    let (code, status) = get(d.addr(), "/api/status");
    assert_eq!(code, 200);
    // What `rask status ADDR` can read back and print.
    let st: rask_diagnostics::Status = serde_json::from_str(&status).unwrap();
    assert_eq!(st.tasks.done, 3);
    assert!(st.to_string().contains("load: 3/0 done"), "{st}");
    let (_, detail) = get(d.addr(), "/api/explain?key=load%5B1%5D");
    let e = serde_json::from_str::<serde_json::Value>(&detail).unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("load[1]"),
        "eager tasks have no graph: {e}"
    );
    let (code, metrics) = get(d.addr(), "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("rask_prefix_tasks{prefix=\"load\",state=\"done\"} 3"));
    assert!(metrics
        .lines()
        .all(|l| l.is_empty() || l.starts_with("# ") || l.starts_with("rask_")));
    let (code, err) = get(d.addr(), "/api/explain?key=nope");
    assert_eq!(code, 404);
    assert!(err.contains("no task `nope`"));
    let (code, _) = get(d.addr(), "/api/graph.svg");
    assert_eq!(code, 404, "no run, no graph");
    let (code, _) = get(d.addr(), "/task");
    assert_eq!(code, 400);
    d.stop();
}

#[test]
fn the_event_stream_sends_each_record_once() {
    let (rec, d) = serve();
    finished(&rec, &Key::new("first"), 0);
    let mut s = TcpStream::connect(d.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut added = false;
    // Collect updates until two carry a record each (the first, then "second").
    while Instant::now() < deadline {
        let n = s.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !added && seen.contains("event: update") {
            finished(&rec, &Key::new("second"), 1);
            added = true;
        }
        if seen.contains("\"second\"") && seen.matches("event: update").count() >= 3 {
            break;
        }
    }
    let updates: Vec<serde_json::Value> = seen
        .split("data: ")
        .skip(1)
        .map(|d| serde_json::from_str(d.lines().next().unwrap()).unwrap())
        .collect();
    assert!(updates.len() >= 3, "{} updates", updates.len());
    let records: usize = updates
        .iter()
        .map(|u| u["stream"]["tasks"]["start"].as_array().unwrap().len())
        .sum();
    assert_eq!(records, 2, "each record once");
    assert_eq!(updates.last().unwrap()["status"]["tasks"]["done"], 2);
    drop(s);
    d.stop();
}
