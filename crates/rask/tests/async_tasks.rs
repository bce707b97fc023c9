//! Async tasks: run on the client's tokio runtime, never on the compute
//! threads; mix with compute tasks; many run concurrently; the client's async
//! forms work inside an existing tokio application.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask::prelude::*;
use rask::{FutureState, TaskErrorKind};

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

#[test]
fn twenty_thousand_timers_wait_concurrently() {
    let client = Client::threads_with(2);
    let n = 20_000u64;
    let t0 = Instant::now();
    let futs: Vec<Future<u64>> = (0..n)
        .map(|i| {
            client.submit_async(
                move || async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    i * i
                },
                (),
            )
        })
        .collect();
    let total: u64 = client.gather(&futs).unwrap().into_iter().sum();
    let took = t0.elapsed();
    assert_eq!(total, (0..n).map(|i| i * i).sum::<u64>());
    // One after the other this would take 2,000 s.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn async_and_compute_tasks_run_on_their_own_threads_in_one_graph() {
    let client = Client::threads_with(2);
    let fetched = client.submit_async(
        || async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            (vec![1u64, 2, 3], thread_name())
        },
        (),
    );
    let summed = client.submit(
        |(v, fetch_thread): (Vec<u64>, String)| {
            (v.iter().sum::<u64>(), fetch_thread, thread_name())
        },
        (&fetched,),
    );
    let stored = client.submit_async(
        |(s, a, b): (u64, String, String)| async move { (s * 10, a, b, thread_name()) },
        (&summed,),
    );
    let (value, fetch_t, compute_t, store_t) = stored.result().unwrap();
    assert_eq!(value, 60);
    assert!(fetch_t.starts_with("rask-async"), "{fetch_t}");
    assert!(compute_t.starts_with("rask-worker"), "{compute_t}");
    assert!(store_t.starts_with("rask-async"), "{store_t}");
}

#[test]
fn async_failures_are_task_errors() {
    let client = Client::threads_with(2);
    let slow = client
        .task()
        .key("slow")
        .timeout(Duration::from_millis(30))
        .submit_async(
            || async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                1u64
            },
            (),
        );
    let t0 = Instant::now();
    let e = slow.result().unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(
        e.as_task().unwrap().kind,
        TaskErrorKind::TimedOut {
            after: Duration::from_millis(30)
        }
    );

    let boom = client.task().key("boom").submit_async(
        || async {
            tokio::task::yield_now().await;
            if thread_name().starts_with("rask-async") {
                panic!("async boom");
            }
            1u64
        },
        (),
    );
    let e = boom.result().unwrap_err();
    assert_eq!(e.as_task().unwrap().kind, TaskErrorKind::Panicked);
    assert!(
        e.to_string()
            .starts_with("task `boom` panicked: async boom"),
        "{e}"
    );

    let refused = client.task().key("refused").try_submit_async(
        || async { Err::<u64, _>(std::io::Error::other("connection refused")) },
        (),
    );
    assert_eq!(
        refused.result().unwrap_err().to_string(),
        "task `refused` failed: connection refused"
    );

    // Retries apply to async tasks too.
    let tries = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let t = tries.clone();
    let flaky = client.task().retries(2).try_submit_async(
        move || {
            let t = t.clone();
            async move {
                let k = t.fetch_add(1, Ordering::SeqCst) + 1;
                if k < 3 {
                    Err(format!("try {k}"))
                } else {
                    Ok(k)
                }
            }
        },
        (),
    );
    assert_eq!(flaky.result().unwrap(), 3);
}

#[test]
fn cancelling_a_running_async_task_stops_it() {
    let client = Client::threads_with(2);
    let reached = Arc::new(AtomicBool::new(false));
    let r = reached.clone();
    let f = client.submit_async(
        move || {
            let r = r.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                r.store(true, Ordering::SeqCst);
                1u64
            }
        },
        (),
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(f.state(), FutureState::Running);
    assert!(f.cancel());
    std::thread::sleep(Duration::from_millis(400));
    assert!(!reached.load(Ordering::SeqCst), "the task was aborted");
    assert_eq!(f.state(), FutureState::Cancelled);
}

#[test]
fn a_blocking_wait_inside_an_async_task_is_refused_with_a_clear_error() {
    let client = Client::threads_with(2);
    let inner = client.submit_async(
        || async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            5u64
        },
        (),
    );
    let outer = client.try_submit_async(
        move |x: u64| {
            let inner = inner.clone();
            async move {
                // `.result()` would block the runtime; `.await` is fine.
                let refused = inner.result();
                let again = inner.clone().await?;
                match refused {
                    Err(Error::WouldBlock(msg)) => Ok::<_, Error>((x + again, msg)),
                    other => Ok((0, format!("unexpected: {other:?}"))),
                }
            }
        },
        (&client.submit(|| 1u64, ()),),
    );
    let (v, msg) = outer.result().unwrap();
    assert_eq!(v, 6);
    assert!(msg.contains("use `.await`"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_inside_a_tokio_application() {
    let client = Client::threads_with(2);
    let a = client.submit_async(|| async { 2u64 }, ());
    let b = client.submit(|| 3u64, ());
    let c = client.submit(|x: u64, y: u64| x * y, (&a, &b));
    assert_eq!(c.clone().await.unwrap(), 6);
    let many: Vec<Future<u64>> = (0..100u64)
        .map(|i| client.submit_async(move || async move { i }, ()))
        .collect();
    assert_eq!(
        client
            .gather_async(&many, OnError::Raise)
            .await
            .unwrap()
            .len(),
        100
    );
    let r = client
        .wait_async(&many, WaitFor::All, Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(r.done.len(), 100);
    let mut it = client.as_completed(many);
    let mut n = 0;
    while let Some(f) = it.next_async().await {
        f.await.unwrap();
        n += 1;
    }
    assert_eq!(n, 100);
    // A delayed graph computed through a future, awaited.
    let d = delayed(|| 7u64, ()).map(|x| x + 1);
    assert_eq!(client.compute(d).await.unwrap(), 8);
}
