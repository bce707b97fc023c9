//! `rask._rask`: the extension module behind the `rask` Python package
//! (`python/rask`), built with maturin (`python/pyproject.toml`).
//!
//! Python functions are Rask tasks: on threads they are called directly
//! (attached to the interpreter only for the call, [`gil`]); in worker
//! processes and on clusters they are called by importable name, and
//! values cross in a safe encoding, never pickle ([`wire`], [`call`]).
//!
//! Module map: [`value`] (what a task's result is), [`call`] (a call as a
//! task, here and in workers), [`delayed`] (`rask.delayed`), [`client`]
//! (`rask.Client`, `wait`, `as_completed`), [`future`] (`rask.Future`,
//! asyncio), [`cluster`] (`LocalCluster`, workers), [`errors`] (exceptions),
//! [`bench`] (the floor of P1).

mod array;
mod arrow_ffi;
mod bench;
mod call;
mod client;
mod cluster;
mod collection;
mod delayed;
mod errors;
mod frame;
mod frame_expr;
mod future;
mod gil;
mod ndarray;
mod value;
mod wire;

use pyo3::prelude::*;

/// Rust's allocations in the extension (task state, chunks, Arrow buffers,
/// NumPy results that Rask made) go to mimalloc, as in `rask-bench`: many
/// threads allocate and free concurrently, which glibc's allocator does
/// slowly. Python's own objects use Python's allocator; every block is
/// freed by the allocator that made it (buffers handed to NumPy and Arrow
/// are released through Rust).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Called by the package's `atexit` hook: no task attaches from now on,
/// and the calls running now are waited for.
#[pyfunction]
fn _shutting_down(py: Python<'_>) {
    gil::set_shutting_down(py);
}

/// The safe encoding of a value (for tests and tools).
#[pyfunction]
fn encode<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let mut out = Vec::new();
    wire::encode(obj, &mut out, "the value")?;
    Ok(pyo3::types::PyBytes::new(py, &out))
}

/// A value read back from its safe encoding.
#[pyfunction]
fn decode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    wire::decode(py, data)
}

#[pymodule]
fn _rask(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<delayed::PyDelayed>()?;
    m.add_class::<delayed::PyDelayedFunction>()?;
    m.add_class::<future::PyFuture>()?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<client::PyAsCompleted>()?;
    m.add_class::<cluster::PyLocalCluster>()?;
    m.add_class::<cluster::PyScheduler>()?;
    m.add_function(wrap_pyfunction!(client::wait, m)?)?;
    m.add_function(wrap_pyfunction!(delayed::value, m)?)?;
    m.add_function(wrap_pyfunction!(cluster::init, m)?)?;
    m.add_function(wrap_pyfunction!(cluster::run_worker, m)?)?;
    m.add_function(wrap_pyfunction!(bench::floor, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(_shutting_down, m)?)?;
    errors::register(m)?;
    m.add_submodule(&array::module(m.py())?)?;
    m.add_submodule(&frame::module(m.py())?)?;
    Ok(())
}
