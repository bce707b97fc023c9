//! Seeing inside a client's runs: a [`Recorder`] attached at construction,
//! then the performance report, the trace and (feature `dashboard`) the
//! live dashboard, all read from it.
//!
//! ```no_run
//! use rask_client::Client;
//!
//! let client = Client::threads().with_recorder();
//! // ... compute ...
//! client.report("report.html")?;               // one self-contained HTML file
//! client.write_trace("trace.json")?;           // Chrome / Perfetto
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `dashboard` feature, `client.dashboard("127.0.0.1:8787")?`
//! serves a live web page over the same recording while the client runs
//! (behind a token: open the URL it gives, `dashboard.url()`).

use std::path::{Path, PathBuf};

use rask_core::Executor;
use rask_diagnostics::{PerformanceReport, Recorder, ReportError};

use crate::Client;

impl Client {
    /// The same client, recording its task stream, resource samples and
    /// graphs into a fresh [`Recorder`] with the default limits (a client
    /// that already records keeps its recorder).
    pub fn with_recorder(self) -> Self {
        if self.recorder().is_some() {
            return self;
        }
        self.with_subscriber(Recorder::new().subscriber())
    }

    /// The same client, recording into `recorder` (to choose its limits, or
    /// to share one recording between clients).
    pub fn with_recorder_of(self, recorder: &Recorder) -> Self {
        self.with_subscriber(recorder.subscriber())
    }

    /// The recorder attached with [`Client::with_recorder`], if any.
    pub fn recorder(&self) -> Option<Recorder> {
        self.events()?.find::<Recorder>().cloned()
    }

    /// Writes the performance report of everything recorded so far to
    /// `path`, one self-contained HTML file; returns the path.
    pub fn report(&self, path: impl AsRef<Path>) -> Result<PathBuf, ReportError> {
        self.recorder()
            .ok_or(ReportError::NoRecorder)?
            .write_report(path)
    }

    /// Dask's `performance_report` shape: a guard that writes the report
    /// to `path` when dropped (or at `finish()`).
    pub fn performance_report(
        &self,
        path: impl Into<PathBuf>,
    ) -> Result<PerformanceReport, ReportError> {
        Ok(PerformanceReport::new(
            self.recorder().ok_or(ReportError::NoRecorder)?,
            path,
        ))
    }

    /// Writes everything recorded so far as a Chrome / Perfetto trace.
    pub fn write_trace(&self, path: impl AsRef<Path>) -> Result<PathBuf, ReportError> {
        let rec = self.recorder().ok_or(ReportError::NoRecorder)?;
        let path = path.as_ref();
        rec.write_trace(path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(feature = "dashboard")]
impl Client {
    /// Serves the live dashboard of this client's recording at `addr`
    /// (`"127.0.0.1:8787"`; port 0 picks a free one) on a thread of its own,
    /// until the returned handle is dropped. The client must record
    /// ([`Client::with_recorder`]). It asks for a fresh random token:
    /// open [`Dashboard::url`](rask_dashboard::Dashboard::url), which
    /// carries it (`http://ADDR/?token=...`); scripts send
    /// `Authorization: Bearer` with [`Dashboard::token`](rask_dashboard::Dashboard::token).
    pub fn dashboard(
        &self,
        addr: impl std::net::ToSocketAddrs,
    ) -> Result<rask_dashboard::Dashboard, rask_dashboard::DashboardError> {
        let rec = self
            .recorder()
            .ok_or(rask_dashboard::DashboardError::NoRecorder)?;
        rask_dashboard::Dashboard::serve(std::sync::Arc::new(rec), addr)
    }
}
