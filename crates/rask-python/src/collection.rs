//! Computing several things at once: `Delayed` objects, arrays and
//! dataframes in one graph (`rask.compute(x, arr, df)`), so that what they
//! share runs once.
//!
//! A [`Batch`] sorts the objects into the three kinds of Rask outputs
//! (Python values, array chunks, dataframe partitions), computes them as
//! one plan on the client, and turns each result into what Python expects:
//! the value, a NumPy array (see [`crate::array`]), or a table (see
//! [`crate::frame`]). An array or dataframe passed as an argument of a
//! delayed call becomes a task that assembles it ([`as_delayed`]); that
//! task runs in this process only.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rask::array::Block;
use rask::core::{Inputs, Key, TaskBody, TaskFailure, Value};
use rask::dataframe::Partition;

use crate::array::RArray;
use crate::call::intern_name;
use crate::client::PyClient;
use crate::errors::IntoPy;
use crate::frame::{to_arrow, PyFrame};
use crate::future::wait_until;
use crate::gil;
use crate::value::PyValue;

/// How a computed dataframe is handed back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableAs {
    Arrow,
    Pandas,
    Polars,
}

impl TableAs {
    pub(crate) fn parse(s: &str) -> PyResult<TableAs> {
        Ok(match s {
            "arrow" | "pyarrow" => TableAs::Arrow,
            "pandas" => TableAs::Pandas,
            "polars" => TableAs::Polars,
            other => {
                return Err(PyValueError::new_err(format!(
                    "rask: a table comes back as arrow, pandas or polars, not {other}"
                )))
            }
        })
    }

    /// A record batch as a Python table of this kind.
    pub(crate) fn convert<'py>(self, py: Python<'py>, p: Partition) -> PyResult<Bound<'py, PyAny>> {
        let t = to_arrow(py, p.0)?;
        match self {
            TableAs::Arrow => Ok(t),
            TableAs::Pandas => t.call_method0(intern!(py, "to_pandas")),
            TableAs::Polars => py
                .import(intern!(py, "polars"))?
                .call_method1(intern!(py, "from_arrow"), (t,)),
        }
    }
}

/// What each object added was; results are taken in the order added.
enum Want {
    Value(usize),
    Array(Py<RArray>),
    Frame,
}

/// Objects to compute together; see the module docs.
#[derive(Default)]
pub(crate) struct Batch {
    values: Vec<rask::Delayed<PyValue>>,
    blocks: Vec<rask::Delayed<Block>>,
    parts: Vec<rask::Delayed<Partition>>,
    wants: Vec<Want>,
}

type Computed = (Vec<PyValue>, Vec<Block>, Vec<Partition>);

impl Batch {
    /// Adds one object: an array, a dataframe, or anything else (a
    /// `Delayed`, a value, a structure holding `Delayed`s).
    pub(crate) fn add(&mut self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(a) = obj.cast::<RArray>() {
            self.wants.push(Want::Array(a.clone().unbind()));
            self.blocks.extend(a.get().inner.blocks().iter().cloned());
        } else if let Ok(f) = obj.cast::<PyFrame>() {
            self.wants.push(Want::Frame);
            self.parts
                .push(f.get().inner.to_delayed().map_err(crate::frame::err)?);
        } else {
            self.wants.push(Want::Value(self.values.len()));
            self.values.push(crate::delayed::to_delayed(py, obj)?);
        }
        Ok(())
    }

    /// Computes everything on `client` (detached, interruptible) and
    /// returns the results in the order added.
    pub(crate) fn run<'py>(
        self,
        py: Python<'py>,
        client: &rask::Client,
        tables: TableAs,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let outputs = (self.values, self.blocks, self.parts);
        let fut = py.detach(|| client.compute(outputs));
        if !fut.is_done() {
            wait_until(py, None, |slice| fut.wait_timeout(slice))?;
        }
        let (values, blocks, parts): Computed = fut.result().py_err(py)?;
        let mut blocks = blocks.into_iter();
        let mut parts = parts.into_iter();
        let mut out = Vec::with_capacity(self.wants.len());
        for w in self.wants {
            out.push(match w {
                Want::Value(i) => values[i].to_object(py)?,
                Want::Array(a) => {
                    let a = a.bind(py).get();
                    let n = a.inner.blocks().len();
                    a.to_numpy(py, blocks.by_ref().take(n).collect())?
                }
                Want::Frame => {
                    let p = parts
                        .next()
                        .ok_or_else(|| PyValueError::new_err("rask: a table is missing"))?;
                    tables.convert(py, p)?
                }
            });
        }
        Ok(out)
    }
}

/// The client that `scheduler=` / `client=` in `kwargs` name (or the default).
pub(crate) fn chosen_client<'py>(
    py: Python<'py>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyClient>> {
    let get = |k: &str| -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(match kwargs {
            Some(d) => d.get_item(k)?,
            None => None,
        })
    };
    let c = py
        .import(intern!(py, "rask"))?
        .getattr(intern!(py, "_choose"))?
        .call1((get("scheduler")?, get("client")?))?;
    Ok(c.cast_into::<PyClient>()?)
}

/// Computes a count (rows written) on the chosen client.
pub(crate) fn compute_u64<'py>(
    py: Python<'py>,
    d: rask::Delayed<u64>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let c = chosen_client(py, kwargs)?.get().client()?;
    let fut = py.detach(|| c.compute(d));
    if !fut.is_done() {
        wait_until(py, None, |slice| fut.wait_timeout(slice))?;
    }
    Ok(fut.result().py_err(py)?.into_pyobject(py)?.into_any())
}

/// An array or a dataframe as a task producing its Python value (a NumPy
/// array, a pandas DataFrame), for a delayed call's argument; `None` for
/// other objects.
pub(crate) fn as_delayed(obj: &Bound<'_, PyAny>) -> PyResult<Option<rask::Delayed<PyValue>>> {
    if let Ok(a) = obj.cast::<RArray>() {
        let body = ArrayValue(a.clone().unbind());
        let deps = a
            .get()
            .inner
            .blocks()
            .iter()
            .map(|b| b.node().clone())
            .collect::<Vec<_>>();
        return Ok(Some(rask::Delayed::from_body(
            Key::anonymous(intern_name("array")),
            deps,
            body,
        )));
    }
    if let Ok(f) = obj.cast::<PyFrame>() {
        let d = f.get().inner.to_delayed().map_err(crate::frame::err)?;
        return Ok(Some(rask::Delayed::from_body(
            Key::anonymous(intern_name("dataframe")),
            [d.node().clone()],
            FrameValue,
        )));
    }
    Ok(None)
}

/// Assembles an array's chunks into a NumPy array.
struct ArrayValue(Py<RArray>);

impl TaskBody for ArrayValue {
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        let mut blocks = Vec::with_capacity(inputs.len());
        while inputs.remaining() > 0 {
            blocks.push(inputs.take::<Block>()?);
        }
        gil::attach(|py| {
            self.0
                .bind(py)
                .get()
                .to_numpy(py, blocks)
                .map(|a| Arc::new(PyValue::obj(a.unbind())) as Value)
                .map_err(|e| crate::call::failure(py, &e, None))
        })
        .unwrap_or_else(|| Err(TaskFailure::msg(gil::SHUTTING_DOWN_MESSAGE)))
    }
}

/// Turns a dataframe's whole table into a pandas DataFrame.
struct FrameValue;

impl TaskBody for FrameValue {
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        let p: Partition = inputs.take()?;
        gil::attach(|py| {
            TableAs::Pandas
                .convert(py, p)
                .map(|t| Arc::new(PyValue::obj(t.unbind())) as Value)
                .map_err(|e| crate::call::failure(py, &e, None))
        })
        .unwrap_or_else(|| Err(TaskFailure::msg(gil::SHUTTING_DOWN_MESSAGE)))
    }
}
