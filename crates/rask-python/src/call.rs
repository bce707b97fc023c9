//! A Python function call as a Rask task.
//!
//! A call is a [`CallSpec`]: the function ([`Func`]), the arguments as a
//! template ([`Slot`]: constants, and the places where dependencies' values
//! go, inside lists, tuples and dicts too) and the task's key. The task's
//! inputs are the spec itself (a constant node, so that a process executor
//! can send it) followed by the dependencies, in the order the template
//! numbers them.
//!
//! - In this process ([`PyCallBody`]): the spec's function object is
//!   called with the dependencies' objects, attached to the interpreter
//!   only for the call.
//! - In a worker process ([`PY_CALL`], registered as `rask_python::call`):
//!   the spec arrives encoded (the function by its importable name,
//!   `module:qualname`, constants in the safe encoding) and the worker
//!   imports the function (`rask._worker.resolve`) and calls it. No code
//!   crosses: a peer can only name functions the worker can import.
//!
//! A failure's message is the exception's last line, then
//! [`TRACEBACK_MARK`] and the formatted traceback. In this process the
//! exception object is also kept (the last [`KEPT_FAILURES`], by task key)
//! so that the error raised to the caller chains the original exception.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use rask::core::{Inputs, Key, Registered, Registration, Remote, TaskBody, TaskFailure, Value};
use smallvec::SmallVec;

use crate::gil;
use crate::value::{PyValue, CODEC};
use crate::wire::{self, Container, Reader, MAX_DEPTH};

/// Separates a failure's summary from its traceback in a task's message.
pub(crate) const TRACEBACK_MARK: &str = "\n\n[Python traceback]\n";
/// How many failed tasks' exception objects are kept for their callers.
const KEPT_FAILURES: usize = 64;
/// At most this many distinct function names are kept for keys; later
/// ones are shown as `task`.
const MAX_NAMES: usize = 10_000;

/// A function to call: a callable, or a target `"module:function"`.
pub(crate) struct Func {
    obj: Py<PyAny>,
    /// Whether `obj` is a target string.
    target: bool,
    /// The callable a target resolves to here (on first call).
    resolved: PyOnceLock<Py<PyAny>>,
    /// The importable name workers use (on first need).
    remote: PyOnceLock<Result<String, String>>,
    /// The name in the task keys (`inc`).
    pub(crate) name: &'static str,
}

impl Func {
    /// `obj` is a callable or a `"module:function"` string.
    pub(crate) fn new(obj: &Bound<'_, PyAny>) -> PyResult<Arc<Func>> {
        let py = obj.py();
        let target = obj.is_instance_of::<PyString>();
        let name = if target {
            let s: String = obj.extract()?;
            if !s.contains(':') {
                return Err(PyValueError::new_err(format!(
                    "rask: a function named by a string is `module:function`, not `{s}`"
                )));
            }
            intern_name(s.rsplit([':', '.']).next().unwrap_or("task"))
        } else {
            if !obj.is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "rask: {} is not callable",
                    obj.repr()?
                )));
            }
            match obj.getattr(intern!(py, "__name__")) {
                Ok(n) => intern_name(&n.extract::<String>().unwrap_or_default()),
                Err(_) => intern_name(&obj.get_type().name()?.to_string()),
            }
        };
        Ok(Arc::new(Func {
            obj: obj.clone().unbind(),
            target,
            resolved: PyOnceLock::new(),
            remote: PyOnceLock::new(),
            name,
        }))
    }

    /// The object this was made from.
    pub(crate) fn object<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.obj.bind(py)
    }

    /// The callable (a target is imported on first use).
    pub(crate) fn callable<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if !self.target {
            return Ok(self.obj.bind(py).clone());
        }
        self.resolved
            .get_or_try_init(py, || {
                py.import(intern!(py, "rask._worker"))?
                    .call_method1(intern!(py, "resolve"), (self.obj.bind(py),))
                    .map(Bound::unbind)
            })
            .map(|f| f.bind(py).clone())
    }

    /// The name a worker imports the function by.
    pub(crate) fn remote_name(&self, py: Python<'_>) -> Result<&str, String> {
        self.remote
            .get_or_init(py, || {
                if self.target {
                    return self.obj.extract::<String>(py).map_err(|e| e.to_string());
                }
                py.import(intern!(py, "rask._worker"))
                    .and_then(|m| m.call_method1(intern!(py, "name_of"), (self.obj.bind(py),)))
                    .and_then(|n| n.extract::<String>())
                    .map_err(|e| e.value(py).to_string())
            })
            .as_deref()
            .map_err(Clone::clone)
    }
}

/// A function name kept for the life of the process (keys hold `&'static str`).
pub(crate) fn intern_name(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut g = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let set = g.get_or_insert_with(HashSet::new);
    if let Some(n) = set.get(name) {
        return n;
    }
    if set.len() >= MAX_NAMES || name.is_empty() {
        return "task";
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// One argument of a call: a constant, or where a dependency's value goes.
pub(crate) enum Slot {
    Const(Py<PyAny>),
    Dep(u32),
    List(Box<[Slot]>),
    Tuple(Box<[Slot]>),
    Dict(Box<[(Py<PyAny>, Slot)]>),
}

/// Finds dependencies in arguments: `dep(obj)` numbers `obj` if it is one.
pub(crate) struct Scanner<'a, 'py> {
    pub(crate) dep: &'a mut dyn FnMut(&Bound<'py, PyAny>) -> PyResult<Option<u32>>,
}

impl<'py> Scanner<'_, 'py> {
    /// The template of `obj`: lists, tuples and dicts (exactly those types)
    /// are looked into; a container with no dependency inside stays one
    /// constant.
    pub(crate) fn slot(&mut self, obj: &Bound<'py, PyAny>) -> PyResult<Slot> {
        self.slot_at(obj, 0)
    }

    fn slot_at(&mut self, obj: &Bound<'py, PyAny>, depth: usize) -> PyResult<Slot> {
        if let Some(i) = (self.dep)(obj)? {
            return Ok(Slot::Dep(i));
        }
        let kind = if obj.is_exact_instance_of::<PyList>() {
            Container::List
        } else if obj.is_exact_instance_of::<PyTuple>() {
            Container::Tuple
        } else if obj.is_exact_instance_of::<PyDict>() {
            Container::Dict
        } else {
            return Ok(Slot::Const(obj.clone().unbind()));
        };
        if depth >= MAX_DEPTH {
            return Err(PyValueError::new_err(format!(
                "rask: arguments nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let slot = match kind {
            Container::Dict => {
                let d = obj.cast::<PyDict>()?;
                let mut items = Vec::with_capacity(d.len());
                for (k, v) in d.iter() {
                    items.push((k.unbind(), self.slot_at(&v, depth + 1)?));
                }
                if items.iter().all(|(_, s)| matches!(s, Slot::Const(_))) {
                    return Ok(Slot::Const(obj.clone().unbind()));
                }
                Slot::Dict(items.into())
            }
            _ => {
                let mut items = Vec::new();
                for item in obj.try_iter()? {
                    items.push(self.slot_at(&item?, depth + 1)?);
                }
                if items.iter().all(|s| matches!(s, Slot::Const(_))) {
                    return Ok(Slot::Const(obj.clone().unbind()));
                }
                if kind == Container::List {
                    Slot::List(items.into())
                } else {
                    Slot::Tuple(items.into())
                }
            }
        };
        Ok(slot)
    }
}

impl Slot {
    /// The argument, with dependency `i`'s value from `deps[i]`.
    pub(crate) fn build<'py>(
        &self,
        py: Python<'py>,
        deps: &[Bound<'py, PyAny>],
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Slot::Const(o) => o.bind(py).clone(),
            Slot::Dep(i) => deps
                .get(*i as usize)
                .cloned()
                .ok_or_else(|| PyValueError::new_err(format!("rask: no dependency {i}")))?,
            Slot::List(items) => {
                let v = items
                    .iter()
                    .map(|s| s.build(py, deps))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, v)?.into_any()
            }
            Slot::Tuple(items) => {
                let v = items
                    .iter()
                    .map(|s| s.build(py, deps))
                    .collect::<PyResult<Vec<_>>>()?;
                PyTuple::new(py, v)?.into_any()
            }
            Slot::Dict(items) => {
                let d = PyDict::new(py);
                for (k, s) in items.iter() {
                    d.set_item(k.bind(py), s.build(py, deps)?)?;
                }
                d.into_any()
            }
        })
    }

    fn encode(&self, py: Python<'_>, out: &mut Vec<u8>, path: &str) -> PyResult<()> {
        match self {
            Slot::Const(o) => wire::encode(o.bind(py), out, path),
            Slot::Dep(i) => {
                wire::put_dep(out, *i);
                Ok(())
            }
            Slot::List(items) | Slot::Tuple(items) => {
                let kind = if matches!(self, Slot::List(_)) {
                    Container::List
                } else {
                    Container::Tuple
                };
                wire::put_container(out, kind, items.len());
                for (i, s) in items.iter().enumerate() {
                    s.encode(py, out, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            Slot::Dict(items) => {
                wire::put_container(out, Container::Dict, items.len());
                for (k, s) in items.iter() {
                    wire::encode(k.bind(py), out, &format!("{path} (a key)"))?;
                    s.encode(py, out, &format!("{path}[{}]", k.bind(py).repr()?))?;
                }
                Ok(())
            }
        }
    }
}

/// One call: function, argument templates, key.
pub(crate) struct CallSpec {
    pub(crate) func: Arc<Func>,
    pub(crate) args: Box<[Slot]>,
    pub(crate) kwargs: Box<[(Py<PyString>, Slot)]>,
    pub(crate) key: Key,
}

impl CallSpec {
    /// The call of `func` on `args` and `kwargs` under `key`; `dep` numbers
    /// the objects that are dependencies (see [`Scanner`]).
    pub(crate) fn scan<'py>(
        func: &Arc<Func>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
        key: Key,
        dep: &mut dyn FnMut(&Bound<'py, PyAny>) -> PyResult<Option<u32>>,
    ) -> PyResult<CallSpec> {
        let mut scan = Scanner { dep };
        let mut arg_slots = Vec::with_capacity(args.len());
        for a in args.iter() {
            arg_slots.push(scan.slot(&a)?);
        }
        let mut kw_slots = Vec::new();
        if let Some(kw) = kwargs {
            for (k, v) in kw.iter() {
                kw_slots.push((k.cast_into::<PyString>()?.unbind(), scan.slot(&v)?));
            }
        }
        Ok(CallSpec {
            func: func.clone(),
            args: arg_slots.into(),
            kwargs: kw_slots.into(),
            key,
        })
    }

    /// Calls the function here with the dependencies' values; a Python
    /// exception becomes the task's failure (and is kept for the caller).
    pub(crate) fn call_here(
        &self,
        deps: &mut dyn Iterator<Item = PyValue>,
    ) -> Result<PyValue, TaskFailure> {
        gil::attach(|py| {
            let r = self.call_attached(py, deps);
            r.map_err(|e| failure(py, &e, Some(&self.key)))
        })
        .unwrap_or_else(|| Err(TaskFailure::msg(gil::SHUTTING_DOWN_MESSAGE)))
    }

    fn call_attached(
        &self,
        py: Python<'_>,
        deps: &mut dyn Iterator<Item = PyValue>,
    ) -> PyResult<PyValue> {
        let mut objs: SmallVec<[Bound<'_, PyAny>; 4]> = SmallVec::new();
        for d in deps {
            objs.push(d.to_object(py)?);
        }
        let f = self.func.callable(py)?;
        let args = PyTuple::new(
            py,
            self.args
                .iter()
                .map(|s| s.build(py, &objs))
                .collect::<PyResult<SmallVec<[_; 4]>>>()?,
        )?;
        let out = if self.kwargs.is_empty() {
            f.call1(args)?
        } else {
            let kw = PyDict::new(py);
            for (k, s) in self.kwargs.iter() {
                kw.set_item(k.bind(py), s.build(py, &objs)?)?;
            }
            f.call(args, Some(&kw))?
        };
        Ok(PyValue::obj(out.unbind()))
    }

    /// The spec as a worker reads it: name, args tuple, kwargs dict.
    pub(crate) fn encode(&self, py: Python<'_>, out: &mut Vec<u8>) -> Result<(), String> {
        let name = self.func.remote_name(py)?;
        let r = (|| -> PyResult<()> {
            wire::put_str(out, name);
            wire::put_container(out, Container::Tuple, self.args.len());
            for (i, s) in self.args.iter().enumerate() {
                s.encode(py, out, &format!("argument {i} of {name}"))?;
            }
            wire::put_container(out, Container::Dict, self.kwargs.len());
            for (k, s) in self.kwargs.iter() {
                let k = k.bind(py);
                wire::encode(k.as_any(), out, "a keyword")?;
                s.encode(py, out, &format!("argument `{k}` of {name}"))?;
            }
            Ok(())
        })();
        r.map_err(|e| e.value(py).to_string())
    }
}

/// A task that calls Python; see the module docs.
pub(crate) struct PyCallBody {
    pub(crate) spec: Arc<CallSpec>,
}

impl TaskBody for PyCallBody {
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        // Input 0 is the spec (the same as `self.spec`), for workers.
        let _spec: PyValue = inputs.take()?;
        let mut deps: SmallVec<[PyValue; 4]> = SmallVec::new();
        while inputs.remaining() > 0 {
            deps.push(inputs.take()?);
        }
        let v = self.spec.call_here(&mut deps.into_iter())?;
        Ok(Arc::new(v))
    }

    fn remote(&self) -> Option<Remote> {
        Some(Remote::Call(&PY_CALL))
    }
}

/// The registered function that runs Python calls in worker processes.
pub(crate) static PY_CALL: Registered = Registered {
    name: "rask_python::call",
    call: worker_call,
    args: &[],
    output: &CODEC,
    call_async: None,
};

rask::core::inventory::submit! { Registration(&PY_CALL) }

/// In a worker: `args[0]` is an encoded spec, the rest its dependencies.
fn worker_call(args: &[&[u8]]) -> Result<Value, TaskFailure> {
    let (spec, deps) = args
        .split_first()
        .ok_or_else(|| TaskFailure::msg("a Python call came without its description"))?;
    gil::attach(|py| {
        remote_call(py, spec, deps)
            .map(|o| Arc::new(PyValue::obj(o)) as Value)
            .map_err(|e| failure(py, &e, None))
    })
    .unwrap_or_else(|| Err(TaskFailure::msg(gil::SHUTTING_DOWN_MESSAGE)))
}

fn remote_call(py: Python<'_>, spec: &[u8], deps: &[&[u8]]) -> PyResult<Py<PyAny>> {
    let mut r = Reader::new(spec);
    let mut none = |i: u32| -> PyResult<Bound<'_, PyAny>> {
        Err(PyValueError::new_err(format!(
            "rask: a function name refers to dependency {i}"
        )))
    };
    let name: String = r.value(py, &mut none)?.extract()?;
    let f = resolve(py, &name)?;
    let mut decoded: Vec<Option<Bound<'_, PyAny>>> = vec![None; deps.len()];
    let mut dep = |i: u32| -> PyResult<Bound<'_, PyAny>> {
        let i = i as usize;
        let bytes = deps.get(i).ok_or_else(|| {
            PyValueError::new_err(format!("rask: dependency {i} of {} is missing", deps.len()))
        })?;
        if let Some(o) = &decoded[i] {
            return Ok(o.clone());
        }
        let o = wire::decode(py, bytes)?;
        decoded[i] = Some(o.clone());
        Ok(o)
    };
    let args = r.value(py, &mut dep)?.cast_into::<PyTuple>()?;
    let kwargs = r.value(py, &mut dep)?.cast_into::<PyDict>()?;
    r.finish()?;
    let out = if kwargs.is_empty() {
        f.call1(args)?
    } else {
        f.call(args, Some(&kwargs))?
    };
    Ok(out.unbind())
}

/// The function a worker runs under `name` (imported once).
fn resolve<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static FUNCS: Mutex<Option<HashMap<String, Py<PyAny>>>> = Mutex::new(None);
    if let Some(f) = FUNCS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(name))
    {
        return Ok(f.bind(py).clone());
    }
    // Imported without the lock held: importing runs Python code, which
    // may let another thread in.
    let f = py
        .import(intern!(py, "rask._worker"))?
        .call_method1(intern!(py, "resolve"), (name,))?;
    FUNCS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(name.to_owned(), f.clone().unbind());
    Ok(f)
}

/// A Python exception as a task failure: its last line, the mark, the
/// traceback. With a `key`, the exception is also kept for the caller.
pub(crate) fn failure(py: Python<'_>, e: &PyErr, key: Option<&Key>) -> TaskFailure {
    let text = format_exception(py, e).unwrap_or_else(|_| (e.to_string(), String::new()));
    if let Some(k) = key {
        keep_failure(k, e.clone_ref(py));
    }
    if text.1.is_empty() {
        TaskFailure::Error(text.0)
    } else {
        TaskFailure::Error(format!("{}{TRACEBACK_MARK}{}", text.0, text.1))
    }
}

/// `(last line, whole traceback)` of an exception.
fn format_exception(py: Python<'_>, e: &PyErr) -> PyResult<(String, String)> {
    let tb = py.import(intern!(py, "traceback"))?;
    let value = e.value(py);
    let only: Vec<String> = tb
        .call_method1(
            intern!(py, "format_exception_only"),
            (value.get_type(), value),
        )?
        .extract()?;
    let summary = only.concat().trim_end().to_owned();
    let all: Vec<String> = tb
        .call_method1(
            intern!(py, "format_exception"),
            (value.get_type(), value, e.traceback(py)),
        )?
        .extract()?;
    Ok((summary, all.concat().trim_end().to_owned()))
}

type Kept = VecDeque<(Key, PyErr)>;

fn kept() -> &'static Mutex<Kept> {
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(VecDeque::new()))
}

fn keep_failure(key: &Key, e: PyErr) {
    let mut g = kept().lock().unwrap_or_else(|p| p.into_inner());
    g.retain(|(k, _)| k != key);
    if g.len() >= KEPT_FAILURES {
        g.pop_front();
    }
    g.push_back((key.clone(), e));
}

/// The exception that task `key` raised in this process, if still kept.
pub(crate) fn kept_failure(py: Python<'_>, key: &Key) -> Option<PyErr> {
    let g = kept().lock().unwrap_or_else(|p| p.into_inner());
    g.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, e)| e.clone_ref(py))
}

/// Builds the spec node and the task: the call of `func` on `args` and
/// `kwargs`, whose dependencies are `deps` (numbered as the templates do).
pub(crate) fn call_task(
    spec: Arc<CallSpec>,
    deps: Vec<rask::Delayed<PyValue>>,
) -> rask::Delayed<PyValue> {
    let key = spec.key.clone();
    let lit = rask::core::literal(PyValue::Spec(spec.clone()), &CODEC);
    let nodes = std::iter::once(lit.node().clone()).chain(deps.iter().map(|d| d.node().clone()));
    rask::Delayed::from_body(key, nodes, PyCallBody { spec })
}
