//! `rask.Delayed` and `rask.DelayedFunction`: lazy Python calls.
//!
//! `rask.delayed(f)(*args, **kwargs)` makes a [`PyDelayed`]: a node of a
//! Rask graph (built at once, in Rust, see [`crate::call`]) whose
//! dependencies are the `Delayed` objects found among the arguments,
//! inside lists, tuples and dicts too. Nothing runs until `compute`.
//! Operators, indexing, attribute access and calls on a `Delayed` make
//! more tasks (calls of the `operator` module's functions, which worker
//! processes can import too), as Dask's `Delayed` does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyAttributeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use rask::core::Key;

use crate::call::{call_task, intern_name, CallSpec, Func, Scanner, Slot};
use crate::future::PyFuture;
use crate::value::{PyValue, CODEC};

/// A lazy value: a task and what it depends on.
#[pyclass(module = "rask", name = "Delayed", frozen, weakref)]
pub(crate) struct PyDelayed {
    pub(crate) inner: rask::Delayed<PyValue>,
}

/// A function whose calls are lazy (`rask.delayed(f)`).
#[pyclass(module = "rask", name = "DelayedFunction", frozen)]
pub(crate) struct PyDelayedFunction {
    pub(crate) func: Arc<Func>,
    /// The key name of its calls, if not the function's name.
    prefix: Option<&'static str>,
    /// Calls return this many `Delayed`s (the items of the result).
    nout: Option<usize>,
}

/// A task key from what a user passed: a string, or `(name, index)`.
pub(crate) fn user_key(k: &Bound<'_, PyAny>) -> PyResult<Key> {
    if let Ok(s) = k.extract::<String>() {
        return Ok(Key::new(s));
    }
    if let Ok((name, index)) = k.extract::<(String, u64)>() {
        return Ok(Key::indexed(name, index));
    }
    Err(PyTypeError::new_err(format!(
        "rask: a key is a string or a (name, index) tuple, not {}",
        k.repr()?
    )))
}

/// Builds the task calling `func` on `args`/`kwargs`: `Delayed` objects
/// (and, in-process, futures) among them become dependencies.
pub(crate) fn build_call(
    func: &Arc<Func>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    key: Key,
) -> PyResult<rask::Delayed<PyValue>> {
    let mut deps: Vec<rask::Delayed<PyValue>> = Vec::new();
    let mut dep = |o: &Bound<'_, PyAny>| -> PyResult<Option<u32>> {
        let d = if let Ok(d) = o.cast::<PyDelayed>() {
            d.get().inner.clone()
        } else if let Ok(f) = o.cast::<PyFuture>() {
            f.get().inner.as_anonymous_delayed()
        } else if let Some(d) = crate::collection::as_delayed(o)? {
            d
        } else {
            return Ok(None);
        };
        deps.push(d);
        Ok(Some(deps.len() as u32 - 1))
    };
    let spec = CallSpec::scan(func, args, kwargs, key, &mut dep)?;
    Ok(call_task(Arc::new(spec), deps))
}

/// A `Delayed` for any object: itself if it is one, else a constant (or a
/// task rebuilding a list, tuple or dict that holds `Delayed`s).
pub(crate) fn to_delayed(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
) -> PyResult<rask::Delayed<PyValue>> {
    if let Ok(d) = obj.cast::<PyDelayed>() {
        return Ok(d.get().inner.clone());
    }
    let mut found = false;
    let mut probe = |o: &Bound<'_, PyAny>| -> PyResult<Option<u32>> {
        let is = o.cast::<PyDelayed>().is_ok()
            || o.cast::<PyFuture>().is_ok()
            || o.cast::<crate::array::RArray>().is_ok()
            || o.cast::<crate::frame::PyFrame>().is_ok();
        found |= is;
        Ok(is.then_some(0))
    };
    let slot = Scanner { dep: &mut probe }.slot(obj)?;
    if !found {
        let Slot::Const(o) = slot else {
            return Err(PyValueError::new_err(
                "rask: internal error: a constant with a dependency",
            ));
        };
        return Ok(rask::core::literal(PyValue::obj(o), &CODEC));
    }
    let identity = helper(py, "identity")?;
    build_call(
        &identity,
        &PyTuple::new(py, [obj])?,
        None,
        Key::anonymous(intern_name("collect")),
    )
}

/// A function of `rask._tasks` or `operator` as a [`Func`] (made once).
fn cached(py: Python<'_>, module: &'static str, name: &'static str) -> PyResult<Arc<Func>> {
    type Funcs = HashMap<(&'static str, &'static str), Arc<Func>>;
    static FUNCS: OnceLock<Mutex<Funcs>> = OnceLock::new();
    let map = FUNCS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(f) = map
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(module, name))
    {
        return Ok(f.clone());
    }
    let f = Func::new(&py.import(module)?.getattr(name)?)?;
    map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((module, name), f.clone());
    Ok(f)
}

fn helper(py: Python<'_>, name: &'static str) -> PyResult<Arc<Func>> {
    cached(py, "rask._tasks", name)
}

impl PyDelayed {
    fn op<'py>(
        slf: &Bound<'py, Self>,
        name: &'static str,
        rest: &[Bound<'py, PyAny>],
        reflected: bool,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        let py = slf.py();
        let f = cached(py, "operator", name)?;
        let mut items: Vec<Bound<'py, PyAny>> = vec![slf.clone().into_any()];
        items.extend(rest.iter().cloned());
        if reflected {
            items.reverse();
        }
        let d = build_call(&f, &PyTuple::new(py, items)?, None, Key::anonymous(f.name))?;
        Bound::new(py, PyDelayed { inner: d })
    }
}

#[pymethods]
impl PyDelayed {
    /// The task's key.
    #[getter]
    fn key(&self) -> String {
        self.inner.key().to_string()
    }

    fn __repr__(&self) -> String {
        format!("Delayed('{}')", self.inner.key())
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.inner.key().hash(&mut h);
        h.finish()
    }

    fn __richcmp__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
        op: CompareOp,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        let name = match op {
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
        };
        Self::op(slf, name, &[other], false)
    }

    fn __add__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "add", &[other], false)
    }

    fn __radd__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "add", &[other], true)
    }

    fn __sub__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "sub", &[other], false)
    }

    fn __rsub__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "sub", &[other], true)
    }

    fn __mul__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "mul", &[other], false)
    }

    fn __rmul__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "mul", &[other], true)
    }

    fn __truediv__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "truediv", &[other], false)
    }

    fn __rtruediv__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "truediv", &[other], true)
    }

    fn __floordiv__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "floordiv", &[other], false)
    }

    fn __rfloordiv__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "floordiv", &[other], true)
    }

    fn __mod__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "mod", &[other], false)
    }

    fn __rmod__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "mod", &[other], true)
    }

    fn __matmul__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "matmul", &[other], false)
    }

    fn __rmatmul__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "matmul", &[other], true)
    }

    fn __and__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "and_", &[other], false)
    }

    fn __rand__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "and_", &[other], true)
    }

    fn __or__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "or_", &[other], false)
    }

    fn __ror__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "or_", &[other], true)
    }

    fn __xor__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "xor", &[other], false)
    }

    fn __rxor__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "xor", &[other], true)
    }

    fn __lshift__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "lshift", &[other], false)
    }

    fn __rlshift__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "lshift", &[other], true)
    }

    fn __rshift__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "rshift", &[other], false)
    }

    fn __rrshift__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "rshift", &[other], true)
    }

    fn __pow__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
        _modulo: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "pow", &[other], false)
    }

    fn __rpow__<'py>(
        slf: &Bound<'py, Self>,
        other: Bound<'py, PyAny>,
        _modulo: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "pow", &[other], true)
    }

    fn __neg__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "neg", &[], false)
    }

    fn __pos__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "pos", &[], false)
    }

    fn __abs__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "abs", &[], false)
    }

    fn __invert__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "invert", &[], false)
    }

    fn __getitem__<'py>(
        slf: &Bound<'py, Self>,
        index: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        Self::op(slf, "getitem", &[index], false)
    }

    /// `d.attr` is a task reading the attribute of the computed value.
    fn __getattr__<'py>(
        slf: &Bound<'py, Self>,
        name: Bound<'py, PyString>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        let py = slf.py();
        if name.to_cow()?.starts_with('_') {
            return Err(PyAttributeError::new_err(name.unbind()));
        }
        let f = helper(py, "getattr")?;
        let args = PyTuple::new(py, [slf.clone().into_any(), name.into_any()])?;
        let d = build_call(&f, &args, None, Key::anonymous(intern_name("getattr")))?;
        Bound::new(py, PyDelayed { inner: d })
    }

    /// `d(*args)` is a task calling the computed value.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyDelayed>> {
        let py = slf.py();
        let f = helper(py, "call")?;
        let mut items: Vec<Bound<'py, PyAny>> = vec![slf.clone().into_any()];
        items.extend(args.iter());
        let d = build_call(
            &f,
            &PyTuple::new(py, items)?,
            kwargs,
            Key::anonymous(intern_name("call")),
        )?;
        Bound::new(py, PyDelayed { inner: d })
    }

    fn __bool__(&self) -> PyResult<bool> {
        Err(PyTypeError::new_err(
            "rask: the truth of a Delayed is not known until it is computed",
        ))
    }

    fn __iter__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "rask: a Delayed of unknown length is not iterable (use nout= in rask.delayed)",
        ))
    }

    /// Computes the value (`rask.compute(self, **kwargs)[0]`).
    #[pyo3(signature = (**kwargs))]
    fn compute<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let out = py
            .import(intern!(py, "rask"))?
            .getattr(intern!(py, "compute"))?
            .call((slf,), kwargs)?;
        out.get_item(0)
    }
}

#[pymethods]
impl PyDelayedFunction {
    /// `rask.delayed(f, name=None, nout=None)`; `f` a callable.
    #[new]
    #[pyo3(signature = (func, name = None, nout = None))]
    fn py_new(func: &Bound<'_, PyAny>, name: Option<&str>, nout: Option<usize>) -> PyResult<Self> {
        Ok(PyDelayedFunction {
            func: Func::new(func)?,
            prefix: name.map(intern_name),
            nout,
        })
    }

    /// A lazy call; `dask_key_name=` chooses the task's key.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut key = None;
        let kwargs = match kwargs {
            Some(kw) if !kw.is_empty() => {
                let kw = kw.copy()?;
                if let Some(k) = kw.get_item(intern!(py, "dask_key_name"))? {
                    kw.del_item(intern!(py, "dask_key_name"))?;
                    key = Some(user_key(&k)?);
                }
                Some(kw)
            }
            _ => None,
        };
        let key = key.unwrap_or_else(|| Key::anonymous(self.prefix.unwrap_or(self.func.name)));
        let d = build_call(
            &self.func,
            args,
            kwargs.as_ref().filter(|k| !k.is_empty()),
            key,
        )?;
        let d = Bound::new(py, PyDelayed { inner: d })?;
        match self.nout {
            None => Ok(d.into_any()),
            Some(n) => {
                let items = (0..n)
                    .map(|i| {
                        PyDelayed::op(&d, "getitem", &[i.into_pyobject(py)?.into_any()], false)
                    })
                    .collect::<PyResult<Vec<_>>>()?;
                Ok(PyTuple::new(py, items)?.into_any())
            }
        }
    }

    /// The function itself.
    #[getter]
    fn __wrapped__<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.func.object(py).clone()
    }

    #[getter]
    fn __name__(&self) -> &'static str {
        self.func.name
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("rask.delayed({})", self.func.object(py).repr()?))
    }
}

/// `rask.delayed(value)` for a value that is not callable: a constant, or
/// a task rebuilding a list, tuple or dict that holds `Delayed`s.
#[pyfunction]
pub(crate) fn value<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDelayed>> {
    let inner = to_delayed(py, obj)?;
    Bound::new(py, PyDelayed { inner })
}
