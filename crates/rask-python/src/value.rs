//! [`PyValue`]: what a Python task's result is inside Rask.
//!
//! In the process that made it, a result is the Python object itself
//! (`Obj`), shared by an `Arc` so that Rask can hand it to several
//! consumers without the GIL. A value that came from another process stays
//! in its encoding (`Wire`, see [`crate::wire`]) until a task or the caller
//! reads it, with the GIL held. A call's description (`Spec`) travels as a
//! value too: it is the first input of every Python task (see
//! [`crate::call`]).
//!
//! [`CODEC`] is the one codec of all three: it encodes an object (taking
//! the GIL, refusing what the safe encoding does not cover), copies an
//! encoding as it is, and decodes bytes lazily into `Wire`.

use std::sync::Arc;

use pyo3::prelude::*;
use rask::core::{Codec, Value};

use crate::call::CallSpec;
use crate::gil;

/// A Python task's value; see the module docs.
#[derive(Clone)]
pub(crate) enum PyValue {
    /// A live object of this process.
    Obj(Arc<Py<PyAny>>),
    /// An encoding from another process, read on first use.
    Wire(Arc<Vec<u8>>),
    /// The description of a call (a task's first input).
    Spec(Arc<CallSpec>),
}

impl PyValue {
    /// A live object.
    pub(crate) fn obj(o: Py<PyAny>) -> Self {
        PyValue::Obj(Arc::new(o))
    }

    /// The value as a Python object (decoding an encoding).
    pub(crate) fn to_object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            PyValue::Obj(o) => Ok(o.bind(py).clone()),
            PyValue::Wire(b) => crate::wire::decode(py, b),
            PyValue::Spec(_) => Err(pyo3::exceptions::PyTypeError::new_err(
                "rask: a call description is not a value",
            )),
        }
    }
}

fn not_a_value() -> String {
    "a value is not a Python value".to_owned()
}

fn encode(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let v = v.downcast_ref::<PyValue>().ok_or_else(not_a_value)?;
    match v {
        PyValue::Wire(b) => {
            out.extend_from_slice(b);
            Ok(())
        }
        PyValue::Obj(o) => gil::attach(|py| {
            crate::wire::encode(o.bind(py), out, "the value").map_err(|e| e.to_string())
        })
        .unwrap_or_else(|| Err(gil::SHUTTING_DOWN_MESSAGE.to_owned())),
        PyValue::Spec(s) => gil::attach(|py| s.encode(py, out))
            .unwrap_or_else(|| Err(gil::SHUTTING_DOWN_MESSAGE.to_owned())),
    }
}

fn exact_len(v: &Value) -> Option<usize> {
    match v.downcast_ref::<PyValue>()? {
        PyValue::Wire(b) => Some(b.len()),
        _ => None,
    }
}

fn write(v: &Value, out: &mut [u8]) -> Result<(), String> {
    match v.downcast_ref::<PyValue>() {
        Some(PyValue::Wire(b)) if b.len() == out.len() => {
            rask::core::copy_bytes(out, b);
            Ok(())
        }
        _ => Err("a Python value has no exact length".to_owned()),
    }
}

fn decode(bytes: &[u8]) -> Result<Value, String> {
    Ok(Arc::new(PyValue::Wire(Arc::new(bytes.to_vec()))))
}

/// The codec of [`PyValue`]; see the module docs.
pub(crate) static CODEC: Codec = Codec {
    type_name: || "Python value",
    encode,
    exact_len,
    write,
    decode,
    split: None,
};
