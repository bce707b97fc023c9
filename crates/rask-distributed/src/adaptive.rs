//! Adaptive deployments: a controller that adds and retires workers by
//! what the scheduler reports (Dask's `Adaptive`), for any deployment that
//! can start and retire workers ([`Scale`]: `LocalCluster`,
//! `SlurmCluster`).
//!
//! Every `interval` the controller reads the [`ClusterReport`], computes the
//! workers wanted for the deployment's worker size
//! ([`desired_workers`](crate::core::desired_workers), with the scheduler's
//! target duration), clamps that to `minimum..=maximum`, and compares it
//! with the workers the deployment has asked for (joined, starting, or
//! pending in a batch queue):
//! 1. more wanted: it asks for the difference at once;
//! 2. fewer wanted `wait_count` times in a row (a short lull does not shed
//!    workers that the next graph wants again): the deployment drops the
//!    difference, pending ones first, then idle ones, those holding the
//!    fewest bytes no other worker has first (retired: their values are
//!    copied, nothing is computed again);
//! 3. otherwise nothing.
//!
//! [`Controller::decide`] is the rule, a pure function of what it is shown;
//! [`Adaptive`] runs it on a thread until dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core::{desired_workers, ClusterReport};
use crate::Error;

/// Settings of adaptive scaling.
#[derive(Clone, Debug)]
pub struct AdaptOptions {
    /// Never fewer workers than this.
    pub minimum: usize,
    /// Never more workers than this.
    pub maximum: usize,
    /// How often the controller looks (default 1 s).
    pub interval: Duration,
    /// Looks in a row that must want fewer workers before any is dropped
    /// (default 3).
    pub wait_count: u32,
}

impl AdaptOptions {
    /// Between `minimum` and `maximum` workers, the other settings at their
    /// defaults.
    pub fn new(minimum: usize, maximum: usize) -> AdaptOptions {
        AdaptOptions {
            minimum,
            maximum: maximum.max(minimum),
            interval: Duration::from_secs(1),
            wait_count: 3,
        }
    }
}

/// A deployment that can start and retire workers.
pub trait Scale: Send + Sync + 'static {
    /// What the scheduler reports.
    fn report(&self) -> Result<ClusterReport, Error>;
    /// Workers asked for and not being dropped: joined, starting, pending.
    fn requested(&self) -> usize;
    /// Compute threads and memory limit (bytes, 0: none) of one worker.
    fn worker_size(&self) -> (u32, u64);
    /// Asks for `n` more workers.
    fn scale_up(&self, n: usize) -> Result<(), Error>;
    /// Drops `n` workers: pending ones first, then joined ones from
    /// `idle` (the best to retire first), retired gracefully.
    fn scale_down(&self, n: usize, idle: &[String]) -> Result<(), Error>;
}

/// Asks `deployment` for workers, or drops some, until `n` are asked for
/// (scaling by hand: busy workers are retired too, after the idle ones);
/// waits for retirements, not for new workers to join.
pub fn scale_to(deployment: &dyn Scale, n: usize) -> Result<(), Error> {
    let have = deployment.requested();
    if n > have {
        return deployment.scale_up(n - have);
    }
    if n == have {
        return Ok(());
    }
    let order = deployment.report()?.retire_order();
    deployment.scale_down(have - n, &order)
}

/// What the controller does after a look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing.
    Stay,
    /// Ask for this many more workers.
    Up(usize),
    /// Drop this many workers.
    Down(usize),
}

/// The rule of the module docs, with its memory of looks in a row.
#[derive(Clone, Debug)]
pub struct Controller {
    opts: AdaptOptions,
    low: u32,
}

impl Controller {
    /// A controller with `opts`.
    pub fn new(opts: AdaptOptions) -> Controller {
        Controller { opts, low: 0 }
    }

    /// The workers wanted, clamped, for workers of `size` (threads,
    /// memory).
    pub fn target(&self, report: &ClusterReport, size: (u32, u64)) -> usize {
        let load = report.load(Some(size.0), (size.1 > 0).then_some(size.1));
        let want = desired_workers(&load, Duration::from_millis(report.target_ms)) as usize;
        want.clamp(self.opts.minimum, self.opts.maximum)
    }

    /// One look: `requested` workers are asked for now.
    pub fn decide(
        &mut self,
        report: &ClusterReport,
        requested: usize,
        size: (u32, u64),
    ) -> Decision {
        let target = self.target(report, size);
        if target > requested {
            self.low = 0;
            return Decision::Up(target - requested);
        }
        if target < requested {
            self.low += 1;
            if self.low >= self.opts.wait_count.max(1) {
                self.low = 0;
                return Decision::Down(requested - target);
            }
            return Decision::Stay;
        }
        self.low = 0;
        Decision::Stay
    }
}

/// Adaptive scaling running on a thread of its own; stops when dropped.
#[derive(Debug)]
pub struct Adaptive {
    stop: Arc<AtomicBool>,
    last_error: Arc<Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Adaptive {
    /// Starts adapting `deployment` with `opts`.
    pub fn start(deployment: Arc<dyn Scale>, opts: AdaptOptions) -> std::io::Result<Adaptive> {
        let stop = Arc::new(AtomicBool::new(false));
        let last_error = Arc::new(Mutex::new(None));
        let (stop2, err2) = (stop.clone(), last_error.clone());
        let thread = std::thread::Builder::new()
            .name("rask-adaptive".into())
            .spawn(move || {
                let mut c = Controller::new(opts.clone());
                while !stop2.load(Ordering::SeqCst) {
                    if let Err(e) = look(&*deployment, &mut c) {
                        tracing::warn!(error = %e, "adaptive scaling");
                        *err2.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    }
                    // Sleep in small steps, so a drop is prompt.
                    let mut left = opts.interval;
                    while !left.is_zero() && !stop2.load(Ordering::SeqCst) {
                        let step = left.min(Duration::from_millis(50));
                        std::thread::sleep(step);
                        left -= step;
                    }
                }
            })?;
        Ok(Adaptive {
            stop,
            last_error,
            thread: Some(thread),
        })
    }

    /// The last error a look ran into, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn look(d: &dyn Scale, c: &mut Controller) -> Result<(), Error> {
    let report = d.report()?;
    match c.decide(&report, d.requested(), d.worker_size()) {
        Decision::Stay => Ok(()),
        Decision::Up(n) => {
            tracing::info!(more = n, "adaptive: asking for workers");
            d.scale_up(n)
        }
        Decision::Down(n) => {
            tracing::info!(fewer = n, "adaptive: dropping workers");
            d.scale_down(n, &report.retire_first)
        }
    }
}

impl Drop for Adaptive {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(runnable: u64, occupancy_s: f64) -> ClusterReport {
        ClusterReport {
            runnable,
            occupancy_us: (occupancy_s * 1e6) as u64,
            target_ms: 5000,
            ..ClusterReport::default()
        }
    }

    #[test]
    fn up_at_once_down_after_wait_count_looks_within_the_bounds() {
        let mut c = Controller::new(AdaptOptions::new(1, 4));
        // 60 s of work on 2-thread workers: 6 wanted, 4 at most.
        assert_eq!(c.decide(&report(100, 60.0), 1, (2, 0)), Decision::Up(3));
        assert_eq!(c.decide(&report(100, 60.0), 4, (2, 0)), Decision::Stay);
        // Idle: the minimum, after three looks in a row.
        assert_eq!(c.decide(&report(0, 0.0), 4, (2, 0)), Decision::Stay);
        assert_eq!(c.decide(&report(0, 0.0), 4, (2, 0)), Decision::Stay);
        assert_eq!(c.decide(&report(0, 0.0), 4, (2, 0)), Decision::Down(3));
        // A busy look in between starts the count again.
        assert_eq!(c.decide(&report(0, 0.0), 4, (2, 0)), Decision::Stay);
        assert_eq!(c.decide(&report(100, 60.0), 4, (2, 0)), Decision::Stay);
        assert_eq!(c.decide(&report(0, 0.0), 4, (2, 0)), Decision::Stay);
        // Never below the minimum.
        let mut z = Controller::new(AdaptOptions::new(2, 4));
        assert_eq!(z.decide(&report(0, 0.0), 0, (1, 0)), Decision::Up(2));
    }
}
