//! Chains of a million eager futures, each depending on the previous one,
//! with the default stack sizes: running, dropping every handle, cancelling
//! the head, failing the head and shutting the client down must not recurse
//! once per task (see `docs/reliability.md` for the times in a debug build).

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rask_client::{Client, Future, FutureState};
use rask_core::{Error, TaskErrorKind};

const N: usize = 1_000_000;
const BOUND: Duration = Duration::from_secs(180);

fn clients() -> [Client; 2] {
    [Client::sync(), Client::threads_with(2)]
}

/// A head task that waits for `go` (and then fails if it says so), and a
/// chain of `N` tasks behind it; returns the head and the tip.
fn blocked_chain(client: &Client, go: mpsc::Receiver<bool>) -> (Future<u64>, Future<u64>) {
    let go = std::sync::Mutex::new(go);
    let head = client.try_submit(
        move || match go.lock().unwrap().recv() {
            Ok(true) => Ok(0u64),
            _ => Err(std::io::Error::other("the head failed")),
        },
        (),
    );
    let mut x = head.clone();
    for _ in 0..N {
        x = client.submit(|v: u64| v + 1, (x,));
    }
    (head, x)
}

#[test]
fn a_million_chain_runs_with_every_handle_dropped() {
    let t = Instant::now();
    for client in clients() {
        let (tx, rx) = mpsc::channel();
        let (head, tip) = blocked_chain(&client, rx);
        // A gather on the tip, on another thread, is all that is left.
        let watch = tip.erase();
        let waiter = std::thread::spawn(move || watch.result::<u64>());
        drop((head, tip));
        tx.send(true).unwrap();
        assert_eq!(waiter.join().unwrap().unwrap(), N as u64);
    }
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

#[test]
fn a_million_chain_dropped_before_it_runs() {
    let t = Instant::now();
    for client in clients() {
        let (tx, rx) = mpsc::channel();
        let (head, tip) = blocked_chain(&client, rx);
        drop((head, tip));
        tx.send(true).unwrap();
        // The chain runs out with nobody holding it; a new task on the same
        // client still runs after it (the queue is first come, first served
        // on `sync`, and shared on `threads`).
        assert_eq!(client.submit(|| 7u64, ()).result().unwrap(), 7);
    }
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

#[test]
fn cancelling_the_head_of_a_million_chain() {
    let t = Instant::now();
    for client in clients() {
        let (tx, rx) = mpsc::channel();
        let (head, tip) = blocked_chain(&client, rx);
        assert!(head.cancel());
        assert_eq!(tip.state(), FutureState::Cancelled);
        let e = tip.result().unwrap_err();
        assert_eq!(e.as_task().unwrap().kind, TaskErrorKind::Cancelled);
        tx.send(true).unwrap();
        drop((head, tip));
    }
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

#[test]
fn failing_the_head_of_a_million_chain() {
    let t = Instant::now();
    for client in clients() {
        let (tx, rx) = mpsc::channel();
        let (head, tip) = blocked_chain(&client, rx);
        tx.send(false).unwrap();
        let e = tip.result().unwrap_err();
        let e = e.as_task().unwrap();
        assert!(matches!(e.kind, TaskErrorKind::DependencyFailed { .. }));
        assert_eq!(e.cause.as_ref().unwrap().message, "the head failed");
        assert!(head.result().is_err());
    }
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}

#[test]
fn shutting_down_under_a_million_chain() {
    let t = Instant::now();
    for client in clients() {
        let (tx, rx) = mpsc::channel();
        let (head, tip) = blocked_chain(&client, rx);
        // Wait until the head runs, so shutdown finds it running.
        while head.state() != FutureState::Running {
            std::thread::sleep(Duration::from_millis(1));
        }
        client.shutdown();
        let e = tip.result().unwrap_err();
        match &e {
            Error::Task(t) => assert_eq!(
                t.cause.as_ref().unwrap().message,
                Error::ClientShutdown {
                    key: head.key().clone()
                }
                .to_string()
            ),
            other => panic!("expected a task error, got {other}"),
        }
        tx.send(true).unwrap();
    }
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
}
