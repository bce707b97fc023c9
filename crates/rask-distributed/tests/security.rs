//! Secure by default: a scheduler given no secret makes one, keeps it in a
//! file only its user can read, and every client and worker of that user on
//! this machine finds it there; anyone else is refused with a typed error
//! that names the address.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use rask_distributed::wire::{connect_tcp, Role, Secret, WireConfig, WireError};
use rask_distributed::{run_worker, Connection, Error, Scheduler, SchedulerConfig, WorkerOptions};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn workers(c: &Connection) -> u64 {
    c.get_var::<u64>("rask:workers").expect("get").expect("set")
}

#[test]
fn a_scheduler_without_a_secret_makes_one_that_only_its_user_can_read() {
    let s = Scheduler::start(SchedulerConfig::default()).expect("start");
    let addr = s.addr().to_string();
    let file = s.secret_file().expect("a secret file").to_owned();
    assert_eq!(file, rask_distributed::wire::secret_file(s.addr().port()));
    let meta = std::fs::metadata(&file).expect("file");
    assert_eq!(meta.mode() & 0o777, 0o600, "{}", file.display());
    let dir = std::fs::metadata(file.parent().expect("dir")).expect("dir");
    assert_eq!(dir.mode() & 0o077, 0, "the directory is private");
    let secret = Secret::from_file(&file).expect("read").expect("a secret");

    // A client and a worker of this user, given no secret, find it.
    let c = Connection::connect(&addr, WireConfig::default()).expect("connect");
    let mut w = WorkerOptions::new(addr.clone());
    w.wire = WireConfig::default();
    w.threads = 1;
    let worker = std::thread::spawn(move || run_worker(w));
    let t0 = Instant::now();
    while workers(&c) < 1 {
        assert!(t0.elapsed() < Duration::from_secs(20), "the worker joined");
        std::thread::sleep(Duration::from_millis(20));
    }

    rt().block_on(async {
        // No secret on the raw wire: the scheduler itself refuses, naming
        // itself (the loopback port asks for the secret too).
        let e = connect_tcp(addr.as_str(), &WireConfig::default(), Role::Client)
            .await
            .expect_err("refused");
        match &e {
            WireError::AuthFailed(m) => {
                assert!(m.contains(&addr), "{m}");
                assert!(m.contains("requires a shared secret"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // A wrong secret: refused the same way.
        let wrong = WireConfig::default().with_secret(Secret::new("guess"));
        match connect_tcp(addr.as_str(), &wrong, Role::Worker).await {
            Err(WireError::AuthFailed(m)) => {
                assert!(m.contains(&addr) && m.contains("wrong secret"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // The file's secret is the scheduler's.
        let right = WireConfig::default().with_secret(secret);
        connect_tcp(addr.as_str(), &right, Role::Client)
            .await
            .expect("the file's secret works");
    });
    drop(c);
    drop(s);
    assert!(
        worker.join().expect("join").is_ok(),
        "the worker ended cleanly"
    );
    assert!(!file.exists(), "the file goes with the scheduler");
}

#[test]
fn a_client_with_no_secret_to_find_gets_a_typed_error_naming_the_address() {
    // A scheduler given a secret writes no file: a client without the
    // secret has nothing to go on.
    let cfg = SchedulerConfig {
        wire: WireConfig::default().with_secret(Secret::new("given")),
        ..SchedulerConfig::default()
    };
    let s = Scheduler::start(cfg).expect("start");
    assert!(s.secret_file().is_none());
    let addr = s.addr().to_string();
    match Connection::connect(&addr, WireConfig::default()) {
        Err(Error::Wire(e @ WireError::NoSecret { .. })) => {
            let m = e.to_string();
            assert!(m.contains(&addr) && m.contains("RASK_SECRET"), "{m}");
            assert!(!e.is_peer_fault());
        }
        // A file left by a crashed scheduler once on this port: its secret
        // is not this one.
        Err(Error::Wire(WireError::AuthFailed(m))) => assert!(m.contains(&addr), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut w = WorkerOptions::new(addr.clone());
    w.wire = WireConfig::default();
    match run_worker(w) {
        Err(Error::Wire(e)) => assert!(e.to_string().contains(&addr), "{e}"),
        other => panic!("{other:?}"),
    }
    // A scheduler elsewhere: no file to read.
    let e = WireConfig::default()
        .or_local_secret("192.0.2.1:7000")
        .expect_err("no secret");
    assert!(matches!(e, WireError::NoSecret { file: None, .. }), "{e}");
    assert!(e.to_string().contains("192.0.2.1:7000"), "{e}");
}

/// A scheduler that died without removing its secret file leaves a secret
/// that opens nothing; the next scheduler on that port (given its own
/// secret) removes it, so a client with no secret is told it has none
/// rather than failing the handshake with the stale one.
#[test]
fn a_scheduler_removes_the_secret_file_a_dead_one_left_on_its_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let stale = rask_distributed::wire::secret_file(port);
    std::fs::create_dir_all(stale.parent().expect("dir")).expect("dir");
    std::fs::write(&stale, "left-by-a-dead-scheduler\n").expect("write");
    let mut cfg = SchedulerConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ..SchedulerConfig::default()
    };
    cfg.wire = cfg.wire.with_secret(Secret::new("the-live-one"));
    let s = Scheduler::start(cfg).expect("start");
    assert!(s.secret_file().is_none(), "it was given its secret");
    assert!(!stale.exists(), "{} was removed", stale.display());
    let e = Connection::connect(&s.addr().to_string(), WireConfig::default()).unwrap_err();
    assert!(
        matches!(e, Error::Wire(WireError::NoSecret { .. })),
        "a client with no secret is told so: {e:?}"
    );
}
