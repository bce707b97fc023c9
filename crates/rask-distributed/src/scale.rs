//! Scaling a running cluster from one of its clients: what the scheduler
//! reports about its workers and the work in hand (the `rask:adapt`
//! variable, [`ClusterReport`]), and retiring workers by name without
//! losing their values (`core/retire.rs`).

use std::time::{Duration, Instant};

use crate::core::ClusterReport;
use crate::proto::FromClient;
use crate::{Connection, Error};

impl Connection {
    /// The scheduler's workers, work in hand and wanted workers.
    pub fn cluster_report(&self) -> Result<ClusterReport, Error> {
        self.get_var("rask:adapt")?.ok_or_else(|| {
            Error::Config("the scheduler does not report `rask:adapt` (an older version?)".into())
        })
    }

    /// Retires the workers named `names`, waiting until each has left
    /// (its values copied to other workers first, so nothing is computed
    /// again). Fails if the scheduler refuses one (the last worker that is
    /// not retiring) or one is still there after `timeout`; a name that is
    /// not connected counts as gone.
    pub fn retire_workers(&self, names: &[String], timeout: Duration) -> Result<(), Error> {
        if names.is_empty() {
            return Ok(());
        }
        self.send(FromClient::Retire {
            workers: names.to_vec(),
        })?;
        let t0 = Instant::now();
        loop {
            let r = self.cluster_report()?;
            let left: Vec<&crate::core::WorkerReport> = r
                .workers
                .iter()
                .filter(|w| names.contains(&w.name))
                .collect();
            if left.is_empty() {
                return Ok(());
            }
            if let Some(w) = left.iter().find(|w| !w.retiring) {
                return Err(Error::Scale(format!(
                    "worker `{}` was not retired: it is the last worker that is not retiring",
                    w.name
                )));
            }
            if t0.elapsed() > timeout {
                let names: Vec<&str> = left.iter().map(|w| w.name.as_str()).collect();
                return Err(Error::Scale(format!(
                    "workers {} still retiring after {timeout:?} (tasks running there, or values \
                     still being copied)",
                    names.join(", ")
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
