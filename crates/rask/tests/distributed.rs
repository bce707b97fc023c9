//! The distributed runtime end to end: a scheduler in this process and
//! worker processes (this test binary started again; its `main` calls
//! `rask::init()` first), over loopback TCP with a secret. Runs without the
//! libtest harness for that reason.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::{Duration, Instant};

use rask::distributed::wire::{Secret, WireConfig, WireError};
use rask::prelude::*;

mod workers;
use rask::{LocalCluster, TaskErrorKind};
use workers::{add, inc, logged, ramp, sum_all, total, tree};

#[rask::task]
fn slow_inc(x: u64, ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    x + 1
}

#[rask::task]
fn fails_at_three(x: u64) -> u64 {
    if x == 3 {
        panic!("three is not allowed");
    }
    x
}

#[rask::task]
fn spin(x: u64, us: u64) -> u64 {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
    x + 1
}

#[rask::task]
fn mix_all(j: u64, xs: Vec<u64>) -> u64 {
    xs.iter().enumerate().fold(j, |a, (i, x)| {
        a.rotate_left(3) ^ x.wrapping_mul(i as u64 + j + 1)
    }) % 1_000_000_007
}

#[rask::task]
fn whoami(x: u64) -> (u64, u32) {
    (x, std::process::id())
}

#[rask::task]
fn mix(a: u64, b: u64, seed: u64) -> u64 {
    if seed % 31 == 7 {
        panic!("node with seed {seed} fails");
    }
    a.rotate_left(7) ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed
}

fn graphs_of_registered_tasks_run_on_the_cluster() {
    let client = Client::local_cluster(2, 2).unwrap();
    let n = 2000;
    let t = tree((0..n).map(inc::delayed).collect());
    assert_eq!(t.compute(&client).unwrap(), n * (n + 1) / 2);
    // A gather (k-ary input) and eager submission.
    let parts: Vec<Delayed<u64>> = (0..10).map(inc::delayed).collect();
    assert_eq!(sum_all::delayed(parts).compute(&client).unwrap(), 55);
    assert_eq!(add::submit(&client, 40, 2).result().unwrap(), 42);
    // Work spreads over both workers, none of it runs here.
    let pids: Vec<Delayed<(u64, u32)>> = (0..64).map(whoami::delayed).collect();
    let got = client.get(&pids).unwrap();
    let mut seen: Vec<u32> = got.iter().map(|p| p.1).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(!seen.contains(&std::process::id()));
    // Big values move worker to worker and back.
    let m = 1 << 20;
    let v = ramp::delayed(m);
    let s = total::delayed(&v);
    let (s, v) = client.get(&(s, v)).unwrap();
    assert_eq!(s, (m * (m - 1) / 2) as f64);
    assert_eq!(v.len(), m as usize);
}

fn failures_name_the_task_and_spare_the_rest() {
    let client = Client::local_cluster(2, 1).unwrap();
    let leaves: Vec<Delayed<u64>> = (0..6).map(fails_at_three::delayed).collect();
    let bad = add::delayed(&leaves[2], &leaves[3]);
    let good = add::delayed(&leaves[4], &leaves[5]);
    let (b, g) = (bad.compute(&client), good.compute(&client));
    let e = b.unwrap_err();
    let te = e.as_task().unwrap();
    assert!(
        matches!(te.kind, TaskErrorKind::DependencyFailed { .. }),
        "{e}"
    );
    assert_eq!(te.root().kind, TaskErrorKind::Panicked);
    assert!(e.to_string().contains("three is not allowed"), "{e}");
    assert_eq!(g.unwrap(), 9);
    // A closure cannot run on the cluster: refused by name.
    let closure = task("my_closure").delayed(|| 5u64, ());
    let e = inc::delayed(&closure).compute(&client).unwrap_err();
    let root = e.as_task().unwrap().root();
    assert_eq!(root.kind, TaskErrorKind::NotRegistered);
    assert!(root.to_string().contains("my_closure"), "{root}");
}

fn random_graphs_match_the_sync_executor() {
    let client = Client::local_cluster(3, 1).unwrap();
    let sync = Client::sync();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n.max(1)
    };
    for round in 0..15 {
        let size = 5 + next(80) as usize;
        let mut nodes: Vec<Delayed<u64>> = Vec::new();
        for i in 0..size {
            let seed = next(1 << 20);
            let node = if i == 0 {
                inc::delayed(seed)
            } else {
                let a = nodes[next(i as u64) as usize].clone();
                let b = nodes[next(i as u64) as usize].clone();
                mix::delayed(a, b, seed)
            };
            nodes.push(node);
        }
        let outs: Vec<Delayed<u64>> = (0..3)
            .map(|_| nodes[next(size as u64) as usize].clone())
            .collect();
        for out in &outs {
            let want = out.compute(&sync).map_err(|e| e.to_string());
            let got = out.compute(&client).map_err(|e| e.to_string());
            assert_eq!(got, want, "round {round}");
        }
    }
}

fn a_killed_worker_is_recovered_from_lineage() {
    let mut cluster = LocalCluster::new(3, 1).unwrap();
    let client = Client::connect_with(&cluster.addr().to_string(), cluster.wire()).unwrap();
    // A map, a tree reduce and an all-to-all step, while a worker dies.
    let xs: Vec<Delayed<u64>> = (0..200).map(|i| slow_inc::delayed(i, 2)).collect();
    let sums: Vec<Delayed<u64>> = (0..20)
        .map(|k| sum_all::delayed(xs[k * 10..k * 10 + 10].to_vec()))
        .collect();
    let mixed: Vec<Delayed<u64>> = (0..20)
        .map(|k| add::delayed(&sums[k], &sums[(k + 7) % 20]))
        .collect();
    let all = tree(mixed);
    let want = all.compute(&Client::sync()).unwrap();
    let f = client.compute(all);
    std::thread::sleep(Duration::from_millis(150));
    cluster.kill_worker(0).unwrap();
    let t0 = Instant::now();
    assert_eq!(f.result().unwrap(), want);
    assert!(t0.elapsed() < Duration::from_secs(60));
}

/// 10,000 tasks (a map, a tree reduce, an all-to-all step, a final tree)
/// while workers are SIGKILLed at random moments and replaced.
fn chaos_workers_killed_at_random_give_the_fault_free_result() {
    let xs: Vec<Delayed<u64>> = (0..9000).map(|i| spin::delayed(i, 150)).collect();
    let sums: Vec<Delayed<u64>> = xs
        .chunks(10)
        .map(|c| sum_all::delayed(c.to_vec()))
        .collect();
    let buckets: Vec<Delayed<u64>> = sums
        .chunks(20)
        .map(|c| sum_all::delayed(c.to_vec()))
        .collect();
    let all: Vec<Delayed<u64>> = (0..buckets.len() as u64)
        .map(|j| mix_all::delayed(j, buckets.clone()))
        .collect();
    let root = tree(all);
    let want = root.compute(&Client::threads()).unwrap();

    let cluster = std::sync::Mutex::new(LocalCluster::new(3, 1).unwrap());
    let (addr, wire) = {
        let c = cluster.lock().unwrap();
        (c.addr().to_string(), c.wire())
    };
    let client = Client::connect_with(&addr, wire.clone()).unwrap();
    let t0 = Instant::now();
    let f = client.compute(root);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut kills = 0;
    // Kills at random moments, a few hundred ms apart (a worker takes a
    // while to start: killing faster than that measures only restarts).
    while !f.is_done() && kills < 6 && t0.elapsed() < Duration::from_secs(90) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(150 + rng % 250));
        if f.is_done() {
            break;
        }
        let mut c = cluster.lock().unwrap();
        let alive = c.pids().len();
        c.kill_worker((rng as usize / 7) % alive).unwrap();
        c.add_worker().unwrap();
        kills += 1;
    }
    assert_eq!(f.result().unwrap(), want, "after {kills} kills");
    assert!(
        kills >= 3,
        "only {kills} kills happened: the run was too short to test"
    );
    assert!(t0.elapsed() < Duration::from_secs(90));
    // Nothing stays processing.
    let conn = rask::Connection::connect(&addr, wire).unwrap();
    let counts: [u64; 6] = conn.get_var("rask:counts").unwrap().unwrap();
    assert_eq!(counts[2], 0, "tasks still processing: {counts:?}");
    println!("  ({kills} workers killed, {:.2?})", t0.elapsed());
}

/// A value over any frame limit moves between workers as a stream: 300 MiB
/// made on one worker and summed on the other (this hung when values went
/// in one frame), then freed on both when the graph is released.
fn a_value_of_any_size_moves_between_workers() {
    let client = Client::local_cluster(2, 1).unwrap();
    let n = 300u64 << 17; // 300 MiB of f64
    let v = ramp::delayed(n).workers(&["local-0"]);
    let s = total::delayed(v).workers(&["local-1"]);
    let t0 = Instant::now();
    assert_eq!(s.compute(&client).unwrap(), (n * (n - 1) / 2) as f64);
    assert!(t0.elapsed() < Duration::from_secs(60));
    // Nothing stays in the scheduler's memory after the graph. The release
    // travels after the result, so it is waited for (a bounded while).
    let conn = client.deployment().unwrap().connect().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts: [u64; 6] = conn.get_var("rask:counts").unwrap().unwrap();
        if counts[3] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "in memory 10 s after release: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scheduler with an observer (`rask scheduler --dashboard`) sees every
/// client's tasks while they run, named `function[number]`, with their
/// graph (so `explain` answers); a client that asked for no events gets
/// no more messages than before, and one with a recorder of its own still
/// counts each task once.
fn the_scheduler_records_every_clients_tasks() {
    use rask::diagnostics::{ClusterState, Recorder, TaskState};
    let recorder = Recorder::new();
    let mut opts = rask::LocalOptions::new(2, 1, rask::Transport::Tcp);
    opts.scheduler.observer = Some(rask::distributed::TaskStream(recorder.subscriber()));
    let client = Client::try_processes(opts).unwrap();
    let n = 60u64;
    let leaves: Vec<Delayed<u64>> = (0..n).map(|i| slow_inc::delayed(i, 25)).collect();
    let f = client.compute(sum_all::delayed(leaves));
    // Mid-run the scheduler's recording has moved (60 x 25 ms on 2 threads).
    let t0 = Instant::now();
    let mid = loop {
        let s = recorder.status();
        if s.tasks.done > 0 || t0.elapsed() > Duration::from_secs(20) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(!f.is_done(), "the graph ended before anything was seen");
    assert!(
        mid.tasks.done > 0 && mid.tasks.done < n + 1,
        "{:?}",
        mid.tasks
    );
    assert_eq!(f.result().unwrap(), (1..=n).sum::<u64>());
    // The last events arrive with the result; give the stream a moment.
    let t1 = Instant::now();
    let end = loop {
        let s = recorder.status();
        if s.tasks.done >= n + 2 || t1.elapsed() > Duration::from_secs(10) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The leaves, the built-in `gather` of the list, the sum.
    assert_eq!(end.tasks.done, n + 2, "{:?}", end.tasks);
    assert_eq!(end.executor, "cluster");
    let prefix = end.prefixes.iter().find(|p| p.name == "slow_inc").unwrap();
    assert_eq!((prefix.planned, prefix.done), (n, n));
    // The sum (named by its number in the graph the client sent) waited
    // for all the leaves.
    let d = (0..=3 * n)
        .find_map(|i| recorder.explain(&format!("sum_all[{i}]")).ok())
        .unwrap();
    assert_eq!(d.state, TaskState::Done);
    assert_eq!(d.dependencies.len(), 1, "{d:?}");
    assert!(d.dependencies[0].key.starts_with("gather["), "{d:?}");
    assert!(d.worker.is_some());
    // The workers' resource samples reach the scheduler's recording too.
    let t2 = Instant::now();
    while !recorder
        .status()
        .workers
        .iter()
        .any(|w| w.name.starts_with("local-") && w.rss_bytes.is_some_and(|r| r > 0))
    {
        assert!(
            t2.elapsed() < Duration::from_secs(10),
            "no worker sample: {:?}",
            recorder.status().workers
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A client with a recorder of its own counts each task once.
    let mine = Recorder::new();
    let client2 = client.clone().with_recorder_of(&mine);
    let leaves: Vec<Delayed<u64>> = (0..10).map(inc::delayed).collect();
    assert_eq!(sum_all::delayed(leaves).compute(&client2).unwrap(), 55);
    assert_eq!(mine.status().tasks.done, 12);
}

fn resources_and_worker_names_choose_where_tasks_run() {
    let mut cluster = LocalCluster::new(1, 1).unwrap();
    cluster.add_worker_with(&[("gpu", 1.0)]).unwrap();
    cluster
        .wait_for_workers(2, Duration::from_secs(20))
        .unwrap();
    let client = Client::connect_with(&cluster.addr().to_string(), cluster.wire()).unwrap();
    let gpu: Vec<Delayed<(u64, u32)>> = (0..16)
        .map(|i| whoami::delayed(i).resources(&[("gpu", 1.0)]))
        .collect();
    let named: Vec<Delayed<(u64, u32)>> = (100..116)
        .map(|i| whoami::delayed(i).workers(&["local-0"]))
        .collect();
    let (g, n) = client.get(&(gpu, named)).unwrap();
    let pids = |v: &[(u64, u32)]| {
        let mut p: Vec<u32> = v.iter().map(|x| x.1).collect();
        p.sort_unstable();
        p.dedup();
        p
    };
    let (pg, pn) = (pids(&g), pids(&n));
    assert_eq!(pg.len(), 1, "{pg:?}");
    assert_eq!(pn.len(), 1, "{pn:?}");
    assert_ne!(
        pg, pn,
        "the gpu tasks ran on the worker with the gpu, the named ones on local-0"
    );
    assert_eq!(g[3].0, 3);
    // In-process executors ignore the hints.
    assert_eq!(
        inc::delayed(1)
            .resources(&[("gpu", 1.0)])
            .compute(&Client::sync())
            .unwrap(),
        2
    );
}

fn shared_variables_live_on_the_scheduler() {
    let cluster = LocalCluster::new(1, 1).unwrap();
    let a = cluster.connect().unwrap();
    let b = cluster.connect().unwrap();
    a.set_var("threshold", &0.75f64).unwrap();
    // Messages of one connection are handled in order; once `a` reads its
    // own write back, every other client sees it.
    assert_eq!(a.get_var::<f64>("threshold").unwrap(), Some(0.75));
    assert_eq!(b.get_var::<f64>("threshold").unwrap(), Some(0.75));
    assert_eq!(b.get_var::<f64>("nothing").unwrap(), None);
}

fn bad_peers_get_typed_errors_and_the_rest_is_served() {
    use rask::distributed::proto::{
        ArgSpec, FromClient, FromWorker, Gid, TaskOpts, TaskSpec, ToClient, WorkerInfo,
    };
    use rask::distributed::wire::{connect_tcp, Role};
    let mut cfg = rask::SchedulerConfig::default();
    cfg.wire.max_frame = 1 << 20;
    let cluster = LocalCluster::with_config(1, 1, cfg).unwrap();
    let addr = cluster.addr().to_string();
    // Wrong secret.
    let wrong = WireConfig::default().with_secret(Secret::new("not the secret"));
    match rask::Connection::connect(&addr, wrong) {
        Err(rask::distributed::Error::Wire(WireError::AuthFailed(m))) => {
            assert!(m.contains("wrong secret"), "{m}")
        }
        other => panic!("wrong secret: {other:?}"),
    }
    assert!(logged("wrong secret"));
    // No secret at all.
    assert!(rask::Connection::connect(&addr, WireConfig::default()).is_err());
    // Garbage bytes and an oversized frame header, then hang up.
    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3][..],
    ] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(junk);
        drop(s);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut big = cluster.wire();
    big.max_frame = 64 << 20;
    rt.block_on(async {
        // A frame over the scheduler's limit, after a good handshake.
        let (_r, mut w) = connect_tcp(addr.as_str(), &big, Role::Client)
            .await
            .unwrap();
        let huge = [FromClient::SetVar {
            name: "x".into(),
            value: vec![7; 2 << 20],
        }];
        // The scheduler refuses the frame from its header and hangs up, so
        // writing the rest may meet a closed connection (a broken pipe
        // under load): either way the point is that everyone else is served.
        if w.send(&huge[..]).await.is_ok() {
            let _ = w.flush().await;
        }
        // A worker that reports a task the scheduler never sent.
        let (_r2, mut w2) = connect_tcp(addr.as_str(), &cluster.wire(), Role::Worker)
            .await
            .unwrap();
        let join = FromWorker::Join(WorkerInfo {
            name: "liar".into(),
            threads: 1,
            memory: 0,
            resources: vec![],
            data_addr: "127.0.0.1:9".into(),
            weight: 1,
            pid: 1,
        });
        w2.send(&[join][..]).await.unwrap();
        let lie = FromWorker::Finished {
            gid: Gid(0xdead_beef_0000_0001),
            nbytes: 1,
            micros: 1,
            thread: 0,
            inline: None,
            parts: None,
        };
        w2.send(&[lie][..]).await.unwrap();
        w2.flush().await.unwrap();
        // A graph naming a function no worker has.
        let (mut r3, mut w3) = connect_tcp(addr.as_str(), &cluster.wire(), Role::Client)
            .await
            .unwrap();
        let submit = FromClient::Submit {
            graph: 1,
            funcs: vec!["no::such::function".into()],
            tasks: vec![TaskSpec {
                func: 0,
                args: vec![ArgSpec::Lit(vec![1, 0, 0, 0, 0, 0, 0, 0])],
                opts: Some(Box::new(TaskOpts {
                    workers: vec!["local-0".into()],
                    ..TaskOpts::default()
                })),
                part: None,
            }],
            outputs: vec![0],
            events: false,
        };
        w3.send(&[submit][..]).await.unwrap();
        w3.flush().await.unwrap();
        let mut erred = None;
        while let Ok(Some(batch)) = r3.recv::<Vec<ToClient>>().await {
            for m in batch {
                match m {
                    ToClient::Erred { failure, .. } => erred = Some(failure),
                    ToClient::GraphDone { .. } => {
                        return assert_eq!(
                            erred,
                            Some(rask::distributed::proto::Failure::NotRegistered(
                                "function `no::such::function` is not registered in worker \
                                 `local-0`'s binary"
                                    .into()
                            ))
                        )
                    }
                    _ => {}
                }
            }
        }
        panic!("no answer for the unregistered function");
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        logged("over the limit") || logged("too large"),
        "no log line for the big frame"
    );
    assert!(logged("never sent"), "no log line for the unknown task");
    // Everyone else is still served.
    let client = Client::connect_with(&addr, cluster.wire()).unwrap();
    assert_eq!(add::delayed(1, 2).compute(&client).unwrap(), 3);
}

/// A scheduler, two workers and a client each in its own network namespace
/// (veth pairs on a bridge), with a secret: the multi-host case on one
/// machine. Skipped, with a message, where namespaces cannot be made.
fn across_network_namespaces() {
    let Some(net) = Netns::new() else {
        println!("  SKIPPED: cannot create network namespaces here (needs root and iproute2)");
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let secret = "netns-test-secret";
    let sched_addr = format!("{}:7786", net.ip(0));
    let mut procs = Vec::new();
    procs.push(net.spawn(
        0,
        &exe,
        &[
            ("RASK_TEST_ROLE", "scheduler"),
            ("RASK_TEST_LISTEN", &sched_addr),
            ("RASK_SECRET", secret),
        ],
    ));
    std::thread::sleep(Duration::from_millis(300));
    for (i, ns) in [(0, 1), (1, 2)] {
        let name = format!("host-{i}");
        let host = net.ip(ns);
        procs.push(net.spawn(
            ns,
            &exe,
            &[
                ("RASK_WORKER", &format!("tcp:{sched_addr}")),
                ("RASK_WORKER_NAME", &name),
                ("RASK_WORKER_HOST", &host),
                ("RASK_WORKER_THREADS", "1"),
                ("RASK_SECRET", secret),
            ],
        ));
    }
    let client = net.spawn(
        3,
        &exe,
        &[
            ("RASK_TEST_ROLE", "client"),
            ("RASK_TEST_SCHEDULER", &sched_addr),
            ("RASK_SECRET", secret),
        ],
    );
    let out = client.wait_with_output().unwrap();
    for mut p in procs {
        let _ = p.kill();
        let _ = p.wait();
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client in its namespace failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("netns client ok"), "{text}");
}

/// Network namespaces on a bridge, removed on drop.
struct Netns {
    tag: String,
}

impl Netns {
    const N: usize = 4;

    fn ip(&self, i: usize) -> String {
        format!("10.{}.0.{}", 200 + std::process::id() % 50, i + 1)
    }
    fn ns(&self, i: usize) -> String {
        format!("{}-{i}", self.tag)
    }

    fn new() -> Option<Netns> {
        let tag = format!("rask{}", std::process::id());
        let net = Netns { tag };
        let sh = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        let br = format!("{}br", net.tag);
        if !sh(&["link", "add", &br, "type", "bridge"]) {
            return None;
        }
        let mut ok = sh(&["link", "set", &br, "up"]);
        for i in 0..Self::N {
            let ns = net.ns(i);
            let veth = format!("{}v{i}", net.tag);
            ok &= sh(&["netns", "add", &ns])
                && sh(&[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ])
                && sh(&["link", "set", &veth, "master", &br])
                && sh(&["link", "set", &veth, "up"])
                && sh(&[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", net.ip(i)),
                    "dev",
                    "eth0",
                ])
                && sh(&["-n", &ns, "link", "set", "eth0", "up"])
                && sh(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        if !ok {
            drop(net);
            return None;
        }
        Some(net)
    }

    fn spawn(&self, i: usize, exe: &std::path::Path, env: &[(&str, &str)]) -> std::process::Child {
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", &self.ns(i)]).arg(exe);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for i in 0..Self::N {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .output();
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &format!("{}br", self.tag)])
            .output();
    }
}

/// Roles this binary plays inside a namespace.
fn role() {
    match std::env::var("RASK_TEST_ROLE").as_deref() {
        Ok("scheduler") => {
            let listen = std::env::var("RASK_TEST_LISTEN").unwrap().parse().unwrap();
            let cfg = rask::SchedulerConfig {
                listen,
                wire: WireConfig::from_env(),
                ..Default::default()
            };
            rask::Scheduler::start(cfg).unwrap().wait();
            std::process::exit(0);
        }
        Ok("client") => {
            let addr = std::env::var("RASK_TEST_SCHEDULER").unwrap();
            let t0 = Instant::now();
            let client = loop {
                match Client::connect(&addr) {
                    Ok(c) => break c,
                    Err(e) if t0.elapsed() < Duration::from_secs(10) => {
                        let _ = e;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            // Wait for both workers, then run work that spans them.
            let conn = rask::Connection::connect(&addr, WireConfig::from_env()).unwrap();
            while conn.get_var::<u64>("rask:workers").unwrap().unwrap_or(0) < 2 {
                assert!(
                    t0.elapsed() < Duration::from_secs(20),
                    "workers did not join"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let t = tree((0..500).map(inc::delayed).collect());
            assert_eq!(t.compute(&client).unwrap(), 500 * 501 / 2);
            let pids: Vec<Delayed<(u64, u32)>> = (0..32).map(whoami::delayed).collect();
            let got = client.get(&pids).unwrap();
            let mut seen: Vec<u32> = got.iter().map(|p| p.1).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 2, "{seen:?}");
            let v = ramp::delayed(1 << 18);
            assert_eq!(
                total::delayed(&v).compute(&client).unwrap(),
                ((1u64 << 18) * ((1 << 18) - 1) / 2) as f64
            );
            println!("netns client ok");
            std::process::exit(0);
        }
        _ => {}
    }
}

fn main() {
    role();
    rask::init();
    workers::capture_logs();
    let checks: &[(&str, fn())] = &[
        (
            "graphs_of_registered_tasks_run_on_the_cluster",
            graphs_of_registered_tasks_run_on_the_cluster,
        ),
        (
            "failures_name_the_task_and_spare_the_rest",
            failures_name_the_task_and_spare_the_rest,
        ),
        (
            "random_graphs_match_the_sync_executor",
            random_graphs_match_the_sync_executor,
        ),
        (
            "a_killed_worker_is_recovered_from_lineage",
            a_killed_worker_is_recovered_from_lineage,
        ),
        (
            "chaos_workers_killed_at_random_give_the_fault_free_result",
            chaos_workers_killed_at_random_give_the_fault_free_result,
        ),
        (
            "resources_and_worker_names_choose_where_tasks_run",
            resources_and_worker_names_choose_where_tasks_run,
        ),
        (
            "a_value_of_any_size_moves_between_workers",
            a_value_of_any_size_moves_between_workers,
        ),
        (
            "shared_variables_live_on_the_scheduler",
            shared_variables_live_on_the_scheduler,
        ),
        (
            "bad_peers_get_typed_errors_and_the_rest_is_served",
            bad_peers_get_typed_errors_and_the_rest_is_served,
        ),
        ("across_network_namespaces", across_network_namespaces),
        (
            "the_scheduler_records_every_clients_tasks",
            the_scheduler_records_every_clients_tasks,
        ),
    ];
    let (ran, failed) = workers::run_checks(checks, || None);
    workers::finish(ran, failed)
}
