//! Loom models of an eager task's state machine (`cell.rs`, rules 1-8):
//! completion racing registration, cancellation racing an attempt, a
//! timeout racing a result, a failure cascading while dependents register,
//! and the last user releasing the value. The cells have no client (as
//! after shutdown), so a task that becomes ready completes with
//! `ClientShutdown` instead of going to a pool. Run with
//! `RUSTFLAGS="--cfg rask_loom" cargo test --release -p rask-client --lib loom`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use loom::sync::atomic::AtomicUsize;
use loom::thread;
use rask_core::loom_model as model;
use rask_core::{Error, Key, TaskError, TaskErrorKind, Value, WorkerId};

use super::*;

/// A cell with no client.
fn cell(key: &'static str, deps: Vec<Arc<Cell>>, opts: TaskOptions) -> Arc<Cell> {
    Cell::of(
        Weak::new(),
        0,
        Key::new(key),
        deps,
        Body::External(None),
        opts,
        None,
    )
}

/// Counts how often `c` tells its waiters.
fn wakes(c: &Cell) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    c.on_done(move || {
        m.fetch_add(1, Ordering::SeqCst);
    });
    n
}

fn value(v: u64) -> Value {
    Arc::new(v)
}

fn task_error(r: Option<CellResult>) -> Arc<TaskError> {
    match r {
        Some(Err(Error::Task(t))) => t,
        other => panic!("expected a task error, got {:?}", other.map(|r| r.is_ok())),
    }
}

#[test]
fn loom_a_dependent_registers_while_its_dependency_completes() {
    // Rule 2 and 3: `b` counts `a` exactly once, whether it registers before
    // or after `a` completes; rule 7: `a`'s value goes with its last user.
    model("cell: registration vs completion", || {
        let a = cell("a", vec![], TaskOptions::default());
        a.add_user(); // a handle
        let b = cell("b", vec![a.clone()], TaskOptions::default());
        let told = wakes(&b);
        let b2 = b.clone();
        let t = thread::spawn(move || b2.start());
        let a2 = a.clone();
        let u = thread::spawn(move || {
            a2.complete(Ok(value(1)));
            a2.drop_user(); // the handle goes
        });
        let _ = (t.join(), u.join());
        // `b` became ready and, with no client, completed with ClientShutdown.
        assert_eq!(b.state(), ERRED);
        assert!(matches!(
            b.result(),
            Some(Err(Error::ClientShutdown { .. }))
        ));
        assert_eq!(told.load(Ordering::SeqCst), 1);
        assert_eq!(a.users.load(Ordering::SeqCst), 0);
        let released = a.result().and_then(Result::ok).map(|v| v.is::<Released>());
        assert_eq!(released, Some(true));
    });
}

#[test]
fn loom_a_failure_cascades_while_dependents_register() {
    // Rules 4 and 8: `c` (on `b`, on `a`) reports `b` and the root cause `a`
    // however `a`'s failure and the registrations interleave.
    model("cell: failure cascade vs registration", || {
        let a = cell("a", vec![], TaskOptions::default());
        let b = cell("b", vec![a.clone()], TaskOptions::default());
        let c = cell("c", vec![b.clone()], TaskOptions::default());
        let told = wakes(&c);
        let (b2, c2) = (b.clone(), c.clone());
        let t = thread::spawn(move || {
            b2.start();
            c2.start();
        });
        let root = Arc::new(TaskError {
            key: Key::new("a"),
            kind: TaskErrorKind::Failed,
            message: "boom".into(),
            backtrace: None,
            attempt: 1,
            cause: None,
        });
        a.complete(Err(Error::Task(root)));
        let _ = t.join();
        let e = task_error(c.result());
        assert_eq!(
            e.kind,
            TaskErrorKind::DependencyFailed {
                dependency: Key::new("b")
            }
        );
        assert_eq!(e.cause.as_ref().map(|c| c.key.clone()), Some(Key::new("a")));
        assert_eq!(told.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn loom_cancel_races_an_attempt() {
    // Rules 1 and 5: one result wins; a cancel that wins drops the attempt's
    // late result; waiters hear exactly once.
    model("cell: cancel vs attempt", || {
        let a = cell("a", vec![], TaskOptions::default());
        a.state.store(QUEUED, Ordering::Release); // a pool took it
        let told = wakes(&a);
        let a2 = a.clone();
        let t = thread::spawn(move || {
            if let Some(attempt) = a2.begin_attempt(WorkerId(0)) {
                a2.finish_attempt(attempt, Ok(value(7)), WorkerId(0));
            }
        });
        let cancelled = a.cancel();
        let _ = t.join();
        assert_eq!(told.load(Ordering::SeqCst), 1);
        match a.state() {
            CANCELLED => assert!(cancelled),
            FINISHED => {
                assert!(!cancelled);
                let v = a.result().and_then(Result::ok);
                assert_eq!(v.and_then(|v| v.downcast_ref::<u64>().copied()), Some(7));
            }
            s => panic!("state {s}"),
        }
    });
}

#[test]
fn loom_a_timeout_races_the_result() {
    // Rule 5: the attempt's result and its timeout both try to end it;
    // exactly one does, and the state says which.
    model("cell: timeout vs result", || {
        let opts = TaskOptions {
            task: rask_core::TaskOptions {
                timeout: Some(Duration::from_secs(1)),
                ..rask_core::TaskOptions::default()
            },
            ..TaskOptions::default()
        };
        let a = cell("a", vec![], opts);
        a.state.store(QUEUED, Ordering::Release);
        let attempt = a.begin_attempt(WorkerId(0)).unwrap_or(0);
        let told = wakes(&a);
        let a2 = a.clone();
        let t = thread::spawn(move || a2.time_out(attempt));
        a.finish_attempt(attempt, Ok(value(3)), WorkerId(0));
        let _ = t.join();
        assert_eq!(told.load(Ordering::SeqCst), 1);
        match a.state() {
            FINISHED => assert!(matches!(a.result(), Some(Ok(_)))),
            ERRED => assert!(matches!(
                task_error(a.result()).kind,
                TaskErrorKind::TimedOut { .. }
            )),
            s => panic!("state {s}"),
        }
    });
}
