//! Scaling a local deployment: adding workers, retiring them gracefully
//! (their values copied to the others first: nothing is computed again),
//! and adaptive scaling ([`crate::adaptive`]).
//!
//! A retired worker's process ends by itself once the scheduler closes its
//! link; the nanny is told first, so it does not start it again.

use std::sync::atomic::Ordering;
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use super::{lock, Ask, LocalCluster, Watch};
use crate::adaptive::{AdaptOptions, Adaptive, Scale};
use crate::core::ClusterReport;
use crate::{Connection, Error};

/// How long a retirement may take before it is reported as failed.
const RETIRE_TIMEOUT: Duration = Duration::from_secs(120);

/// What scaling needs of a local deployment (shared with the adaptive
/// thread).
struct Scaler {
    asks: std_mpsc::Sender<Ask>,
    watch: Arc<Watch>,
    conn: Connection,
    threads: u32,
}

impl Scaler {
    fn ask(
        &self,
        make: impl FnOnce(std_mpsc::Sender<std::io::Result<()>>) -> Ask,
    ) -> Result<(), Error> {
        let (tx, rx) = std_mpsc::channel();
        let gone = || Error::Io(std::io::Error::other("the nanny is gone"));
        self.asks.send(make(tx)).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?.map_err(Error::Io)
    }

    fn retire(&self, names: &[String]) -> Result<(), Error> {
        self.ask(|tx| Ask::Retire(names.to_vec(), true, tx))?;
        let r = self.conn.retire_workers(names, RETIRE_TIMEOUT);
        if r.is_err() {
            // Those still there run on, and are restarted if they crash.
            let _ = self.ask(|tx| Ask::Retire(names.to_vec(), false, tx));
        }
        r
    }
}

impl Scale for Scaler {
    fn report(&self) -> Result<ClusterReport, Error> {
        self.conn.cluster_report()
    }
    fn requested(&self) -> usize {
        self.watch.active.load(Ordering::SeqCst)
    }
    fn worker_size(&self) -> (u32, u64) {
        (self.threads, 0)
    }
    fn scale_up(&self, n: usize) -> Result<(), Error> {
        for _ in 0..n {
            self.ask(|tx| Ask::Add(Vec::new(), tx))?;
        }
        Ok(())
    }
    fn scale_down(&self, n: usize, idle: &[String]) -> Result<(), Error> {
        let names: Vec<String> = idle.iter().take(n).cloned().collect();
        self.retire(&names)
    }
}

impl LocalCluster {
    fn scaler(&self) -> Result<Scaler, Error> {
        Ok(Scaler {
            asks: self.nanny.asks.clone(),
            watch: self.nanny.watch.clone(),
            conn: self.connect()?,
            threads: self.opts.threads as u32,
        })
    }

    /// What the scheduler reports: workers, work in hand, workers wanted.
    pub fn report(&self) -> Result<ClusterReport, Error> {
        self.connect()?.cluster_report()
    }

    /// Retires the workers named `names` (`local-N`) gracefully: they take
    /// no new task, finish what they run, hand the values only they hold to
    /// the other workers, then exit; waits until they have.
    pub fn retire(&self, names: &[String]) -> Result<(), Error> {
        self.scaler()?.retire(names)
    }

    /// Workers running and not being retired (as the nanny counts them).
    pub fn requested(&self) -> usize {
        self.nanny.watch.active.load(Ordering::SeqCst)
    }

    /// Adds or retires workers until `n` are running (retiring idle ones
    /// first, then those holding the fewest bytes only they hold); waits
    /// for retirements, not for new workers to join.
    pub fn scale(&self, n: usize) -> Result<(), Error> {
        crate::adaptive::scale_to(&self.scaler()?, n)
    }

    /// Adapts the number of workers to the work in hand, between
    /// `opts.minimum` and `opts.maximum` (see [`crate::adaptive`]), until
    /// [`LocalCluster::stop_adapting`] or the deployment is dropped.
    pub fn adapt(&self, opts: AdaptOptions) -> Result<(), Error> {
        let scaler: Arc<dyn Scale> = Arc::new(self.scaler()?);
        let a = Adaptive::start(scaler, opts)?;
        *lock(&self.adaptive) = Some(a);
        Ok(())
    }

    /// Stops adaptive scaling (the workers stay as they are).
    pub fn stop_adapting(&self) {
        lock(&self.adaptive).take();
    }
}
