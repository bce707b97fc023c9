//! `rask.Client`: one handle over every executor, shaped like Dask's.
//!
//! | `Client(...)` | runs Python tasks |
//! |---|---|
//! | `executor="threads"` (default), `n_workers=` | on a work-stealing pool in this process |
//! | `executor="sync"` | one at a time on the calling thread (debugging) |
//! | `executor="processes"`, `n_workers=` | in worker processes (`python -m rask._worker`) |
//! | `executor="cluster"`, `n_workers=`, `threads_per_worker=` | on a local cluster (a scheduler here, workers over TCP) |
//! | `"host:port"` | on the cluster whose scheduler is there (secret from `RASK_SECRET`) |
//!
//! In this process a task calls the function object itself; in worker
//! processes and on clusters it calls the function by its importable name
//! (see [`crate::call`]) and arguments and results cross in the safe
//! encoding ([`crate::wire`]).
//!
//! Eager tasks (`submit`, `map`) are Rask compute tasks in this process;
//! on workers, each is an async task of the client that computes the call
//! once its argument futures are done. Every wait detaches from the
//! interpreter (see [`crate::future`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyTimeoutError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use rask::core::{Error, Key, TaskErrorKind, TaskFailure};
use rask::{LocalOptions, Transport, WaitFor, WorkerCommand};

use crate::call::{call_task, CallSpec, Func};
use crate::collection::{Batch, TableAs};
use crate::delayed::{to_delayed, user_key, PyDelayed};
use crate::errors::{IntoPy, RaskError};
use crate::frame::PyFrame;
use crate::future::{deadline, on_done, value_of, wait_until, PyFuture, SIGNAL_SLICE};
use crate::value::{PyValue, CODEC};

/// Where a client's tasks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Sync,
    Threads,
    Processes,
    Cluster,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sync => "sync",
            Kind::Threads => "threads",
            Kind::Processes => "processes",
            Kind::Cluster => "cluster",
        }
    }

    /// Whether tasks run in this process.
    pub(crate) fn in_process(self) -> bool {
        matches!(self, Kind::Sync | Kind::Threads)
    }
}

/// A client; see the module docs.
#[pyclass(module = "rask", name = "Client", subclass, frozen, weakref)]
pub(crate) struct PyClient {
    inner: Mutex<Option<rask::Client>>,
    kind: Kind,
    workers: usize,
    progress: bool,
    /// The local cluster this client started (stopped with it).
    cluster: Mutex<Option<crate::cluster::PyLocalCluster>>,
}

/// A task's failure message, for the eager-task APIs that take errors.
#[derive(Debug)]
struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

impl Failed {
    fn from_failure(f: TaskFailure) -> Self {
        Failed(f.to_string())
    }

    /// The root failure's own message (not wrapped in another task's).
    fn from_rask(e: Error) -> Self {
        match e {
            Error::Task(t) => {
                let root = t.root();
                match root.kind {
                    TaskErrorKind::Failed | TaskErrorKind::Panicked => Failed(root.message.clone()),
                    _ => Failed(root.to_string()),
                }
            }
            other => Failed(other.to_string()),
        }
    }
}

/// Per-task settings of `submit` and `map`.
struct Settings {
    retries: Option<u32>,
    priority: i32,
    timeout: Option<f64>,
}

impl Settings {
    /// Whether every setting is at its default (priority aside).
    fn is_plain(&self) -> bool {
        self.retries.is_none() && self.timeout.is_none()
    }

    fn apply<'c>(
        &self,
        mut s: rask::Submitter<'c>,
        key: Option<Key>,
    ) -> PyResult<rask::Submitter<'c>> {
        if let Some(k) = key {
            s = s.key(k);
        }
        if let Some(r) = self.retries {
            s = s.retries(r);
        }
        if self.priority != 0 {
            s = s.priority(self.priority);
        }
        if let Some(t) = self.timeout {
            if !(t.is_finite() && t > 0.0) {
                return Err(PyValueError::new_err(format!(
                    "rask: a task timeout is a number of seconds > 0, not {t}"
                )));
            }
            s = s.timeout(Duration::from_secs_f64(t));
        }
        Ok(s)
    }
}

/// How worker processes start: this interpreter, running `rask._worker`
/// with this process's `sys.path` (see `rask/_worker.py`).
pub(crate) fn worker_command(py: Python<'_>) -> PyResult<WorkerCommand> {
    let (program, args): (String, Vec<String>) = py
        .import(intern!(py, "rask._worker"))?
        .call_method0(intern!(py, "command"))?
        .extract()?;
    Ok(WorkerCommand {
        program: program.into(),
        args: args.into_iter().map(Into::into).collect(),
    })
}

impl PyClient {
    /// The Rask client, or an error once closed.
    pub(crate) fn client(&self) -> PyResult<rask::Client> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| RaskError::new_err("rask: the client is closed"))
    }

    /// The Rask client, with a progress bar if asked for (and not there).
    fn with_progress(&self, progress: bool) -> PyResult<rask::Client> {
        let c = self.client()?;
        Ok(if progress && !self.progress {
            c.with_progress()
        } else {
            c
        })
    }

    fn make_spec(
        &self,
        func: &Arc<Func>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
        key: Key,
    ) -> PyResult<(Arc<CallSpec>, Vec<rask::Future<PyValue>>)> {
        let mut deps: Vec<rask::Future<PyValue>> = Vec::new();
        let mut dep = |o: &Bound<'_, PyAny>| -> PyResult<Option<u32>> {
            if let Ok(f) = o.cast::<PyFuture>() {
                deps.push(f.get().inner.clone());
                return Ok(Some(deps.len() as u32 - 1));
            }
            if o.cast::<PyDelayed>().is_ok() {
                return Err(PyTypeError::new_err(
                    "rask: submit takes futures and values, not Delayed objects \
                     (start a graph with client.compute)",
                ));
            }
            Ok(None)
        };
        let spec = CallSpec::scan(func, args, kwargs, key, &mut dep)?;
        Ok((Arc::new(spec), deps))
    }

    /// Starts one call as an eager task.
    ///
    /// On workers, a call with no future among its arguments and no retry
    /// or timeout is a one-task graph, whose future's errors keep their
    /// kind (a worker's death stays `worker_died`); any other is an async
    /// task of the client that computes the call once its arguments are
    /// done (its errors are `failed`, with the cause's message).
    fn start(
        &self,
        client: &rask::Client,
        spec: Arc<CallSpec>,
        deps: Vec<rask::Future<PyValue>>,
        settings: &Settings,
        key: Option<Key>,
    ) -> PyResult<PyFuture> {
        let key = key.unwrap_or_else(|| spec.key.clone());
        if !self.kind.in_process() && deps.is_empty() && settings.is_plain() {
            let d = call_task(spec, Vec::new());
            return Ok(PyFuture::keyed(client.compute(d), key));
        }
        let sub = settings.apply(client.task(), Some(key))?;
        if self.kind.in_process() {
            return Ok(PyFuture::new(sub.try_submit(
                move |vals: Vec<PyValue>| {
                    spec.call_here(&mut vals.into_iter())
                        .map_err(Failed::from_failure)
                },
                (deps,),
            )));
        }
        Ok(PyFuture::new(sub.try_submit_async(
            move |vals: Vec<PyValue>| {
                let spec = spec.clone();
                async move {
                    let inputs = vals.into_iter().map(|v| rask::core::literal(v, &CODEC));
                    let d = call_task(spec, inputs.collect());
                    let client = rask::get_client().map_err(Failed::from_rask)?;
                    client.compute(d).await.map_err(Failed::from_rask)
                }
            },
            (deps,),
        )))
    }
}

/// Rask futures of the Python futures in `futures` (a future, or a list
/// or tuple of them); other items are `None`.
fn futures_of<'py>(futures: &Bound<'py, PyAny>) -> PyResult<(Vec<Bound<'py, PyAny>>, bool)> {
    if futures.cast::<PyFuture>().is_ok() {
        return Ok((vec![futures.clone()], true));
    }
    let items: Vec<Bound<'_, PyAny>> = futures.try_iter()?.collect::<PyResult<_>>()?;
    Ok((items, false))
}

/// Waits until all (or the first) of `futs` are done, or the deadline.
fn wait_for(
    py: Python<'_>,
    client: &rask::Client,
    futs: &[rask::Future<PyValue>],
    mode: WaitFor,
    timeout: Option<f64>,
) -> PyResult<bool> {
    if futs.is_empty() {
        return Ok(true);
    }
    let dl = deadline(timeout)?;
    wait_until(py, dl, |slice| {
        let r = client.wait(futs, mode, Some(slice))?;
        Ok(match mode {
            WaitFor::All => r.not_done.is_empty(),
            _ => !r.done.is_empty(),
        })
    })
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(signature = (address = None, *, executor = None, n_workers = None, threads_per_worker = 1, progress = false))]
    fn py_new(
        py: Python<'_>,
        address: Option<&Bound<'_, PyAny>>,
        executor: Option<&str>,
        n_workers: Option<usize>,
        threads_per_worker: usize,
        progress: bool,
    ) -> PyResult<Self> {
        let default_n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut cluster = None;
        let (client, kind, workers) = match (address, executor) {
            (Some(a), None) => {
                if let Ok(c) = a.cast::<crate::cluster::PyLocalCluster>() {
                    let c = c.get().clone();
                    let client = c.connect(py)?;
                    let n = c.n_workers();
                    cluster = Some(c);
                    (client, Kind::Cluster, n)
                } else {
                    let addr: String = a.extract()?;
                    let addr = addr.trim_start_matches("tcp://").to_owned();
                    let c = py.detach(|| rask::Client::connect(&addr)).map_err(|e| {
                        RaskError::new_err(format!("rask: could not connect to {addr}: {e}"))
                    })?;
                    (c, Kind::Cluster, 0)
                }
            }
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "rask: give an address or an executor, not both",
                ))
            }
            (None, None) | (None, Some("threads")) => {
                let n = n_workers.unwrap_or(default_n);
                let c = rask::Client::try_threads(n).map_err(|e| {
                    RaskError::new_err(format!("rask: could not start {n} threads: {e}"))
                })?;
                (c, Kind::Threads, n)
            }
            (None, Some("sync")) => (rask::Client::sync(), Kind::Sync, 1),
            (None, Some("processes")) => {
                let n = n_workers.unwrap_or(default_n);
                let opts = LocalOptions {
                    command: Some(worker_command(py)?),
                    ..LocalOptions::new(n, 1, Transport::Local)
                };
                let c = py
                    .detach(|| rask::Client::try_processes(opts))
                    .map_err(|e| {
                        RaskError::new_err(format!(
                            "rask: could not start {n} worker processes: {e}"
                        ))
                    })?;
                (c, Kind::Processes, n)
            }
            (None, Some("cluster")) => {
                let n = n_workers.unwrap_or(default_n);
                let c = crate::cluster::PyLocalCluster::start(py, n, threads_per_worker)?;
                let client = c.connect(py)?;
                cluster = Some(c);
                (client, Kind::Cluster, n)
            }
            (None, Some(other)) => {
                return Err(PyValueError::new_err(format!(
                    "rask: executor is sync, threads, processes or cluster, not `{other}`"
                )))
            }
        };
        let client = if progress {
            client.with_progress()
        } else {
            client
        };
        Ok(PyClient {
            inner: Mutex::new(Some(client)),
            kind,
            workers,
            progress,
            cluster: Mutex::new(cluster),
        })
    }

    /// `sync`, `threads`, `processes` or `cluster`.
    #[getter]
    fn executor(&self) -> &'static str {
        self.kind.name()
    }

    /// Threads or worker processes (0 when connected to a remote cluster).
    #[getter]
    fn n_workers(&self) -> usize {
        self.workers
    }

    /// The scheduler's address, for a local cluster.
    #[getter]
    fn address(&self) -> Option<String> {
        self.cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.address())
    }

    /// Computes `Delayed` objects, arrays and dataframes together and
    /// returns their values (a list, in order): arrays as NumPy arrays,
    /// dataframes as `tables` (`pandas`, `arrow` or `polars`).
    #[pyo3(signature = (objs, progress = false, tables = "pandas"))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        objs: Vec<Bound<'py, PyAny>>,
        progress: bool,
        tables: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let tables = TableAs::parse(tables)?;
        let mut batch = Batch::default();
        for o in &objs {
            batch.add(py, o)?;
        }
        let c = self.with_progress(progress)?;
        PyList::new(py, batch.run(py, &c, tables)?)
    }

    /// A dataframe's rows (`how="len"`), its partitions computed
    /// (`how="persist"`, a new dataframe), or its table (`arrow`, `pandas`,
    /// `polars`).
    #[pyo3(signature = (df, how, progress = false))]
    fn _frame<'py>(
        &self,
        py: Python<'py>,
        df: &Bound<'py, PyFrame>,
        how: &str,
        progress: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = self.with_progress(progress)?;
        let inner = df.get().inner.clone();
        match how {
            "len" => {
                let n = inner.len().map_err(crate::frame::err)?;
                let fut = py.detach(|| c.compute(n));
                if !fut.is_done() {
                    wait_until(py, None, |slice| fut.wait_timeout(slice))?;
                }
                Ok(fut.result().py_err(py)?.into_pyobject(py)?.into_any())
            }
            "persist" => {
                let r = py.detach(|| inner.persist(&c));
                let inner = r.map_err(|e| RaskError::new_err(format!("rask.dataframe: {e}")))?;
                Ok(Bound::new(py, PyFrame { inner })?.into_any())
            }
            other => {
                let mut batch = Batch::default();
                batch.add(py, df.as_any())?;
                let mut out = batch.run(py, &c, TableAs::parse(other)?)?;
                out.pop()
                    .ok_or_else(|| RaskError::new_err("rask: no table"))
            }
        }
    }

    /// Starts computing a `Delayed` (or a list of them) and returns a
    /// future (or a list of futures) at once.
    fn compute<'py>(
        &self,
        py: Python<'py>,
        objs: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client()?;
        let one = |o: &Bound<'py, PyAny>| -> PyResult<Bound<'py, PyAny>> {
            let d = to_delayed(py, o)?;
            let f = py.detach(|| c.compute(d));
            Ok(Bound::new(py, PyFuture::new(f))?.into_any())
        };
        if objs.is_instance_of::<PyList>() || objs.is_instance_of::<PyTuple>() {
            let fs = objs
                .try_iter()?
                .map(|o| one(&o?))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, fs)?.into_any())
        } else {
            one(objs)
        }
    }

    /// Runs `func(*args, **kwargs)` now; futures among the arguments are
    /// dependencies. `func` is a callable, or `"module:function"`.
    #[pyo3(signature = (func, *args, key = None, retries = None, priority = 0, timeout = None, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        func: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        key: Option<&Bound<'py, PyAny>>,
        retries: Option<u32>,
        priority: i32,
        timeout: Option<f64>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyFuture>> {
        let c = self.client()?;
        let f = Func::new(func)?;
        let key = key.map(user_key).transpose()?;
        let k = key.clone().unwrap_or_else(|| Key::anonymous(f.name));
        let (spec, deps) = self.make_spec(&f, args, kwargs, k)?;
        let settings = Settings {
            retries,
            priority,
            timeout,
        };
        let fut = self.start(&c, spec, deps, &settings, key)?;
        Bound::new(py, fut)
    }

    /// `func` on each item (of several iterables: zipped); a list of
    /// futures. `key` may be a list of keys, one per call.
    #[pyo3(signature = (func, *iterables, key = None, retries = None, priority = 0, timeout = None, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn map<'py>(
        &self,
        py: Python<'py>,
        func: &Bound<'py, PyAny>,
        iterables: &Bound<'py, PyTuple>,
        key: Option<&Bound<'py, PyAny>>,
        retries: Option<u32>,
        priority: i32,
        timeout: Option<f64>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyList>> {
        if iterables.is_empty() {
            return Err(PyTypeError::new_err(
                "rask: map needs at least one iterable",
            ));
        }
        let c = self.client()?;
        let f = Func::new(func)?;
        let builtins = py.import(intern!(py, "builtins"))?;
        let zipped = builtins.getattr(intern!(py, "zip"))?.call1(iterables)?;
        let mut keys = match key {
            Some(k) if !k.is_instance_of::<PyString>() && k.cast::<PyTuple>().is_err() => {
                Some(k.try_iter()?)
            }
            _ => None,
        };
        let settings = Settings {
            retries,
            priority,
            timeout,
        };
        let mut out = Vec::new();
        for (i, item) in zipped.try_iter()?.enumerate() {
            let item = item?.cast_into::<PyTuple>()?;
            let key = match &mut keys {
                Some(ks) => Some(user_key(&ks.next().ok_or_else(|| {
                    PyValueError::new_err("rask: fewer keys than items")
                })??)?),
                None => key
                    .map(|k| -> PyResult<Key> {
                        let name: String = k.extract()?;
                        Ok(Key::indexed(name, i as u64))
                    })
                    .transpose()?,
            };
            let k = key.clone().unwrap_or_else(|| Key::anonymous(f.name));
            let (spec, deps) = self.make_spec(&f, &item, kwargs, k)?;
            let fut = self.start(&c, spec, deps, &settings, key)?;
            out.push(Bound::new(py, fut)?);
        }
        PyList::new(py, out)
    }

    /// The values of futures (a future, or a list of futures and other
    /// values, which are returned as they are). `errors="skip"` leaves
    /// failed futures out instead of raising the first error.
    #[pyo3(signature = (futures, errors = "raise"))]
    fn gather<'py>(
        &self,
        py: Python<'py>,
        futures: &Bound<'py, PyAny>,
        errors: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let skip = match errors {
            "raise" => false,
            "skip" => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "rask: errors is `raise` or `skip`, not `{other}`"
                )))
            }
        };
        let c = self.client()?;
        let (items, single) = futures_of(futures)?;
        let futs: Vec<rask::Future<PyValue>> = items
            .iter()
            .filter_map(|i| i.cast::<PyFuture>().ok().map(|f| f.get().inner.clone()))
            .collect();
        wait_for(py, &c, &futs, WaitFor::All, None)?;
        let mut out = Vec::with_capacity(items.len());
        for i in &items {
            match i.cast::<PyFuture>() {
                Ok(f) => match value_of(py, &f.get().inner) {
                    Ok(v) => out.push(v),
                    Err(_) if skip => {}
                    Err(e) => return Err(e),
                },
                Err(_) => out.push(i.clone()),
            }
        }
        if single {
            return out
                .pop()
                .ok_or_else(|| RaskError::new_err("rask: the future failed"));
        }
        Ok(PyList::new(py, out)?.into_any())
    }

    /// Cancels futures and what depends on them; how many were cancelled.
    fn cancel(&self, futures: &Bound<'_, PyAny>) -> PyResult<usize> {
        let (items, _) = futures_of(futures)?;
        Ok(items
            .iter()
            .filter_map(|i| i.cast::<PyFuture>().ok())
            .filter(|f| f.get().inner.cancel())
            .count())
    }

    /// Fails unfinished futures, stops the workers; the client can no
    /// longer be used.
    fn close(&self, py: Python<'_>) {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        let cluster = self
            .cluster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        py.detach(|| {
            if let Some(c) = c {
                c.shutdown();
                drop(c);
            }
            drop(cluster);
        });
    }

    /// Same as `close`.
    fn shutdown(&self, py: Python<'_>) {
        self.close(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        let closed = self.inner.lock().map(|g| g.is_none()).unwrap_or(true);
        format!(
            "<rask.Client: {}, {} workers{}>",
            self.kind.name(),
            self.workers,
            if closed { ", closed" } else { "" }
        )
    }
}

/// `wait(futures, timeout, return_when)`: `(done, not_done)` as lists of
/// the futures given; `TimeoutError` if the timeout passes first.
#[pyfunction]
#[pyo3(signature = (futures, timeout = None, return_when = "ALL_COMPLETED"))]
pub(crate) fn wait<'py>(
    py: Python<'py>,
    futures: &Bound<'py, PyAny>,
    timeout: Option<f64>,
    return_when: &str,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
    let mode = match return_when {
        "ALL_COMPLETED" => WaitFor::All,
        "FIRST_COMPLETED" => WaitFor::FirstCompleted,
        other => {
            return Err(PyValueError::new_err(format!(
                "rask: return_when is ALL_COMPLETED or FIRST_COMPLETED, not `{other}`"
            )))
        }
    };
    let (items, _) = futures_of(futures)?;
    let futs: Vec<(Bound<'py, PyAny>, rask::Future<PyValue>)> = items
        .into_iter()
        .map(|i| {
            let f = i
                .cast::<PyFuture>()
                .map_err(|_| PyTypeError::new_err("rask: wait takes futures"))?
                .get()
                .inner
                .clone();
            Ok((i, f))
        })
        .collect::<PyResult<_>>()?;
    let only: Vec<rask::Future<PyValue>> = futs.iter().map(|(_, f)| f.clone()).collect();
    let dl = deadline(timeout)?;
    let finished = only.is_empty() || wait_until(py, dl, |slice| Ok(waited(&only, mode, slice)))?;
    if !finished {
        return Err(PyTimeoutError::new_err(format!(
            "rask: the futures were not done within {:.3} s",
            timeout.unwrap_or(0.0)
        )));
    }
    let done = PyList::empty(py);
    let not_done = PyList::empty(py);
    for (o, f) in &futs {
        if f.is_done() {
            done.append(o)?;
        } else {
            not_done.append(o)?;
        }
    }
    Ok((done, not_done))
}

/// Blocks up to `slice` for `futs` (all, or the first); whether done.
fn waited(futs: &[rask::Future<PyValue>], mode: WaitFor, slice: Duration) -> bool {
    let done = |f: &rask::Future<PyValue>| f.is_done();
    let ok = |fs: &[rask::Future<PyValue>]| match mode {
        WaitFor::All => fs.iter().all(done),
        _ => fs.iter().any(done),
    };
    if ok(futs) {
        return true;
    }
    match mode {
        WaitFor::All => {
            // Wait on the first unfinished one; the slice bounds the wait.
            if let Some(f) = futs.iter().find(|f| !f.is_done()) {
                let _ = f.wait_timeout(slice);
            }
        }
        _ => {
            let latch = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
            for f in futs {
                let l = latch.clone();
                on_done(f, move || {
                    *l.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
                    l.1.notify_all();
                });
            }
            let g = latch.0.lock().unwrap_or_else(|p| p.into_inner());
            let _ = latch.1.wait_timeout_while(g, slice, |d| !*d);
        }
    }
    ok(futs)
}

/// Futures in the order they complete (`rask.as_completed`).
#[pyclass(module = "rask", name = "as_completed")]
pub(crate) struct PyAsCompleted {
    queue: Arc<Queue>,
    with_results: bool,
}

#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: std::sync::Condvar,
}

#[derive(Default)]
struct QueueState {
    done: std::collections::VecDeque<Py<PyFuture>>,
    pending: usize,
}

impl PyAsCompleted {
    fn push(&self, f: Bound<'_, PyFuture>) {
        let q = self.queue.clone();
        q.state.lock().unwrap_or_else(|p| p.into_inner()).pending += 1;
        let inner = f.get().inner.clone();
        let obj = f.unbind();
        let q2 = q.clone();
        on_done(&inner, move || {
            let mut g = q2.state.lock().unwrap_or_else(|p| p.into_inner());
            g.pending -= 1;
            g.done.push_back(obj);
            q2.ready.notify_all();
        });
    }
}

#[pymethods]
impl PyAsCompleted {
    #[new]
    #[pyo3(signature = (futures = None, with_results = false))]
    fn py_new(futures: Option<&Bound<'_, PyAny>>, with_results: bool) -> PyResult<Self> {
        let me = PyAsCompleted {
            queue: Arc::new(Queue::default()),
            with_results,
        };
        if let Some(fs) = futures {
            for f in fs.try_iter()? {
                me.push(
                    f?.cast_into::<PyFuture>()
                        .map_err(|_| PyTypeError::new_err("rask: as_completed takes futures"))?,
                );
            }
        }
        Ok(me)
    }

    /// Adds a future to wait for.
    fn add(&self, future: Bound<'_, PyFuture>) {
        self.push(future);
    }

    /// Futures not yet returned.
    fn count(&self) -> usize {
        let g = self.queue.state.lock().unwrap_or_else(|p| p.into_inner());
        g.pending + g.done.len()
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        loop {
            let next = {
                let mut g = self.queue.state.lock().unwrap_or_else(|p| p.into_inner());
                match g.done.pop_front() {
                    Some(f) => Some(f),
                    None if g.pending == 0 => return Ok(None),
                    None => None,
                }
            };
            if let Some(f) = next {
                let f = f.into_bound(py);
                if !self.with_results {
                    return Ok(Some(f.into_any()));
                }
                let v = value_of(py, &f.get().inner)?;
                return Ok(Some(PyTuple::new(py, [f.into_any(), v])?.into_any()));
            }
            let q = self.queue.clone();
            py.detach(|| {
                let g = q.state.lock().unwrap_or_else(|p| p.into_inner());
                let _ = q
                    .ready
                    .wait_timeout_while(g, SIGNAL_SLICE, |s| s.done.is_empty() && s.pending > 0);
            });
            py.check_signals()?;
        }
    }
}
