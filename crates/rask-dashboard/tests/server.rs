//! The dashboard's routes over HTTP, on a recorder fed with events.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_core::{Event, Key, RunId, Subscriber, TaskId, WorkerId};
use rask_dashboard::{Access, Dashboard, DashboardOptions};
use rask_diagnostics::{Recorder, RecorderOptions};

/// A GET with `headers` (each `Name: value`): the status, the response's
/// head and its body.
fn request(addr: SocketAddr, path: &str, headers: &[String]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}Connection: close\r\n\r\n",
        addr.port()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out[9..12].parse().unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (code, head.to_owned(), body.to_owned())
}

/// A GET with the dashboard's token.
fn get(d: &Dashboard, path: &str) -> (u16, String) {
    let bearer = format!("Authorization: Bearer {}", d.token().unwrap());
    let (code, _, body) = request(d.addr(), path, &[bearer]);
    (code, body)
}

fn finished(rec: &Recorder, key: &Key, task: u32) {
    let now = rask_core::Stamp::now();
    rec.on_event(&Event::TaskFinished {
        run: RunId(0),
        task: TaskId(task),
        key,
        worker: WorkerId(0),
        thread: 0,
        attempt: 1,
        started: now,
        finished: rask_core::Stamp(now.0 + 5_000),
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
    let (code, html) = get(&d, "/");
    assert_eq!(code, 200);
    assert!(html.contains("Rask.live()") && !html.contains("<script src"));
    let (code, page) = get(&d, "/task?key=load%5B1%5D");
    assert_eq!(code, 200);
    assert!(page.contains(r#"Rask.task("load[1]")"#));
    let (code, page) = get(&d, "/task?key=%3C%2Fscript%3E");
    assert_eq!(code, 200);
    assert!(
        !page.contains("Rask.task(\"</script>"),
        "a key must not close the script"
    );
    let (code, status) = get(&d, "/api/status");
    assert_eq!(code, 200);
    // What `rask status ADDR` can read back and print.
    let st: rask_diagnostics::Status = serde_json::from_str(&status).unwrap();
    assert_eq!(st.tasks.done, 3);
    assert!(st.to_string().contains("load: 3/0 done"), "{st}");
    let (_, detail) = get(&d, "/api/explain?key=load%5B1%5D");
    let e = serde_json::from_str::<serde_json::Value>(&detail).unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("load[1]"),
        "eager tasks have no graph: {e}"
    );
    let (code, metrics) = get(&d, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("rask_prefix_tasks{prefix=\"load\",state=\"done\"} 3"));
    assert!(metrics
        .lines()
        .all(|l| l.is_empty() || l.starts_with("# ") || l.starts_with("rask_")));
    let (code, err) = get(&d, "/api/explain?key=nope");
    assert_eq!(code, 404);
    assert!(err.contains("no task `nope`"));
    let (code, _) = get(&d, "/api/graph.svg");
    assert_eq!(code, 404, "no run, no graph");
    let (code, _) = get(&d, "/task");
    assert_eq!(code, 400);
    d.stop();
}

#[test]
fn the_event_stream_sends_each_record_once() {
    let (rec, d) = serve();
    finished(&rec, &Key::new("first"), 0);
    let mut s = TcpStream::connect(d.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /api/events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\r\n",
        d.token().unwrap()
    )
    .unwrap();
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

#[test]
fn every_route_asks_for_the_token() {
    let (_rec, d) = serve();
    let token = d.token().unwrap().to_owned();
    assert_eq!(token.len(), 64, "a fresh random token");
    assert_eq!(d.url(), format!("http://{}/?token={token}", d.addr()));
    let routes = [
        "/",
        "/task?key=a",
        "/api/status",
        "/api/events",
        "/api/graph.svg",
        "/api/graph.dot",
        "/api/explain?key=a",
        "/metrics",
    ];
    for path in routes {
        let (code, head, body) = request(d.addr(), path, &[]);
        assert_eq!(code, 401, "{path} without a token");
        assert!(head.contains("www-authenticate: Bearer"), "{head}");
        assert!(body.contains("Authorization: Bearer TOKEN"), "{body}");
        for wrong in [
            "Authorization: Bearer 0123".to_owned(),
            format!("Authorization: Bearer {token}0"),
            format!("Cookie: rask-token-{}=nope", d.addr().port()),
        ] {
            let (code, _, _) = request(d.addr(), path, std::slice::from_ref(&wrong));
            assert_eq!(code, 403, "{path} with {wrong}");
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        let (code, _, _) = request(d.addr(), &format!("{path}{sep}token=nope"), &[]);
        assert_eq!(code, 403, "{path} with a wrong ?token=");
    }
    // The printed URL, opened once: a redirect to the page without the
    // token, and a cookie that the page's own requests then carry.
    let (code, head, _) = request(d.addr(), &format!("/?token={token}"), &[]);
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("location: /\r\n"), "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.starts_with("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"),
        "{cookie_line}"
    );
    let cookie = cookie_line["set-cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(cookie, format!("rask-token-{}={token}", d.addr().port()));
    let (code, _, page) = request(d.addr(), "/", &[format!("Cookie: other=1; {cookie}")]);
    assert_eq!(code, 200);
    assert!(page.contains("Rask.live()"));
    let (code, head, _) = request(d.addr(), &format!("/task?key=a%5B1%5D&token={token}"), &[]);
    assert_eq!(code, 303);
    assert!(head.contains("location: /task?key=a%5B1%5D\r\n"), "{head}");
    // Data routes answer a `?token=` directly.
    let (code, _, metrics) = request(d.addr(), &format!("/metrics?token={token}"), &[]);
    assert_eq!(code, 200);
    assert!(metrics.contains("rask_"), "{metrics}");
    // A token made of the right one's prefix, or empty, is not the token.
    let (code, _, _) = request(d.addr(), "/metrics", &["Authorization: Bearer ".to_owned()]);
    assert!(code == 401 || code == 403, "{code}");
    d.stop();
}

#[test]
fn an_open_dashboard_asks_for_nothing() {
    let opts = DashboardOptions {
        access: Some(Access::Open),
        ..DashboardOptions::default()
    };
    let d = Dashboard::serve_with(Arc::new(Recorder::new()), "127.0.0.1:0", opts).unwrap();
    assert_eq!(d.token(), None);
    assert_eq!(d.url(), format!("http://{}/", d.addr()));
    let (code, _, _) = request(d.addr(), "/api/status", &[]);
    assert_eq!(code, 200);
    d.stop();
}
