//! Memory in the scheduler: paused workers, samples for watchers, and root
//! tasks withheld until workers have room (Dask's queuing).
//!
//! Rules:
//! 1. A worker that says it is paused (`FromWorker::Memory` with `paused`)
//!    has no room (`Worker::has_room`): nothing more is sent to it. Its
//!    tasks that have not started are asked back (`Steal`) when another
//!    live worker is not paused, so they run elsewhere; it gets tasks again
//!    once it says it resumed.
//! 2. Every sample goes to the clients that watch workers
//!    (`ToClient::WorkerSample`).
//! 3. A *root* (a task with no input from another task) whose function's
//!    results have averaged at least `queue_root_bytes` goes only to a
//!    worker with fewer than `ceil(threads * worker_saturation)` tasks in
//!    flight. One that finds none waits in the `queued` heap (same order as
//!    the ready heap) and goes as slots free, after the ready tasks: so a
//!    wide graph does not load all its inputs at once, and the tasks that
//!    consume loaded inputs go first. Small roots are not withheld: the
//!    window alone bounds them, and holding them back would cost a round
//!    trip each.

use std::cmp::Reverse;

use super::ix::Ix;
use super::placement::{pick, Candidate};
use super::{Arg, Core, FuncIx, Outbox, ReadyKey, Slot, St, Worker, WorkerIx};
use crate::proto::{MemorySample, ToClient};

/// The core's memory state (a field of [`Core`]).
#[derive(Debug, Default)]
pub(super) struct MemState {
    /// Roots withheld for want of a slot (rule 3).
    queued: super::ready::ReadyQueue,
    /// Average result size per function (bytes), `None` until one finished.
    func_bytes: Vec<Option<f64>>,
}

impl Worker {
    /// Tasks it may have in flight before it gets no more withheld roots.
    fn root_slots(&self, saturation: f64) -> u32 {
        let t = f64::from(self.info.threads.max(1));
        ((t * saturation).ceil() as u32).max(1)
    }
}

impl Core {
    /// Worker `w`'s memory sample (rules 1 and 2).
    pub(super) fn memory_sample(
        &mut self,
        w: WorkerIx,
        sample: MemorySample,
        out: &mut impl Outbox,
    ) {
        let was = self.workers[w].paused;
        self.workers[w].paused = sample.paused;
        for c in self.watchers() {
            out.to_client(
                c,
                ToClient::WorkerSample {
                    worker: w.0,
                    sample: sample.clone(),
                },
            );
        }
        if sample.paused && !was {
            self.give_back_unstarted(w, out);
        }
    }

    /// Asks paused worker `w` for its tasks that have not started, if some
    /// other live worker is not paused (rule 1).
    fn give_back_unstarted(&mut self, w: WorkerIx, out: &mut impl Outbox) {
        let elsewhere = self
            .workers
            .enumerate()
            .any(|(i, wk)| i != w && wk.alive && !wk.paused);
        if elsewhere {
            self.steal_back(w, out);
        }
    }

    /// Notes the size of a result of function `func` (a vector's parts,
    /// which have no function, are not counted).
    pub(super) fn note_result_bytes(&mut self, func: FuncIx, nbytes: u64) {
        let f = func.index();
        if f >= self.func_us.len() {
            return;
        }
        if self.mem.func_bytes.len() <= f {
            self.mem.func_bytes.resize(f + 1, None);
        }
        let b = &mut self.mem.func_bytes[f];
        *b = Some(match *b {
            Some(avg) => 0.8 * avg + 0.2 * nbytes as f64,
            None => nbytes as f64,
        });
    }

    /// Whether `slot` is a root that rule 3 withholds.
    fn is_queued_root(&self, slot: Slot) -> bool {
        let t = self.task(slot);
        if self.cfg.worker_saturation.is_infinite()
            || t.args.iter().any(|a| matches!(a, Arg::Dep(_)))
        {
            return false;
        }
        self.mem
            .func_bytes
            .get(t.func.index())
            .copied()
            .flatten()
            .is_some_and(|b| b >= self.cfg.queue_root_bytes as f64)
    }

    /// Keeps, of `cands` for `slot`, only the workers with a root slot if
    /// rule 3 applies; `true` if that leaves none (the task is withheld).
    pub(super) fn withhold_root(&self, slot: Slot, cands: &mut Vec<Candidate>) -> bool {
        if !self.is_queued_root(slot) {
            return false;
        }
        let sat = self.cfg.worker_saturation;
        cands.retain(|c| {
            let wk = &self.workers[c.index];
            wk.in_flight < wk.root_slots(sat)
        });
        cands.is_empty()
    }

    /// Withholds ready root `key` (rule 3).
    pub(super) fn queue_root(&mut self, key: ReadyKey) {
        self.mem.queued.push(key);
    }

    /// Sends withheld roots to workers with free slots, best first.
    pub(super) fn place_queued(&mut self, out: &mut impl Outbox) {
        let mut cands = Vec::new();
        while let Some(Reverse((_, _, slot, gen))) = self.mem.queued.peek() {
            let t = self.task(slot);
            if t.gen != gen || t.state != St::Ready {
                self.mem.queued.pop();
                continue;
            }
            self.candidates(slot, &mut cands);
            if self.withhold_root(slot, &mut cands) || cands.is_empty() {
                break;
            }
            self.mem.queued.pop();
            let i = pick(self.cfg.placement, &cands, &mut self.turn);
            let w = cands[i].index;
            self.send(slot, w, out);
        }
    }

    /// Roots withheld now (for tests and metrics).
    pub fn queued_roots(&self) -> usize {
        self.mem
            .queued
            .iter()
            .filter(|Reverse((_, _, s, gen))| {
                let t = self.task(*s);
                t.gen == *gen && t.state == St::Ready
            })
            .count()
    }

    /// Whether worker `w` said it is paused.
    pub fn worker_paused(&self, w: WorkerIx) -> bool {
        self.workers.get(w).is_some_and(|wk| wk.paused)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{ClientIx, CoreConfig};
    use super::*;
    use crate::proto::{ArgSpec, FromClient, FromWorker, Gid, TaskSpec, ToWorker, WorkerInfo};

    #[derive(Default)]
    struct Out {
        to_w: Vec<(u32, ToWorker)>,
        to_c: Vec<ToClient>,
    }
    impl Outbox for Out {
        fn to_worker(&mut self, w: WorkerIx, msg: ToWorker) {
            self.to_w.push((w.0, msg));
        }
        fn to_client(&mut self, _: ClientIx, msg: ToClient) {
            self.to_c.push(msg);
        }
    }
    impl Out {
        /// The tasks sent since the last call: (worker, gid, its args).
        fn computes(&mut self) -> Vec<(u32, Gid, Vec<crate::proto::ArgSource>)> {
            std::mem::take(&mut self.to_w)
                .into_iter()
                .filter_map(|(w, m)| match m {
                    ToWorker::Compute { gid, args, .. } => Some((w, gid, args)),
                    _ => None,
                })
                .collect()
        }
    }

    fn core(cfg: CoreConfig, workers: u32, out: &mut Out) -> (Core, ClientIx) {
        let mut core = Core::new(cfg);
        let c = core.client_joined();
        for n in 0..workers {
            let info = WorkerInfo {
                name: format!("w{n}"),
                threads: 1,
                memory: 1 << 30,
                resources: Vec::new(),
                data_addr: format!("w{n}"),
                weight: 1,
                pid: n,
            };
            core.worker_joined(info, out).unwrap();
        }
        (core, c)
    }

    fn lit() -> ArgSpec {
        ArgSpec::Lit(rask_core::format::to_vec(&1u64).unwrap())
    }

    fn task(func: u32, args: Vec<ArgSpec>) -> TaskSpec {
        TaskSpec {
            func,
            args,
            opts: None,
            part: None,
        }
    }

    fn submit(
        core: &mut Core,
        c: ClientIx,
        tasks: Vec<TaskSpec>,
        outputs: Vec<u32>,
        out: &mut Out,
    ) {
        let msg = FromClient::Submit {
            graph: 1,
            funcs: vec!["load".into(), "use".into()],
            tasks,
            outputs,
            events: false,
        };
        core.client_message(c, msg, out);
    }

    fn finished(core: &mut Core, w: u32, gid: Gid, nbytes: u64, out: &mut Out) {
        let m = FromWorker::Finished {
            gid,
            nbytes,
            micros: 1000,
            thread: 0,
            inline: None,
            parts: None,
        };
        core.worker_message(WorkerIx(w), m, out).unwrap();
    }

    fn paused(core: &mut Core, w: u32, paused: bool, out: &mut Out) {
        let sample = MemorySample {
            paused,
            limit: 1 << 30,
            rss: 900 << 20,
            ..MemorySample::default()
        };
        core.worker_message(WorkerIx(w), FromWorker::Memory(sample), out)
            .unwrap();
    }

    #[test]
    fn a_paused_worker_gets_no_tasks_and_gives_back_what_it_had_not_started() {
        let mut out = Out::default();
        let (mut core, c) = core(CoreConfig::default(), 2, &mut out);
        core.client_message(c, FromClient::WatchWorkers, &mut out);
        let tasks = (0..6).map(|_| task(0, vec![lit()])).collect();
        submit(&mut core, c, tasks, (0..6).collect(), &mut out);
        let first = out.computes();
        assert!(first.iter().any(|x| x.0 == 0) && first.iter().any(|x| x.0 == 1));
        out.to_c.clear();
        paused(&mut core, 0, true, &mut out);
        assert!(core.worker_paused(WorkerIx(0)));
        // Watchers hear of it; worker 0 is asked for its unstarted tasks.
        assert!(matches!(
            out.to_c.as_slice(),
            [ToClient::WorkerSample { worker: 0, sample }] if sample.paused
        ));
        let steal: Vec<_> = out
            .to_w
            .iter()
            .filter_map(|(w, m)| match m {
                ToWorker::Steal { gids } if *w == 0 => Some(gids.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(steal.len(), 1);
        let mine: Vec<Gid> = first.iter().filter(|x| x.0 == 0).map(|x| x.1).collect();
        assert_eq!(steal[0], mine);
        out.to_w.clear();
        core.worker_message(
            WorkerIx(0),
            FromWorker::Stolen { gids: mine.clone() },
            &mut out,
        )
        .unwrap();
        // What came back goes to worker 1 only.
        let again = out.computes();
        assert_eq!(again.len(), mine.len());
        assert!(again.iter().all(|x| x.0 == 1), "{again:?}");
        // More work while paused: still none for worker 0.
        for (_, gid, _) in first.iter().filter(|x| x.0 == 1).chain(&again) {
            finished(&mut core, 1, *gid, 10_000, &mut out);
        }
        assert!(out.computes().iter().all(|x| x.0 == 1));
        paused(&mut core, 0, false, &mut out);
        assert!(!core.worker_paused(WorkerIx(0)));
        core.check().unwrap();
    }

    #[test]
    fn big_roots_wait_for_room_and_their_consumers_go_first() {
        let mut out = Out::default();
        // A fixed window of 9 (no growth with short tasks), to count in.
        let cfg = CoreConfig {
            queue_root_bytes: 1000,
            queue_us: 0.0,
            ..CoreConfig::default()
        };
        let (mut core, c) = core(cfg, 1, &mut out);
        // 20 loads, each used by one task: load_i = 2i, use_i = 2i + 1.
        let mut tasks = Vec::new();
        for i in 0..20u32 {
            tasks.push(task(0, vec![lit()]));
            tasks.push(task(1, vec![ArgSpec::Dep(2 * i)]));
        }
        submit(
            &mut core,
            c,
            tasks,
            (0..20).map(|i| 2 * i + 1).collect(),
            &mut out,
        );
        // Sizes unknown yet: the window's worth of loads goes.
        let mut sent = out.computes();
        assert_eq!(sent.len(), 9);
        let mut loads_in_flight = sent.len();
        let mut max_after_known = 0;
        let mut order = Vec::new();
        while let Some((_, gid, args)) = (!sent.is_empty()).then(|| sent.remove(0)) {
            let is_load = args
                .iter()
                .all(|a| matches!(a, crate::proto::ArgSource::Lit(_)));
            order.push(is_load);
            finished(
                &mut core,
                0,
                gid,
                if is_load { 10_000 } else { 8 },
                &mut out,
            );
            if is_load {
                loads_in_flight -= 1;
            }
            let new = out.computes();
            for (_, _, a) in &new {
                if a.iter()
                    .all(|a| matches!(a, crate::proto::ArgSource::Lit(_)))
                {
                    loads_in_flight += 1;
                    max_after_known = max_after_known.max(loads_in_flight);
                }
            }
            sent.extend(new);
        }
        assert_eq!(order.iter().filter(|l| **l).count(), 20);
        assert_eq!(order.len(), 40);
        // Once loads are known to be big, none is sent while the worker
        // has 2 (ceil(1 * 1.1)) tasks in flight.
        assert!(max_after_known <= 9, "{max_after_known}");
        assert_eq!(core.queued_roots(), 0);
        // After the first window (9 loads, then their 9 uses), at most 2
        // (ceil(1 * 1.1)) loaded values wait for their use at any time.
        let mut waiting = 0i32;
        let mut most = 0;
        for &is_load in &order[18..] {
            waiting += if is_load { 1 } else { -1 };
            most = most.max(waiting);
        }
        assert!(most <= 2, "{most} loads waiting for their uses: {order:?}");
        core.check().unwrap();
    }

    #[test]
    fn small_roots_are_not_withheld() {
        let mut out = Out::default();
        let cfg = CoreConfig {
            queue_us: 0.0,
            ..CoreConfig::default()
        };
        let (mut core, c) = core(cfg, 1, &mut out);
        let tasks = (0..50).map(|_| task(0, vec![lit()])).collect();
        submit(&mut core, c, tasks, (0..50).collect(), &mut out);
        let first = out.computes();
        for (_, gid, _) in &first {
            finished(&mut core, 0, *gid, 8, &mut out);
        }
        // Small results: the window refills as usual, nothing is queued.
        assert!(out.computes().len() >= 9);
        assert_eq!(core.queued_roots(), 0);
    }

    /// Runs a graph on one simulated worker of one thread with a window of
    /// one task (so the core's order is the order tasks run in): FIFO, one
    /// task at a time, results of func 0 ("load") `big` bytes, others 8,
    /// each held until the core releases it. Returns the peak bytes held.
    fn peak_held(tasks: Vec<TaskSpec>, outputs: Vec<u32>, big: u64) -> u64 {
        let mut out = Out::default();
        let cfg = CoreConfig {
            prefetch_per_thread: 0,
            queue_us: 0.0,
            worker_saturation: f64::INFINITY,
            ..CoreConfig::default()
        };
        let (mut core, c) = core(cfg, 1, &mut out);
        let n = tasks.len();
        submit(&mut core, c, tasks, outputs, &mut out);
        let mut queue = std::collections::VecDeque::new();
        let mut held = std::collections::HashMap::new();
        let (mut now, mut peak, mut ran) = (0u64, 0u64, 0);
        loop {
            for (_, m) in std::mem::take(&mut out.to_w) {
                match m {
                    ToWorker::Compute { gid, args, .. } => {
                        let load = args
                            .iter()
                            .all(|a| matches!(a, crate::proto::ArgSource::Lit(_)));
                        queue.push_back((gid, load));
                    }
                    ToWorker::Release { gids } => {
                        for g in gids {
                            now -= held.remove(&g).unwrap_or(0);
                        }
                    }
                    _ => {}
                }
            }
            let Some((gid, load)) = queue.pop_front() else {
                break;
            };
            let nbytes = if load { big } else { 8 };
            held.insert(gid, nbytes);
            now += nbytes;
            peak = peak.max(now);
            ran += 1;
            finished(&mut core, 0, gid, nbytes, &mut out);
        }
        assert_eq!(ran, n, "every task ran");
        core.check().unwrap();
        peak
    }

    /// `branches` chains load -> step -> step, and one task over every
    /// chain's end, task `k` (0: the load) of chain `b` at position
    /// `at(b, k)`: specs and the output.
    fn chains(branches: u32, at: impl Fn(u32, u32) -> u32) -> (Vec<TaskSpec>, Vec<u32>) {
        let mut tasks: Vec<Option<TaskSpec>> = (0..3 * branches).map(|_| None).collect();
        for b in 0..branches {
            tasks[at(b, 0) as usize] = Some(task(0, vec![lit()]));
            for k in 1..3 {
                tasks[at(b, k) as usize] = Some(task(1, vec![ArgSpec::Dep(at(b, k - 1))]));
            }
        }
        let mut tasks: Vec<TaskSpec> = tasks.into_iter().map(Option::unwrap).collect();
        tasks.push(task(
            1,
            (0..branches).map(|b| ArgSpec::Dep(at(b, 2))).collect(),
        ));
        let out = tasks.len() as u32 - 1;
        (tasks, vec![out])
    }

    /// The positions the client's lowering gives the same chains built
    /// breadth-first (every load, then every first step, ...), unfused:
    /// `at[b][k]`.
    fn lowered(branches: u32) -> Vec<[u32; 3]> {
        use rask_core::{task as named, Key, PlanOptions};
        let name = |b: u32, k: u32| Key::new(format!("c{b}-{k}"));
        let loads: Vec<_> = (0..branches)
            .map(|b| named(name(b, 0)).delayed(move || u64::from(b), ()))
            .collect();
        let firsts: Vec<_> = (0..branches)
            .map(|b| named(name(b, 1)).delayed(|x: u64| x + 1, (&loads[b as usize],)))
            .collect();
        let seconds: Vec<_> = (0..branches)
            .map(|b| named(name(b, 2)).delayed(|x: u64| x + 1, (&firsts[b as usize],)))
            .collect();
        let all = rask_core::delayed(|v: Vec<u64>| v.iter().sum::<u64>(), (&seconds,));
        let plan = all.plan(PlanOptions { fuse: false }).unwrap();
        let mut at = vec![[u32::MAX; 3]; branches as usize];
        let mut pos = 0;
        for t in 0..plan.len() as u32 {
            let key = plan.key(rask_core::TaskId(t)).to_string();
            let Some((b, k)) = key
                .strip_prefix('c')
                .and_then(|r| r.split_once('-'))
                .and_then(|(b, k)| Some((b.parse::<usize>().ok()?, k.parse::<usize>().ok()?)))
            else {
                continue; // the gathering of the ends, and the sum
            };
            at[b][k] = pos;
            pos += 1;
        }
        assert_eq!(pos, 3 * branches, "every chain task is in the plan");
        at
    }

    #[test]
    fn the_order_bounds_memory() {
        const BIG: u64 = 10 << 20;
        const B: u32 = 40;
        // The order the client's lowering gives a graph built breadth-first.
        let at = lowered(B);
        let (t, o) = chains(B, |b, k| at[b as usize][k as usize]);
        let good = peak_held(t, o, BIG);
        // The naive order: the order the graph was built in.
        let (t, o) = chains(B, |b, k| k * B + b);
        let naive = peak_held(t, o, BIG);
        // The lowering finishes a chain (and frees its load) before the
        // next load starts: one load held at a time; the naive order holds
        // all 40.
        assert!(good < 2 * BIG, "the plan's order held {good} bytes");
        assert!(naive >= 40 * BIG, "the naive order held {naive} bytes");
        assert!(naive >= 10 * good, "{naive} vs {good}");
    }

    #[test]
    fn a_task_goes_where_its_big_input_is() {
        for (big_on, small_on) in [(0u32, 1u32), (1, 0)] {
            let mut out = Out::default();
            let (mut core, c) = core(CoreConfig::default(), 2, &mut out);
            // a (big), b (small) on chosen workers, then c = use(a, b).
            let pin = |w: u32| {
                Some(Box::new(crate::proto::TaskOpts {
                    workers: vec![format!("w{w}")],
                    ..Default::default()
                }))
            };
            let mut a = task(0, vec![lit()]);
            a.opts = pin(big_on);
            let mut b = task(0, vec![lit()]);
            b.opts = pin(small_on);
            let cc = task(1, vec![ArgSpec::Dep(0), ArgSpec::Dep(1)]);
            submit(&mut core, c, vec![a, b, cc], vec![2], &mut out);
            let sent = out.computes();
            assert_eq!(sent.len(), 2);
            for (w, gid, _) in sent {
                let n = if w == big_on { 500 << 20 } else { 4 << 10 };
                finished(&mut core, w, gid, n, &mut out);
            }
            let last = out.computes();
            assert_eq!(last.len(), 1);
            assert_eq!(last[0].0, big_on, "moving 500 MiB costs more than 4 KiB");
        }
    }
}
