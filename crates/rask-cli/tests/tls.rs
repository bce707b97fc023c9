//! TLS end to end on the command line: `rask scheduler` and `rask worker`
//! with `--tls-*` flags, `rask run --cluster` with `RASK_TLS_*`; a client
//! without TLS is refused. Needs the `tls` feature
//! (`cargo test -p rask-cli --features tls --test tls`).

#![allow(clippy::unwrap_used)]

mod common;
use common::{Proc, RASK};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn pem(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../rask-distributed/src/wire/testdata")
        .join(name);
    p.to_str().unwrap().to_owned()
}

#[test]
fn scheduler_worker_and_client_over_tls() {
    let (cert, key, ca) = (pem("cert.pem"), pem("key.pem"), pem("ca.pem"));
    let mut sched = Command::new(RASK)
        .args(["scheduler", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", &cert, "--tls-key", &key])
        .env_remove("RASK_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sched.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _sched = Proc(sched);
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    let _worker = Proc(
        Command::new(RASK)
            .args(["worker", &addr, "--threads", "2"])
            .args(["--tls-cert", &cert, "--tls-key", &key])
            .args(["--tls-ca", &ca, "--tls-server-name", "localhost"])
            .env_remove("RASK_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = std::env::temp_dir().join(format!("rask-cli-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("w.toml"),
        "[[job]]\nname = \"sq-{i}\"\nfor = { i = \"1..=4\" }\ncmd = \"echo $(({i} * {i})) > {output}\"\noutputs = [\"sq/{i}.txt\"]\n",
    )
    .unwrap();
    let run = |tls: bool| {
        let mut c = Command::new(RASK);
        c.args(["run", "w.toml", "--quiet", "--cluster", &addr])
            .current_dir(&dir)
            .env_remove("RASK_SECRET")
            .env_remove("RASK_TLS_CA")
            .env_remove("RASK_TLS_SERVER_NAME");
        if tls {
            c.env("RASK_TLS_CA", &ca)
                .env("RASK_TLS_SERVER_NAME", "localhost");
        }
        c.output().unwrap()
    };
    // Without TLS: refused at once, saying why, and nothing runs.
    let start = std::time::Instant::now();
    let o = run(false);
    assert!(!o.status.success());
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains("speaks TLS and this side does not") && said.contains("RASK_TLS_CA"),
        "{said}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(8),
        "not after the handshake timeout (10 s): {:?}",
        start.elapsed()
    );
    assert!(!dir.join("sq/1.txt").exists());
    // With it: the jobs run on the worker.
    let o = run(true);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sq/3.txt"))
            .unwrap()
            .trim(),
        "9"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_files_that_do_not_load_are_an_error() {
    let o = Command::new(RASK)
        .args(["scheduler", "--listen", "127.0.0.1:0"])
        .args([
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            &pem("key.pem"),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
}
