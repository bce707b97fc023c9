//! The safe encoding of Python values that cross a process boundary.
//!
//! Pickle is never used: unpickling runs code, so a peer that can send
//! bytes could make a worker run anything. Only plain data crosses: `None`,
//! `bool`, `int` (any size), `float`, `str`, `bytes`, `list`, `tuple`,
//! `dict`, `set`, `frozenset`, NumPy arrays of plain dtypes (their raw
//! buffer), and Arrow tables (`pyarrow.Table`, `pyarrow.RecordBatch`,
//! `pandas.DataFrame`, as Arrow IPC). Anything else is refused when it is
//! encoded, with its type and where it sits (`args[1]['x']`).
//! Subclasses of the plain types travel as the plain type.
//!
//! Format: one tag byte per value, little-endian numbers, `u64` lengths.
//! Nesting is limited to [`MAX_DEPTH`] levels both ways, so neither side
//! recurses in proportion to what a peer sends; every length is checked
//! against the bytes left before anything is allocated.
//!
//! A call's template ([`crate::call`]) is written in the same format, with
//! [`DEP`] marking where a dependency's value goes.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};
use pyo3::{intern, IntoPyObjectExt};

/// Deepest nesting of containers accepted either way.
pub(crate) const MAX_DEPTH: usize = 100;

const NONE: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const BIGINT: u8 = 4;
const FLOAT: u8 = 5;
const STR: u8 = 6;
const BYTES: u8 = 7;
const LIST: u8 = 8;
const TUPLE: u8 = 9;
const DICT: u8 = 10;
const SET: u8 = 11;
const FROZENSET: u8 = 12;
const NDARRAY: u8 = 13;
const TABLE: u8 = 14;
/// A dependency's value, by position (templates only).
pub(crate) const DEP: u8 = 15;

/// Why bytes could not be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    /// The bytes end early, hold an unknown tag, or do not match their lengths.
    #[error("malformed value at byte {at}: {what}")]
    Malformed { at: usize, what: String },
    /// Containers nested deeper than [`MAX_DEPTH`].
    #[error("value nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl From<WireError> for PyErr {
    fn from(e: WireError) -> PyErr {
        PyValueError::new_err(format!("rask: {e}"))
    }
}

/// What could not be encoded, and where.
fn unsupported(obj: &Bound<'_, PyAny>, path: &str) -> PyErr {
    let ty = obj
        .get_type()
        .fully_qualified_name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    PyTypeError::new_err(format!(
        "rask: {path} is a `{ty}`, which cannot cross to another process: only None, bool, \
         int, float, str, bytes, list, tuple, dict, set, NumPy arrays of plain dtypes and \
         Arrow tables (pyarrow.Table, pandas.DataFrame) do (never pickle: unpickling runs code)"
    ))
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

/// Appends the encoding of `obj`; `path` names it in errors (`result`,
/// `args[0]`).
pub(crate) fn encode(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, path: &str) -> PyResult<()> {
    Encoder { depth: 0 }.value(obj, out, &mut || path.to_owned())
}

struct Encoder {
    depth: usize,
}

impl Encoder {
    fn value(
        &mut self,
        obj: &Bound<'_, PyAny>,
        out: &mut Vec<u8>,
        path: &mut dyn FnMut() -> String,
    ) -> PyResult<()> {
        if obj.is_none() {
            out.push(NONE);
        } else if let Ok(b) = obj.cast::<PyBool>() {
            out.push(if b.is_true() { TRUE } else { FALSE });
        } else if let Ok(i) = obj.cast::<PyInt>() {
            match i.extract::<i64>() {
                Ok(v) => {
                    out.push(INT);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                Err(_) => big_int(i, out)?,
            }
        } else if let Ok(f) = obj.cast::<PyFloat>() {
            out.push(FLOAT);
            out.extend_from_slice(&f.value().to_le_bytes());
        } else if let Ok(s) = obj.cast::<PyString>() {
            let s = s.to_cow()?;
            out.push(STR);
            put_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        } else if let Ok(b) = obj.cast::<PyBytes>() {
            out.push(BYTES);
            put_len(out, b.as_bytes().len());
            out.extend_from_slice(b.as_bytes());
        } else if let Ok(b) = obj.cast::<PyByteArray>() {
            out.push(BYTES);
            let v = b.to_vec();
            put_len(out, v.len());
            out.extend_from_slice(&v);
        } else if let Ok(l) = obj.cast::<PyList>() {
            self.enter(path)?;
            out.push(LIST);
            put_len(out, l.len());
            for (i, item) in l.iter().enumerate() {
                self.value(&item, out, &mut || format!("{}[{i}]", path()))?;
            }
            self.depth -= 1;
        } else if let Ok(t) = obj.cast::<PyTuple>() {
            self.enter(path)?;
            out.push(TUPLE);
            put_len(out, t.len());
            for (i, item) in t.iter().enumerate() {
                self.value(&item, out, &mut || format!("{}[{i}]", path()))?;
            }
            self.depth -= 1;
        } else if let Ok(d) = obj.cast::<PyDict>() {
            self.enter(path)?;
            out.push(DICT);
            put_len(out, d.len());
            for (k, v) in d.iter() {
                self.value(&k, out, &mut || format!("{} (a key)", path()))?;
                self.value(&v, out, &mut || {
                    format!(
                        "{}[{}]",
                        path(),
                        k.repr().map(|r| r.to_string()).unwrap_or_default()
                    )
                })?;
            }
            self.depth -= 1;
        } else if let Ok(s) = obj.cast::<PySet>() {
            self.enter(path)?;
            out.push(SET);
            put_len(out, s.len());
            for item in s.iter() {
                self.value(&item, out, &mut || format!("{} (an item)", path()))?;
            }
            self.depth -= 1;
        } else if let Ok(s) = obj.cast::<PyFrozenSet>() {
            self.enter(path)?;
            out.push(FROZENSET);
            put_len(out, s.len());
            for item in s.iter() {
                self.value(&item, out, &mut || format!("{} (an item)", path()))?;
            }
            self.depth -= 1;
        } else if crate::ndarray::is_ndarray(obj) {
            out.push(NDARRAY);
            crate::ndarray::encode(obj, out).map_err(|e| {
                PyTypeError::new_err(format!(
                    "rask: {} cannot cross to another process: {e}",
                    path()
                ))
            })?;
        } else if let Some(bytes) = table_ipc(obj)? {
            out.push(TABLE);
            put_len(out, bytes.len());
            out.extend_from_slice(&bytes);
        } else {
            return Err(unsupported(obj, &path()));
        }
        Ok(())
    }

    fn enter(&mut self, path: &mut dyn FnMut() -> String) -> PyResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(PyValueError::new_err(format!(
                "rask: {} is nested deeper than {MAX_DEPTH} levels",
                path()
            )));
        }
        Ok(())
    }
}

fn big_int(i: &Bound<'_, PyInt>, out: &mut Vec<u8>) -> PyResult<()> {
    let py = i.py();
    // Two's complement, little-endian, in as few bytes as hold the sign.
    let bits: usize = i.call_method0(intern!(py, "bit_length"))?.extract()?;
    let len = bits / 8 + 1;
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "signed"), true)?;
    let b = i.call_method(intern!(py, "to_bytes"), (len, "little"), Some(&kwargs))?;
    let b = b.cast::<PyBytes>()?;
    out.push(BIGINT);
    put_len(out, b.as_bytes().len());
    out.extend_from_slice(b.as_bytes());
    Ok(())
}

/// A table's Arrow IPC stream, if `obj` is a table pyarrow can write
/// (pyarrow is asked only when it, or pandas, is already imported).
fn table_ipc(obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    let py = obj.py();
    let modules = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "modules"))?;
    if !modules.contains(intern!(py, "pyarrow"))? && !modules.contains(intern!(py, "pandas"))? {
        return Ok(None);
    }
    let helper = py.import(intern!(py, "rask._wire"))?;
    let b = helper.call_method1(intern!(py, "table_to_ipc"), (obj,))?;
    if b.is_none() {
        return Ok(None);
    }
    Ok(Some(b.cast::<PyBytes>()?.as_bytes().to_vec()))
}

/// Reads bytes back into Python objects.
pub(crate) struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
    depth: usize,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Reader {
            bytes,
            at: 0,
            depth: 0,
        }
    }

    pub(crate) fn bad(&self, what: impl Into<String>) -> WireError {
        WireError::Malformed {
            at: self.at,
            what: what.into(),
        }
    }

    /// Whether every byte was read.
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), WireError> {
        if self.is_done() {
            Ok(())
        } else {
            Err(self.bad(format!("{} bytes left over", self.bytes.len() - self.at)))
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'b [u8], WireError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                self.bad(format!(
                    "{n} bytes needed, {} left",
                    self.bytes.len() - self.at
                ))
            })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length, which cannot be more than the bytes left (each item takes
    /// at least one byte), so a forged length allocates nothing.
    pub(crate) fn len(&mut self) -> Result<usize, WireError> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(self.bad(format!("a length of {n} with {left} bytes left")));
        }
        Ok(n as usize)
    }

    /// Reads one value; `dep(i)` supplies dependency `i` where the bytes
    /// have a [`DEP`] (templates), and plain values refuse one.
    pub(crate) fn value<'py>(
        &mut self,
        py: Python<'py>,
        dep: &mut dyn FnMut(u32) -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let tag = self.u8()?;
        Ok(match tag {
            NONE => py.None().into_bound(py),
            FALSE => false.into_bound_py_any(py)?,
            TRUE => true.into_bound_py_any(py)?,
            INT => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                i64::from_le_bytes(a).into_bound_py_any(py)?
            }
            BIGINT => {
                let n = self.len()?;
                let b = PyBytes::new(py, self.take(n)?);
                let kwargs = PyDict::new(py);
                kwargs.set_item(intern!(py, "signed"), true)?;
                py.get_type::<PyInt>().call_method(
                    intern!(py, "from_bytes"),
                    (b, "little"),
                    Some(&kwargs),
                )?
            }
            FLOAT => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                f64::from_le_bytes(a).into_bound_py_any(py)?
            }
            STR => {
                let n = self.len()?;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|e| self.bad(format!("a string is not UTF-8: {e}")))?;
                PyString::new(py, s).into_any()
            }
            BYTES => {
                let n = self.len()?;
                PyBytes::new(py, self.take(n)?).into_any()
            }
            LIST | TUPLE | SET | FROZENSET => {
                let n = self.len()?;
                self.enter()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(py, dep)?);
                }
                self.depth -= 1;
                match tag {
                    LIST => PyList::new(py, items)?.into_any(),
                    TUPLE => PyTuple::new(py, items)?.into_any(),
                    SET => PySet::new(py, items)?.into_any(),
                    _ => PyFrozenSet::new(py, items)?.into_any(),
                }
            }
            DICT => {
                let n = self.len()?;
                self.enter()?;
                let d = PyDict::new(py);
                for _ in 0..n {
                    let k = self.value(py, dep)?;
                    let v = self.value(py, dep)?;
                    d.set_item(k, v)?;
                }
                self.depth -= 1;
                d.into_any()
            }
            NDARRAY => crate::ndarray::decode(py, self)?,
            TABLE => {
                let n = self.len()?;
                let b = PyBytes::new(py, self.take(n)?);
                py.import(intern!(py, "rask._wire"))?
                    .call_method1(intern!(py, "table_from_ipc"), (b,))?
            }
            DEP => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                dep(u32::from_le_bytes(a))?
            }
            other => return Err(self.bad(format!("unknown tag {other}")).into()),
        })
    }

    fn enter(&mut self) -> Result<(), WireError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(WireError::TooDeep);
        }
        Ok(())
    }
}

/// Reads one plain value (no dependencies) that fills `bytes`.
pub(crate) fn decode<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let mut r = Reader::new(bytes);
    let v = r.value(py, &mut |i| {
        Err(PyValueError::new_err(format!(
            "rask: a plain value refers to dependency {i}"
        )))
    })?;
    r.finish()?;
    Ok(v)
}

/// Writes a [`DEP`] marker.
pub(crate) fn put_dep(out: &mut Vec<u8>, i: u32) {
    out.push(DEP);
    out.extend_from_slice(&i.to_le_bytes());
}

/// Writes a container's header (`LIST`, `TUPLE` or `DICT`) for `n` items.
pub(crate) fn put_container(out: &mut Vec<u8>, kind: Container, n: usize) {
    out.push(match kind {
        Container::List => LIST,
        Container::Tuple => TUPLE,
        Container::Dict => DICT,
    });
    put_len(out, n);
}

/// Writes a string.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(STR);
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// The containers a template is built of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Container {
    List,
    Tuple,
    Dict,
}
