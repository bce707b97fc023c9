//! The floor of P1: W1's calls (`inc` on N leaves, then the pairwise tree
//! of `add`s) made straight from Rust, with no graph, no keys, no queue.
//!
//! Measured two ways on one Rust thread (as a pool worker would be):
//! attaching to the interpreter for each call, as a task does, and
//! attached once for all calls (the cost of the calls alone).

use std::time::Instant;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::gil;

type Call<'a> = dyn Fn(&Py<PyAny>, &[&Py<PyAny>]) -> PyResult<Py<PyAny>> + 'a;

/// W1's calls on `leaves` through `call`; the root's value.
fn tree(
    leaves: &[Py<PyAny>],
    inc: &Py<PyAny>,
    add: &Py<PyAny>,
    call: &Call<'_>,
) -> PyResult<Py<PyAny>> {
    let mut xs: Vec<Py<PyAny>> = leaves
        .iter()
        .map(|x| call(inc, &[x]))
        .collect::<PyResult<_>>()?;
    while xs.len() > 1 {
        let mut next = Vec::with_capacity(xs.len() / 2 + 1);
        let mut it = xs.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(call(add, &[&a, &b])?),
                None => next.push(a),
            }
        }
        xs = next;
    }
    xs.pop()
        .ok_or_else(|| PyValueError::new_err("n must be at least 1"))
}

fn call_in(py: Python<'_>, f: &Py<PyAny>, args: &[&Py<PyAny>]) -> PyResult<Py<PyAny>> {
    match args {
        [a] => f.call1(py, (a.clone_ref(py),)),
        [a, b] => f.call1(py, (a.clone_ref(py), b.clone_ref(py))),
        _ => Err(PyValueError::new_err("one or two arguments")),
    }
}

/// `{"per_call_attach_us": .., "attached_us": ..}`: microseconds per call
/// of W1's 2N-1 calls, attaching for each call, and attached throughout.
#[pyfunction]
pub(crate) fn floor<'py>(
    py: Python<'py>,
    inc: Py<PyAny>,
    add: Py<PyAny>,
    n: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let calls = (2 * n).saturating_sub(1).max(1) as f64;
    let expected = n * (n + 1) / 2;
    let check = |py: Python<'_>, r: &Py<PyAny>| -> PyResult<()> {
        let got: u64 = r.extract(py)?;
        if got != expected {
            return Err(PyValueError::new_err(format!("floor: wrong result {got}")));
        }
        Ok(())
    };
    let leaves: Vec<Py<PyAny>> = (0..n)
        .map(|i| {
            let Ok(o) = i.into_pyobject(py);
            o.into_any().unbind()
        })
        .collect();
    // Attaching per call, from a thread of Rask's own (this one detached).
    let shutting = || PyValueError::new_err(gil::SHUTTING_DOWN_MESSAGE);
    let (per_call, r) = py
        .detach(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    // Pin this thread's state first, as a pool worker's first task does.
                    let _ = gil::attach(|_| ());
                    let call = |f: &Py<PyAny>, args: &[&Py<PyAny>]| {
                        gil::attach(|py| call_in(py, f, args)).unwrap_or_else(|| Err(shutting()))
                    };
                    let t0 = Instant::now();
                    let r = tree(&leaves, &inc, &add, &call);
                    (t0.elapsed().as_secs_f64(), r)
                })
                .join()
            })
        })
        .map_err(|_| PyValueError::new_err("floor: the thread panicked"))?;
    check(py, &r?)?;
    let call = |f: &Py<PyAny>, args: &[&Py<PyAny>]| call_in(py, f, args);
    let t0 = Instant::now();
    let r = tree(&leaves, &inc, &add, &call)?;
    let attached = t0.elapsed().as_secs_f64();
    check(py, &r)?;
    let d = PyDict::new(py);
    d.set_item("per_call_attach_us", 1e6 * per_call / calls)?;
    d.set_item("attached_us", 1e6 * attached / calls)?;
    Ok(d)
}
