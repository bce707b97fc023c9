//! Adaptive scaling: how many workers the work in hand wants, as Dask's
//! `Scheduler.adaptive_target`. The core only *reports*; a deployment
//! (`LocalCluster`, `SlurmCluster`, through `crate::adaptive`) clamps the
//! number to its `minimum..=maximum` and adds or retires workers.
//!
//! The rule ([`desired_workers`], a pure function of a [`Load`]):
//! 1. Work in hand is every task ready or processing, each costed at the
//!    observed duration of its function ([`Durations`]: a moving average
//!    without the placement estimate's prior, so the first observation
//!    counts whole; [`UNKNOWN_ADAPT_US`], half a second as in Dask, for a
//!    function never seen finishing).
//! 2. CPU: enough workers to get through it in `target_duration`
//!    (`CoreConfig`), counting each worker's threads; never more workers
//!    than could each get a task; at least one while any task is runnable.
//! 3. Memory: where workers declare a memory limit, enough of them to keep
//!    the values held under 60% of the limits.
//! 4. The larger of the two. Scaling down retires idle workers only,
//!    those holding the fewest bytes no other worker has first
//!    ([`ClusterReport::retire_first`]): retiring them copies less.
//!
//! Cost: [`Core::report`] scans the task table once (it runs when asked:
//! the `rask:adapt` variable, the metrics endpoint, a deployment's poll
//! once a second), never on the scheduling path.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ix::Ix;
use super::{Core, FuncIx, Slot, St};

/// Cost of a task whose function was never seen finishing (Dask's
/// `unknown-task-duration` default, 500 ms).
pub(super) const UNKNOWN_ADAPT_US: f64 = 500_000.0;

/// Observed durations per function: an exponential moving average
/// (weight 0.2 for the newest) divided by the weight it has gathered, so
/// that it starts from the first observation rather than from a prior.
#[derive(Debug, Default)]
pub(super) struct Durations {
    /// Per function: the average so far and its gathered weight.
    by_func: Vec<(f64, f64)>,
}

impl Durations {
    /// Microseconds of `func`, if it was ever seen finishing.
    fn of(&self, func: u32) -> Option<f64> {
        let &(avg, weight) = self.by_func.get(func as usize)?;
        (weight > 0.0).then(|| avg / weight)
    }
}

/// What the scaling rule reads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Load {
    /// Estimated microseconds of work in hand (rule 1).
    pub occupancy_us: f64,
    /// Tasks ready or processing.
    pub runnable: u64,
    /// Compute threads a worker has (a new one is assumed to be alike).
    pub threads_per_worker: u32,
    /// Bytes of values held on workers.
    pub held_bytes: u64,
    /// A worker's memory limit in bytes (0: none declared).
    pub memory_per_worker: u64,
}

/// How many workers `load` wants to finish in about `target` (the rules
/// of the module docs; not clamped to any minimum or maximum).
pub fn desired_workers(load: &Load, target: Duration) -> u32 {
    let tpw = f64::from(load.threads_per_worker.max(1));
    let target_us = (target.as_micros() as f64).max(1.0);
    let useful = (load.runnable as f64 / tpw).ceil();
    let mut cpu = (load.occupancy_us / (target_us * tpw)).ceil().min(useful);
    if load.runnable > 0 {
        cpu = cpu.max(1.0);
    }
    let memory = if load.memory_per_worker > 0 {
        (load.held_bytes as f64 / (0.6 * load.memory_per_worker as f64)).ceil()
    } else {
        0.0
    };
    cpu.max(memory).min(f64::from(u32::MAX)) as u32
}

/// One live worker as [`ClusterReport`] shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Its name.
    pub name: String,
    /// Compute threads.
    pub threads: u32,
    /// Tasks sent to it and not answered.
    pub in_flight: u32,
    /// Bytes of the values it holds.
    pub bytes: u64,
    /// Bytes of the values no other worker holds (what retiring it moves).
    pub only_here: u64,
    /// Its declared memory limit (0: none).
    pub memory_limit: u64,
    /// Being retired.
    pub retiring: bool,
}

/// The workers, the work in hand and what it wants (the `rask:adapt`
/// variable; the metrics endpoint renders it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    /// Live workers, in join order (retiring ones included).
    pub workers: Vec<WorkerReport>,
    /// Tasks waiting, ready, processing, in memory, erred, released.
    pub tasks: [u64; 6],
    /// Tasks ready or processing.
    pub runnable: u64,
    /// Estimated microseconds of work in hand.
    pub occupancy_us: u64,
    /// Bytes of values held on workers.
    pub held_bytes: u64,
    /// Workers wanted ([`desired_workers`] with the scheduler's target
    /// duration and its workers' mean threads).
    pub desired: u32,
    /// The scheduler's target duration, in milliseconds.
    pub target_ms: u64,
    /// Idle workers not retiring, the best to retire first.
    pub retire_first: Vec<String>,
}

impl ClusterReport {
    /// Every worker not retiring, in the order to retire them when
    /// scaling down by hand: idle ones first (as `retire_first`), then
    /// those holding the fewest bytes no other worker has.
    pub fn retire_order(&self) -> Vec<String> {
        let mut order = self.retire_first.clone();
        let mut busy: Vec<&WorkerReport> = self
            .workers
            .iter()
            .filter(|w| !w.retiring && !order.contains(&w.name))
            .collect();
        busy.sort_by_key(|w| (w.only_here, w.in_flight));
        order.extend(busy.into_iter().map(|w| w.name.clone()));
        order
    }

    /// Live workers not being retired.
    pub fn active(&self) -> usize {
        self.workers.iter().filter(|w| !w.retiring).count()
    }

    /// The load as [`desired_workers`] reads it, for workers of
    /// `threads_per_worker` threads and `memory_per_worker` bytes (a
    /// deployment knows what it starts; `None` takes the mean of the live
    /// workers).
    pub fn load(&self, threads_per_worker: Option<u32>, memory_per_worker: Option<u64>) -> Load {
        let live: Vec<&WorkerReport> = self.workers.iter().filter(|w| !w.retiring).collect();
        let mean = |f: &dyn Fn(&WorkerReport) -> u64| {
            if live.is_empty() {
                0
            } else {
                live.iter().map(|w| f(w)).sum::<u64>() / live.len() as u64
            }
        };
        Load {
            occupancy_us: self.occupancy_us as f64,
            runnable: self.runnable,
            threads_per_worker: threads_per_worker
                .unwrap_or_else(|| mean(&|w| u64::from(w.threads)).max(1) as u32),
            held_bytes: self.held_bytes,
            memory_per_worker: memory_per_worker.unwrap_or_else(|| mean(&|w| w.memory_limit)),
        }
    }
}

impl Core {
    /// The workers and the work in hand (see the module docs; one scan of
    /// the task table).
    pub fn report(&self) -> ClusterReport {
        let n = self.workers.len();
        let mut bytes = vec![0u64; n];
        let mut only = vec![0u64; n];
        let mut r = ClusterReport {
            target_ms: self.cfg.target_duration.as_millis() as u64,
            ..ClusterReport::default()
        };
        let mut occupancy = 0.0;
        for t in &self.tasks {
            let i = match t.state {
                St::Waiting => 0,
                St::Ready | St::Processing(_) => {
                    r.runnable += 1;
                    occupancy += self.adapt_cost(t.func);
                    if t.state == St::Ready {
                        1
                    } else {
                        2
                    }
                }
                St::Memory => {
                    if t.inline.is_none() {
                        r.held_bytes += t.nbytes;
                        for &h in &t.holders {
                            bytes[h.index()] += t.nbytes;
                        }
                        if let [h] = t.holders[..] {
                            only[h.index()] += t.nbytes;
                        }
                    }
                    3
                }
                St::Erred => 4,
                St::Released => 5,
                St::Free => continue,
            };
            r.tasks[i] += 1;
        }
        r.occupancy_us = occupancy as u64;
        for (i, w) in self.workers.iter().enumerate() {
            if !w.alive {
                continue;
            }
            r.workers.push(WorkerReport {
                name: w.info.name.clone(),
                threads: w.info.threads,
                in_flight: w.in_flight,
                bytes: bytes[i],
                only_here: only[i],
                memory_limit: w.info.memory,
                retiring: w.retiring,
            });
        }
        let mut idle: Vec<&WorkerReport> = r
            .workers
            .iter()
            .filter(|w| !w.retiring && w.in_flight == 0)
            .collect();
        idle.sort_by_key(|w| (w.only_here, w.bytes));
        r.retire_first = idle.into_iter().map(|w| w.name.clone()).collect();
        r.desired = desired_workers(&r.load(None, None), self.cfg.target_duration);
        r
    }

    /// What one task of function `func` is assumed to cost (rule 1).
    fn adapt_cost(&self, func: FuncIx) -> f64 {
        self.durations.of(func.0).unwrap_or(UNKNOWN_ADAPT_US)
    }

    /// Task `slot` ran for `micros` (its `Finished`).
    pub(super) fn observe(&mut self, slot: Slot, micros: u64) {
        let f = self.task(slot).func.index();
        let d = &mut self.durations.by_func;
        if d.len() <= f {
            d.resize(f + 1, (0.0, 0.0));
        }
        let (avg, weight) = &mut d[f];
        *avg = 0.8 * *avg + 0.2 * micros as f64;
        *weight = 0.8 * *weight + 0.2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(occupancy_s: f64, runnable: u64, threads: u32) -> Load {
        Load {
            occupancy_us: occupancy_s * 1e6,
            runnable,
            threads_per_worker: threads,
            held_bytes: 0,
            memory_per_worker: 0,
        }
    }

    #[test]
    fn the_rule_counts_work_threads_tasks_and_memory() {
        let five = Duration::from_secs(5);
        // 100 one-second tasks, 5 s target, 1 thread: 20 workers.
        assert_eq!(desired_workers(&load(100.0, 100, 1), five), 20);
        // Two threads each: half as many.
        assert_eq!(desired_workers(&load(100.0, 100, 2), five), 10);
        // Long tasks, few of them: no more workers than tasks.
        assert_eq!(desired_workers(&load(1000.0, 3, 1), five), 3);
        // A little work still wants one worker; none wants none.
        assert_eq!(desired_workers(&load(0.001, 1, 4), five), 1);
        assert_eq!(desired_workers(&load(0.0, 0, 4), five), 0);
        // 10 GB held, 4 GB limits: 60% of 4 GB each, 5 workers.
        let mem = Load {
            held_bytes: 10 << 30,
            memory_per_worker: 4 << 30,
            ..load(0.0, 0, 1)
        };
        assert_eq!(desired_workers(&mem, five), 5);
    }
}
