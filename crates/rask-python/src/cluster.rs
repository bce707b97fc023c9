//! Clusters from Python: `rask.LocalCluster` (a scheduler in this process
//! and worker processes of this interpreter on loopback, with a fresh
//! secret) and `run_worker`, behind `python -m rask.worker ADDRESS`, which
//! joins a running scheduler.
//!
//! A worker is this interpreter running `rask._worker` (see
//! `rask/_worker.py`), which calls [`init`]: Rask's worker loop, with
//! Python functions called by importable name.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::client::worker_command;
use crate::errors::RaskError;

/// A scheduler and local worker processes; stopped by `close()` or when
/// the last client using it is closed.
#[pyclass(module = "rask", name = "LocalCluster", frozen, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct PyLocalCluster {
    inner: Arc<Mutex<Option<rask::LocalCluster>>>,
    workers: usize,
    addr: String,
}

impl PyLocalCluster {
    /// Starts a scheduler and `workers` processes with `threads` each.
    pub(crate) fn start(py: Python<'_>, workers: usize, threads: usize) -> PyResult<Self> {
        let cmd = worker_command(py)?;
        let c = py
            .detach(|| {
                rask::LocalCluster::start(rask::LocalOptions {
                    command: Some(cmd),
                    ..rask::LocalOptions::new(workers, threads.max(1), rask::Transport::Tcp)
                })
            })
            .map_err(|e| {
                RaskError::new_err(format!("rask: could not start a local cluster: {e}"))
            })?;
        let addr = c.addr().to_string();
        Ok(PyLocalCluster {
            inner: Arc::new(Mutex::new(Some(c))),
            workers,
            addr,
        })
    }

    pub(crate) fn n_workers(&self) -> usize {
        self.workers
    }

    pub(crate) fn address(&self) -> String {
        self.addr.clone()
    }

    /// A client of this cluster.
    pub(crate) fn connect(&self, py: Python<'_>) -> PyResult<rask::Client> {
        let wire = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(rask::LocalCluster::wire)
            .ok_or_else(|| RaskError::new_err("rask: the cluster is closed"))?;
        let addr = self.addr.clone();
        py.detach(|| rask::Client::connect_with(&addr, wire))
            .map_err(|e| RaskError::new_err(format!("rask: could not connect to the cluster: {e}")))
    }
}

#[pymethods]
impl PyLocalCluster {
    #[new]
    #[pyo3(signature = (n_workers = None, threads_per_worker = 1))]
    fn py_new(
        py: Python<'_>,
        n_workers: Option<usize>,
        threads_per_worker: usize,
    ) -> PyResult<Self> {
        let n = n_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Self::start(py, n, threads_per_worker)
    }

    /// The scheduler's address (`host:port`).
    #[getter]
    fn scheduler_address(&self) -> String {
        self.addr.clone()
    }

    /// Number of worker processes started.
    #[getter]
    #[pyo3(name = "n_workers")]
    fn py_n_workers(&self) -> usize {
        self.workers
    }

    /// Process ids of the live workers.
    fn worker_pids(&self) -> Vec<u32> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(rask::LocalCluster::pids)
            .unwrap_or_default()
    }

    /// Stops the workers and the scheduler.
    fn close(&self, py: Python<'_>) {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(|| drop(c));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!(
            "<rask.LocalCluster: {} workers at {}>",
            self.workers, self.addr
        )
    }
}

/// A scheduler in this process, for workers started elsewhere
/// (`python -m rask.worker ADDRESS`) and clients (`rask.Client(ADDRESS)`).
/// The secret comes from `RASK_SECRET` (never an argument); without one,
/// the scheduler makes one and writes it to a file only this user can read,
/// where workers and clients of this user on this machine find it.
#[pyclass(module = "rask", name = "Scheduler", frozen)]
pub(crate) struct PyScheduler {
    inner: Mutex<Option<rask::Scheduler>>,
    addr: String,
}

#[pymethods]
impl PyScheduler {
    #[new]
    #[pyo3(signature = (listen = "127.0.0.1:0"))]
    fn py_new(py: Python<'_>, listen: &str) -> PyResult<Self> {
        let listen = listen.trim_start_matches("tcp://");
        let addr = listen.parse().map_err(|e| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "rask: `{listen}` is not host:port ({e})"
            ))
        })?;
        let wire = rask::distributed::wire::WireConfig::try_from_env()
            .map_err(|e| RaskError::new_err(format!("rask: {e}")))?;
        let cfg = rask::SchedulerConfig {
            listen: addr,
            wire,
            ..rask::SchedulerConfig::default()
        };
        let s = py
            .detach(|| rask::Scheduler::start(cfg))
            .map_err(|e| RaskError::new_err(format!("rask: could not start a scheduler: {e}")))?;
        let addr = s.addr().to_string();
        Ok(PyScheduler {
            inner: Mutex::new(Some(s)),
            addr,
        })
    }

    /// Where it listens (`host:port`).
    #[getter]
    fn address(&self) -> String {
        self.addr.clone()
    }

    /// Stops it.
    fn close(&self, py: Python<'_>) {
        let s = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(|| drop(s));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!("<rask.Scheduler at {}>", self.addr)
    }
}

/// In a worker process (started by a process client or a local cluster):
/// serves tasks and never returns. Elsewhere returns at once.
#[pyfunction]
pub(crate) fn init(py: Python<'_>) {
    py.detach(rask::init);
}

/// Joins the scheduler at `address` as a worker and serves until it goes
/// away (`python -m rask.worker`). The secret comes from `RASK_SECRET`.
#[pyfunction]
#[pyo3(signature = (address, threads = None, name = None, memory_limit = 0))]
pub(crate) fn run_worker(
    py: Python<'_>,
    address: &str,
    threads: Option<usize>,
    name: Option<String>,
    memory_limit: u64,
) -> PyResult<()> {
    let mut opts = rask::WorkerOptions::new(address.trim_start_matches("tcp://"));
    if let Some(t) = threads {
        opts.threads = t.max(1);
    }
    opts.name = name;
    opts.memory = memory_limit;
    py.detach(|| rask::run_worker(opts))
        .map_err(|e| RaskError::new_err(format!("rask worker: {e}")))
}
