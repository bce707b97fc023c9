//! Retiring workers (`core/retire.rs`) and the adaptive report
//! (`core/adapt.rs`), on the simulator and step by step.

use std::time::{Duration, Instant};

use super::*;

/// An outbox that also records closed connections (the fault simulator
/// uses it too).
#[derive(Default)]
pub(super) struct Out {
    pub(super) to_workers: Vec<(WorkerIx, ToWorker)>,
    pub(super) to_clients: Vec<(ClientIx, ToClient)>,
    pub(super) closed: Vec<WorkerIx>,
}

impl Outbox for Out {
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker) {
        self.to_workers.push((w, wire(&msg)));
    }
    fn to_client(&mut self, c: ClientIx, msg: ToClient) {
        self.to_clients.push((c, wire(&msg)));
    }
    fn close_worker(&mut self, w: WorkerIx) {
        self.closed.push(w);
    }
}

fn info(name: &str, threads: u32) -> WorkerInfo {
    WorkerInfo {
        name: name.into(),
        threads,
        memory: 0,
        resources: Vec::new(),
        data_addr: format!("addr-{name}"),
        weight: threads,
        pid: 1,
    }
}

fn submit(
    core: &mut Core,
    c: ClientIx,
    graph: GraphNo,
    tasks: Vec<TaskSpec>,
    outputs: Vec<u32>,
    out: &mut Out,
) {
    let msg = FromClient::Submit {
        graph,
        funcs: vec!["add".into()],
        tasks,
        outputs,
        events: false,
    };
    core.client_message(c, wire(&msg), out);
}

fn computes(out: &mut Out) -> Vec<(WorkerIx, Gid)> {
    out.to_workers
        .drain(..)
        .filter_map(|(w, m)| match m {
            ToWorker::Compute { gid, .. } => Some((w, gid)),
            _ => None,
        })
        .collect()
}

fn finished(core: &mut Core, w: WorkerIx, gid: Gid, out: &mut Out) {
    let msg = FromWorker::Finished {
        gid,
        nbytes: 4096,
        micros: 2_000_000,
        thread: 0,
        inline: None,
        parts: None,
    };
    core.worker_message(w, wire(&msg), out).unwrap();
}

#[test]
fn a_retired_workers_output_moves_and_is_announced_where_it_went() {
    let mut core = Core::new(CoreConfig::default());
    let mut out = Out::default();
    let c = core.client_joined();
    let w0 = core.worker_joined(info("a", 1), &mut out).unwrap();
    let w1 = core.worker_joined(info("b", 1), &mut out).unwrap();
    // Two outputs and a task still to run: one output lands on each worker.
    let tasks = vec![spec(0, vec![lit(1)], None), spec(0, vec![lit(2)], None)];
    submit(&mut core, c, 1, tasks, vec![0, 1], &mut out);
    let sent = computes(&mut out);
    assert_eq!(sent.len(), 2);
    for &(w, gid) in &sent {
        finished(&mut core, w, gid, &mut out);
    }
    let on_a = sent.iter().find(|(w, _)| *w == w0).unwrap().1;
    out.to_clients.clear();

    // The last worker not retiring is refused; `a` is not.
    assert_eq!(core.retire(&["a".into()], &mut out), Vec::<String>::new());
    assert_eq!(core.retire(&["b".into()], &mut out), vec!["b".to_string()]);
    assert_eq!(core.retiring(), vec!["a".to_string()]);
    let fetch: Vec<_> = out
        .to_workers
        .drain(..)
        .filter(|(_, m)| matches!(m, ToWorker::Fetch { .. }))
        .collect();
    match &fetch[..] {
        [(to, ToWorker::Fetch { gid, addr })] => {
            assert_eq!((*to, *gid, addr.as_str()), (w1, on_a, "addr-a"));
        }
        other => panic!("expected one fetch by b from a, got {other:?}"),
    }
    // Still there: its value is not copied yet.
    core.tick(Instant::now() + Duration::from_secs(1), &mut out);
    assert!(out.closed.is_empty());
    core.worker_message(
        w1,
        wire(&FromWorker::Fetched {
            gid: on_a,
            nbytes: 4096,
        }),
        &mut out,
    )
    .unwrap();
    match &out.to_clients[..] {
        [(
            cc,
            ToClient::Moved {
                graph: 1,
                value: Located::At { gid, addr },
                ..
            },
        )] => {
            assert_eq!((*cc, *gid, addr.as_str()), (c, on_a, "addr-b"));
        }
        other => panic!("expected one Moved, got {other:?}"),
    }
    core.tick(Instant::now() + Duration::from_secs(2), &mut out);
    assert_eq!(out.closed, vec![w0]);
    core.check().unwrap();
    let r = core.report();
    assert_eq!(r.workers.len(), 1);
    assert_eq!(
        (r.workers[0].name.as_str(), r.workers[0].bytes),
        ("b", 8192)
    );
    assert!(core.retiring().is_empty());
    // Nothing ran again.
    assert!(computes(&mut out).is_empty());
    assert!(core.tasks.iter().all(|t| t.attempts <= 1));
}

#[test]
fn a_retiring_worker_finishes_what_it_runs_and_gives_back_what_it_queued() {
    let mut core = Core::new(CoreConfig {
        stealing: false,
        ..CoreConfig::default()
    });
    let mut out = Out::default();
    let c = core.client_joined();
    let w0 = core.worker_joined(info("a", 1), &mut out).unwrap();
    let tasks: Vec<TaskSpec> = (0..6).map(|i| spec(0, vec![lit(i)], None)).collect();
    submit(&mut core, c, 1, tasks, (0..6).collect(), &mut out);
    let sent = computes(&mut out);
    assert_eq!(sent.len(), 6, "all six queued on the only worker");
    let w1 = core.worker_joined(info("b", 1), &mut out).unwrap();
    core.worker_message(
        w0,
        wire(&FromWorker::Started {
            gid: sent[0].1,
            thread: 0,
        }),
        &mut out,
    )
    .unwrap();
    core.retire(&["a".into()], &mut out);
    let steal = out
        .to_workers
        .iter()
        .find_map(|(w, m)| match m {
            ToWorker::Steal { gids } if *w == w0 => Some(gids.clone()),
            _ => None,
        })
        .expect("the queued tasks are asked back");
    assert_eq!(steal.len(), 5, "all but the started one");
    out.to_workers.clear();
    core.worker_message(
        w0,
        wire(&FromWorker::Stolen {
            gids: steal.clone(),
        }),
        &mut out,
    )
    .unwrap();
    let again = computes(&mut out);
    assert!(again.iter().all(|&(w, _)| w == w1), "{again:?}");
    assert_eq!(again.len(), 5);
    // It leaves only once its running task is done and copied.
    core.tick(Instant::now() + Duration::from_secs(1), &mut out);
    assert!(out.closed.is_empty());
    finished(&mut core, w0, sent[0].1, &mut out);
    core.tick(Instant::now() + Duration::from_secs(2), &mut out);
    assert!(out.closed.is_empty(), "its value is not copied yet");
    let fetch = out
        .to_workers
        .iter()
        .any(|(w, m)| *w == w1 && matches!(m, ToWorker::Fetch { gid, .. } if *gid == sent[0].1));
    assert!(fetch);
    // The copy fails once: asked again, then it works.
    core.worker_message(
        w1,
        wire(&FromWorker::NotFetched { gid: sent[0].1 }),
        &mut out,
    )
    .unwrap();
    out.to_workers.clear();
    core.tick(Instant::now() + Duration::from_secs(3), &mut out);
    assert!(out
        .to_workers
        .iter()
        .any(|(w, m)| *w == w1 && matches!(m, ToWorker::Fetch { .. })));
    core.worker_message(
        w1,
        wire(&FromWorker::Fetched {
            gid: sent[0].1,
            nbytes: 4096,
        }),
        &mut out,
    )
    .unwrap();
    core.tick(Instant::now() + Duration::from_secs(4), &mut out);
    assert_eq!(out.closed, vec![w0]);
    core.check().unwrap();
}

#[test]
fn the_report_counts_work_and_wants_workers_for_it() {
    let mut core = Core::new(CoreConfig::default());
    let mut out = Out::default();
    let c = core.client_joined();
    let a = core.worker_joined(info("a", 2), &mut out).unwrap();
    // 200 tasks of a function never seen: 0.5 s each, 100 s of work; with
    // 2 threads a worker and a 5 s target, 10 workers.
    let tasks: Vec<TaskSpec> = (0..200).map(|i| spec(0, vec![lit(i)], None)).collect();
    submit(&mut core, c, 1, tasks, (0..200).collect(), &mut out);
    let r = core.report();
    assert_eq!((r.runnable, r.occupancy_us), (200, 100_000_000));
    assert_eq!(r.desired, 10);
    assert!(r.retire_first.is_empty(), "a busy worker is not retired");
    // Seen finishing in 2 s each: more wanted.
    let sent = computes(&mut out);
    for &(w, gid) in &sent[..10] {
        finished(&mut core, w, gid, &mut out);
    }
    let r = core.report();
    assert!(r.desired > 10, "{r:?}");
    assert_eq!(r.tasks[3], 10);
    let _ = a;

    // When all is done: nothing wanted, and the idle worker holding no
    // value is the first to retire.
    let mut core = Core::new(CoreConfig::default());
    let mut out = Out::default();
    let c = core.client_joined();
    let a = core.worker_joined(info("a", 1), &mut out).unwrap();
    submit(
        &mut core,
        c,
        1,
        vec![spec(0, vec![lit(1)], None)],
        vec![0],
        &mut out,
    );
    let sent = computes(&mut out);
    finished(&mut core, a, sent[0].1, &mut out);
    core.worker_joined(info("b", 1), &mut out).unwrap();
    let r = core.report();
    assert_eq!((r.desired, r.runnable, r.held_bytes), (0, 0, 4096));
    assert_eq!(r.retire_first, vec!["b".to_string(), "a".to_string()]);
    assert_eq!(r.workers[0].only_here, 4096);
}

#[test]
fn random_graphs_with_workers_retired_at_random_give_the_answer_and_recompute_nothing() {
    for seed in 1..=12u64 {
        let mut sim = Sim::new(CoreConfig::default(), 4, seed);
        let mut want = Vec::new();
        for g in 0..4u64 {
            let (specs, vals) = random_dag(&mut sim.rng, 150, false);
            let outputs: Vec<u32> = (0..150).filter(|i| i % 7 == 0 || *i == 149).collect();
            sim.submit(g, specs, outputs.clone());
            want.push((g, outputs, vals));
        }
        let mut now = Instant::now();
        let mut retired = 0;
        for n in 0..20_000 {
            sim.core.check().unwrap();
            let moved = sim.deliver();
            // Workers the core let go have exited: their values are gone.
            for w in &mut sim.workers {
                if w.alive && !sim.core.workers[w.ix].alive {
                    w.alive = false;
                    w.held.clear();
                    w.queue.clear();
                }
            }
            if sim.finished.len() >= 4 && !moved && sim.core.retiring().is_empty() {
                break;
            }
            if sim.rng.below(12) == 0 {
                let live: Vec<String> = sim
                    .workers
                    .iter()
                    .filter(|w| w.alive)
                    .map(|w| w.addr.clone())
                    .collect();
                let name = live[sim.rng.below(live.len() as u64) as usize].clone();
                if sim.core.retire(&[name], &mut sim.out).is_empty() {
                    retired += 1;
                }
                if live.len() < 3 {
                    sim.join(&[]);
                }
            }
            now += Duration::from_millis(60);
            sim.core.tick(now, &mut sim.out);
            if !sim.step() && !moved && sim.finished.len() < 4 && sim.core.retiring().is_empty() {
                panic!("seed {seed}: stuck at step {n}: {:?}", sim.core.counts());
            }
        }
        assert!(sim.finished.len() >= 4, "seed {seed}: did not finish");
        assert!(retired > 0, "seed {seed}: nothing was retired");
        for (g, outputs, vals) in &want {
            check_answers(&sim, *g, outputs, vals);
        }
        for (i, t) in sim.core.tasks.iter().enumerate() {
            assert!(
                t.attempts <= 1,
                "seed {seed}: task {i} ran {} times",
                t.attempts
            );
        }
    }
}
