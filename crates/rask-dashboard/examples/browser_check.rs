//! The dashboard and the report in a real headless Chromium, driven over
//! the DevTools protocol: run by `scripts/test.d/browser` (which installs
//! Debian's `chromium`).
//!
//! `browser_check RASK_BINARY OUT_DIR`:
//! 1. starts `rask demo --pi --dashboard` (a run of a few seconds) and loads the
//!    dashboard while it runs: the page must receive live updates, its
//!    count of finished tasks must grow, the task stream must draw tasks,
//!    and a task's page must say where the task is;
//! 2. when the demo is done, opens the report it wrote from disk with the
//!    network watched: it must draw every task and make no request;
//! 3. starts a cluster (`rask scheduler --dashboard`, one `rask worker`)
//!    and a workflow of a few hundred short jobs on it (`rask run
//!    --cluster`), and loads the scheduler's dashboard while they run: it
//!    must update and its count of finished tasks must grow;
//! 4. screenshots of each (`OUT_DIR/dashboard.png`, `OUT_DIR/report.png`,
//!    `OUT_DIR/task.png`, `OUT_DIR/cluster.png`) must not be blank.
//!
//! Exits non-zero, saying what failed, on any failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

type Res<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: browser_check RASK_BINARY OUT_DIR");
        std::process::exit(2);
    }
    match run(Path::new(&args[1]), Path::new(&args[2])) {
        Ok(()) => println!("browser_check: 1 passed, 0 failed"),
        Err(e) => {
            eprintln!("browser_check: FAILED: {e}");
            println!("browser_check: 0 passed, 1 failed");
            std::process::exit(1);
        }
    }
}

/// Kills a child process when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Res<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn run(rask: &Path, out: &Path) -> Res<()> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let report = out.join("report.html");
    let port = free_port()?;
    let mut demo = Killed(
        Command::new(rask)
            .args([
                "demo",
                "--pi",
                "--no-progress",
                "--chunks",
                "1024",
                "--samples",
                "500000",
            ])
            .args([
                "--dashboard",
                &format!("127.0.0.1:{port}"),
                "--linger",
                "60",
            ])
            .arg("--report")
            .arg(&report)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", rask.display()))?,
    );
    let stdout = demo.0.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("  demo: {line}");
            let _ = tx.send(line);
        }
    });
    let url = wait_line(&rx, "dashboard at ", Duration::from_secs(60))?
        .split("dashboard at ")
        .nth(1)
        .ok_or("no url")?
        .trim()
        .to_owned();

    let profile = std::env::temp_dir().join(format!("rask-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    let cdp_port = free_port()?;
    let _chrome = Killed(
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--remote-debugging-port={cdp_port}"))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start chromium (scripts/test.d/browser installs it): {e}")
            })?,
    );
    let mut cdp = Cdp::connect(cdp_port)?;
    cdp.call("Page.enable", json!({}))?;
    cdp.call("Network.enable", json!({}))?;
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
    )?;

    // 1. The dashboard during the run, opened with the URL it printed
    // (`http://ADDR/?token=T`): the page comes back without the token in
    // its address, and the token stays in a cookie scripts cannot read.
    let base = url.split('?').next().unwrap_or(&url).to_owned();
    cdp.navigate(&url)?;
    cdp.wait_for(
        "Number(document.body.dataset.updates || 0) >= 2",
        Duration::from_secs(30),
    )?;
    token_kept_out_of_sight(&mut cdp, &url)?;
    let updates0 = cdp.eval("Number(document.body.dataset.updates)")?;
    let done0 = done_count(&mut cdp)?;
    std::thread::sleep(Duration::from_secs(2));
    let updates1 = cdp.eval("Number(document.body.dataset.updates)")?;
    let done1 = done_count(&mut cdp)?;
    println!("  dashboard: updates {updates0} -> {updates1}, tasks done {done0} -> {done1}");
    if updates1.as_f64() <= updates0.as_f64() {
        return Err(format!(
            "the dashboard did not update: {updates0} then {updates1} updates"
        ));
    }
    if done1 <= done0 {
        return Err(format!(
            "the count of finished tasks did not grow: {done0} then {done1}"
        ));
    }
    let drawn = cdp.eval("Number(document.getElementById('stream').dataset.drawn)")?;
    if drawn.as_f64().unwrap_or(0.0) < 1.0 {
        return Err(format!("the live task stream drew {drawn} tasks"));
    }
    cdp.wait_for(
        "document.querySelectorAll('#graph g.task').length > 0",
        Duration::from_secs(10),
    )?;
    let png = cdp.screenshot()?;
    check_not_blank(&png, "dashboard")?;
    save(&out.join("dashboard.png"), &png)?;

    // A task's page: why is it where it is.
    cdp.navigate(&format!("{base}task?key=merge%5B1000%5D"))?;
    cdp.wait_for(
        "document.body.dataset.state !== undefined",
        Duration::from_secs(10),
    )?;
    let why = cdp.eval("document.getElementById('why').textContent")?;
    let state = cdp.eval("document.body.dataset.state")?;
    println!("  task merge[1000]: {state}: {why}");
    if why.as_str().unwrap_or("").is_empty() {
        return Err("the task page says nothing".into());
    }
    let png = cdp.screenshot()?;
    check_not_blank(&png, "task page")?;
    save(&out.join("task.png"), &png)?;

    // 2. The report, from disk, with no network.
    wait_line(&rx, "performance report:", Duration::from_secs(300))?;
    // Leave the task page (it polls the dashboard) before watching requests.
    cdp.navigate("about:blank")?;
    cdp.requests.clear();
    let file_url = format!(
        "file://{}",
        std::fs::canonicalize(&report)
            .map_err(|e| e.to_string())?
            .display()
    );
    cdp.navigate(&file_url)?;
    cdp.wait_for(
        "document.body.dataset.ready === '1'",
        Duration::from_secs(30),
    )?;
    let tasks = cdp.eval("Number(document.getElementById('stream').dataset.tasks)")?;
    let drawn = cdp.eval("Number(document.getElementById('stream').dataset.drawn)")?;
    let rows = cdp.eval("document.querySelectorAll('#progress tr[data-prefix]').length")?;
    println!("  report: {tasks} tasks, {drawn} drawn, {rows} prefixes");
    if tasks.as_f64() != Some(2047.0) || drawn != tasks || rows.as_f64() != Some(2.0) {
        return Err(format!("the report shows {tasks} tasks ({drawn} drawn) and {rows} prefixes; expected 2047 and 2"));
    }
    let outside: Vec<&String> = cdp
        .requests
        .iter()
        .filter(|u| !u.starts_with("file://") && !u.starts_with("data:"))
        .collect();
    if !outside.is_empty() {
        return Err(format!("the report made network requests: {outside:?}"));
    }
    // Zoom into the task stream: the view must change and still draw tasks.
    cdp.eval("(() => { const c = document.querySelector('#stream canvas'); const r = c.getBoundingClientRect(); c.dispatchEvent(new WheelEvent('wheel', {deltaY: -600, clientX: r.left + r.width / 2, clientY: r.top + 20, bubbles: true, cancelable: true})); return 1; })()")?;
    let zoomed = cdp.eval("Number(document.getElementById('stream').dataset.drawn)")?;
    if !(zoomed.as_f64().unwrap_or(0.0) > 0.0 && zoomed.as_f64() < tasks.as_f64()) {
        return Err(format!("zooming in drew {zoomed} of {tasks} tasks"));
    }
    cdp.eval("(() => { document.querySelector('#stream canvas').dispatchEvent(new MouseEvent('dblclick', {bubbles: true})); return 1; })()")?;
    let png = cdp.screenshot()?;
    check_not_blank(&png, "report")?;
    save(&out.join("report.png"), &png)?;

    // 3. A cluster's dashboard, served by its scheduler.
    cluster(rask, out, &mut cdp)?;
    let _ = std::fs::remove_dir_all(&profile);
    Ok(())
}

/// The dashboard's count of finished tasks.
/// After opening `url` (it carries `?token=`): the address bar no longer
/// shows the token, and the page's scripts cannot read the cookie.
fn token_kept_out_of_sight(cdp: &mut Cdp, url: &str) -> Res<()> {
    let token = url
        .split("token=")
        .nth(1)
        .ok_or("the URL carries no token")?;
    let href = cdp.eval("location.href")?;
    let cookies = cdp.eval("document.cookie")?;
    let (href, cookies) = (href.as_str().unwrap_or(""), cookies.as_str().unwrap_or(""));
    if href.contains(token) || cookies.contains(token) {
        return Err(format!(
            "the token is in sight: location {href}, document.cookie {cookies:?}"
        ));
    }
    Ok(())
}

fn done_count(cdp: &mut Cdp) -> Res<u64> {
    let v = cdp.eval("document.querySelector('.count.done b').textContent.replace(/,/g, '')")?;
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or(format!("no done count: {v}"))
}

/// Starts `rask ARGS` with its output lines sent to a channel.
fn started(
    rask: &Path,
    args: &[&str],
    dir: &Path,
) -> Res<(Killed, std::sync::mpsc::Receiver<String>)> {
    let mut child = Killed(
        Command::new(rask)
            .args(args)
            .current_dir(dir)
            .env_remove("RASK_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start rask {args:?}: {e}"))?,
    );
    let stdout = child.0.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let name = args.first().copied().unwrap_or("rask").to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("  {name}: {line}");
            let _ = tx.send(line);
        }
    });
    Ok((child, rx))
}

/// Part 3 (module docs): the scheduler's dashboard during a cluster run.
fn cluster(rask: &Path, out: &Path, cdp: &mut Cdp) -> Res<()> {
    // The jobs run in a directory of their own: the binary's path must not
    // be relative to this one.
    let rask = &std::fs::canonicalize(rask).map_err(|e| format!("{}: {e}", rask.display()))?;
    let dir = out.join("cluster-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("w.toml"),
        "[[job]]\nname = \"nap\"\nfor = { i = \"0..400\" }\ncmd = \"sleep 0.02; echo {i} > {output}\"\noutputs = [\"out/{i}.txt\"]\n",
    )
    .map_err(|e| e.to_string())?;
    let port = free_port()?;
    let dash = format!("127.0.0.1:{port}");
    let (_sched, lines) = started(
        rask,
        &["scheduler", "--listen", "127.0.0.1:0", "--dashboard", &dash],
        &dir,
    )?;
    let addr = wait_line(&lines, "listening on ", Duration::from_secs(30))?
        .rsplit(' ')
        .next()
        .ok_or("no address")?
        .to_owned();
    let url = wait_line(&lines, "dashboard at ", Duration::from_secs(30))?
        .rsplit(' ')
        .next()
        .ok_or("no url")?
        .to_owned();
    let (_worker, _) = started(
        rask,
        &["worker", &addr, "--threads", "2", "--name", "w0"],
        &dir,
    )?;
    let (mut run, _) = started(
        rask,
        &["run", "w.toml", "--cluster", &addr, "--quiet"],
        &dir,
    )?;
    cdp.navigate(&url)?;
    cdp.wait_for(
        "Number(document.querySelector('.count.done b').textContent.replace(/,/g, '')) > 0",
        Duration::from_secs(60),
    )?;
    token_kept_out_of_sight(cdp, &url)?;
    let updates0 = cdp.eval("Number(document.body.dataset.updates)")?;
    let done0 = done_count(cdp)?;
    std::thread::sleep(Duration::from_millis(1500));
    let updates1 = cdp.eval("Number(document.body.dataset.updates)")?;
    let done1 = done_count(cdp)?;
    println!(
        "  cluster dashboard: updates {updates0} -> {updates1}, tasks done {done0} -> {done1}"
    );
    if updates1.as_f64() <= updates0.as_f64() || done1 <= done0 {
        return Err(format!(
            "the cluster's dashboard did not move: updates {updates0} -> {updates1}, done {done0} -> {done1}"
        ));
    }
    let png = cdp.screenshot()?;
    check_not_blank(&png, "cluster dashboard")?;
    save(&out.join("cluster.png"), &png)?;
    let status = run.0.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("the workflow on the cluster failed: {status}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn wait_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str, limit: Duration) -> Res<String> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(needle) => return Ok(l),
            Ok(_) => {}
            Err(_) => return Err(format!("the demo never printed `{needle}`")),
        }
    }
}

fn save(path: &Path, png: &[u8]) -> Res<()> {
    std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("  wrote {}", path.display());
    Ok(())
}

/// A screenshot is blank when nearly all its pixels have one colour.
fn check_not_blank(png_bytes: &[u8], what: &str) -> Res<()> {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("{what}: not a PNG: {e}"))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("{what}: {e}"))?;
    let px = info.color_type.samples();
    let data = &buf[..info.buffer_size()];
    let first = &data[..px];
    let pixels = data.len() / px;
    let differ = data.chunks(px).filter(|p| *p != first).count();
    let mut colours: Vec<&[u8]> = data.chunks(px).step_by(7).collect();
    colours.sort_unstable();
    colours.dedup();
    println!(
        "  {what}: {}x{}, {} colours, {:.1}% of pixels unlike the first",
        info.width,
        info.height,
        colours.len(),
        100.0 * differ as f64 / pixels as f64
    );
    if differ * 20 < pixels || colours.len() < 16 {
        return Err(format!("the {what} screenshot is blank"));
    }
    Ok(())
}

/// A DevTools-protocol connection to the first page of a browser.
struct Cdp {
    ws: WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next: u64,
    /// URLs the page requested since the last clear.
    requests: Vec<String>,
}

impl Cdp {
    fn connect(port: u16) -> Res<Cdp> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let ws_url = loop {
            if let Ok(list) = http_get(port, "/json/list") {
                if let Ok(v) = serde_json::from_str::<Value>(&list) {
                    if let Some(u) = v
                        .as_array()
                        .and_then(|a| a.iter().find(|t| t["type"] == "page"))
                        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    {
                        break u.to_owned();
                    }
                }
            }
            if Instant::now() > deadline {
                return Err("chromium's DevTools endpoint never came up".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let (ws, _) =
            tungstenite::connect(ws_url.as_str()).map_err(|e| format!("DevTools: {e}"))?;
        Ok(Cdp {
            ws,
            next: 1,
            requests: Vec::new(),
        })
    }

    fn call(&mut self, method: &str, params: Value) -> Res<Value> {
        let id = self.next;
        self.next += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::text(msg))
            .map_err(|e| format!("{method}: {e}"))?;
        loop {
            let m = self.ws.read().map_err(|e| format!("{method}: {e}"))?;
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).map_err(|e| e.to_string())?;
            if v["method"] == "Network.requestWillBeSent" {
                if let Some(u) = v["params"]["request"]["url"].as_str() {
                    self.requests.push(u.to_owned());
                }
            }
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    return Err(format!("{method}: {e}"));
                }
                return Ok(v["result"].clone());
            }
        }
    }

    fn eval(&mut self, expr: &str) -> Res<Value> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("`{expr}` threw: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    fn navigate(&mut self, url: &str) -> Res<()> {
        self.call("Page.navigate", json!({"url": url}))?;
        self.wait_for(
            "document.readyState === 'complete'",
            Duration::from_secs(30),
        )
    }

    fn wait_for(&mut self, cond: &str, limit: Duration) -> Res<()> {
        let deadline = Instant::now() + limit;
        loop {
            if self.eval(cond).ok() == Some(Value::Bool(true)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for `{cond}`"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self) -> Res<Vec<u8>> {
        let m = self.call("Page.getLayoutMetrics", json!({}))?;
        let h = m["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(1000.0)
            .min(4000.0);
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": 1400, "height": h, "scale": 1}}),
        )?;
        let b64 = r["data"].as_str().ok_or("no screenshot data")?;
        base64_decode(b64)
    }
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    // Read the headers, then as many bytes as Content-Length says (the
    // DevTools server may keep the connection open).
    let mut r = BufReader::new(s);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn base64_decode(s: &str) -> Res<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return Err(format!("bad base64 byte {c}")),
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}
