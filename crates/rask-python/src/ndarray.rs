//! NumPy arrays on the wire: dtype, shape and the raw buffer (C order).
//!
//! Only dtypes whose bytes are plain data cross: booleans, integers,
//! floats, complex numbers, fixed-width byte and unicode strings, dates and
//! durations. Object arrays (pointers to Python objects) and structured
//! dtypes are refused both ways: bytes read as pointers would be memory
//! unsafety, not just wrong values.

use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::wire::Reader;

/// NumPy dtype kinds whose bytes are plain data.
const PLAIN_KINDS: &[u8] = b"biufcSUmM";
/// Longest dtype string accepted (`<M8[ns]` and the like are short).
const MAX_DTYPE: usize = 32;
/// Most dimensions NumPy allows.
const MAX_NDIM: usize = 64;

/// Whether `obj` is a NumPy array (NumPy is not imported to find out).
pub(crate) fn is_ndarray(obj: &Bound<'_, PyAny>) -> bool {
    let py = obj.py();
    let loaded = py
        .import(intern!(py, "sys"))
        .and_then(|s| s.getattr(intern!(py, "modules")))
        .and_then(|m| m.contains(intern!(py, "numpy")))
        .unwrap_or(false);
    loaded && obj.is_instance_of::<PyUntypedArray>()
}

/// A dtype's string (`<f8`) if its kind is plain data.
fn plain_dtype(dtype: &Bound<'_, PyAny>) -> Result<String, String> {
    let py = dtype.py();
    let kind: String = dtype
        .getattr(intern!(py, "kind"))
        .and_then(|k| k.extract())
        .map_err(|e| e.to_string())?;
    let fields = dtype
        .getattr(intern!(py, "fields"))
        .map_err(|e| e.to_string())?;
    let ok = kind.len() == 1 && PLAIN_KINDS.contains(&kind.as_bytes()[0]) && fields.is_none();
    let s: String = dtype
        .getattr(intern!(py, "str"))
        .and_then(|k| k.extract())
        .map_err(|e| e.to_string())?;
    if !ok {
        return Err(format!(
            "an array of dtype `{s}` (only arrays of plain numbers, booleans, strings and dates \
             cross, never arrays of Python objects)"
        ));
    }
    Ok(s)
}

/// Appends dtype, shape and bytes of an array (made C-contiguous first if
/// it is not).
pub(crate) fn encode(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Result<(), String> {
    let py = obj.py();
    let arr = obj
        .cast::<PyUntypedArray>()
        .map_err(|e| e.to_string())?
        .clone();
    let dtype = plain_dtype(arr.dtype().as_any())?;
    let arr = if arr.is_c_contiguous() {
        arr
    } else {
        py.import(intern!(py, "numpy"))
            .and_then(|np| np.call_method1(intern!(py, "ascontiguousarray"), (arr,)))
            .map_err(|e| e.to_string())?
            .cast_into::<PyUntypedArray>()
            .map_err(|e| e.to_string())?
    };
    let shape = arr.shape().to_vec();
    let nbytes = shape.iter().product::<usize>() * arr.dtype().itemsize();
    out.push(dtype.len() as u8);
    out.extend_from_slice(dtype.as_bytes());
    out.push(shape.len() as u8);
    for d in &shape {
        out.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    out.extend_from_slice(&(nbytes as u64).to_le_bytes());
    if nbytes > 0 {
        // SAFETY: the array is C-contiguous, so its `nbytes` bytes start at
        // `data`; we hold a reference to it (and the GIL) while reading.
        let data =
            unsafe { std::slice::from_raw_parts((*arr.as_array_ptr()).data as *const u8, nbytes) };
        out.extend_from_slice(data);
    }
    Ok(())
}

/// Reads an array written by [`encode`] into a new NumPy array.
pub(crate) fn decode<'py>(py: Python<'py>, r: &mut Reader<'_>) -> PyResult<Bound<'py, PyAny>> {
    let dlen = r.u8()? as usize;
    if dlen > MAX_DTYPE {
        return Err(r.bad("a dtype name is too long").into());
    }
    let dtype = std::str::from_utf8(r.take(dlen)?)
        .map_err(|_| r.bad("a dtype name is not text"))?
        .to_owned();
    let ndim = r.u8()? as usize;
    if ndim > MAX_NDIM {
        return Err(r.bad("an array has too many dimensions").into());
    }
    let mut shape = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        shape.push(usize::try_from(r.u64()?).map_err(|_| r.bad("a dimension is too large"))?);
    }
    let nbytes = r.len()?;
    let np = py.import(intern!(py, "numpy"))?;
    let dt = np.call_method1(intern!(py, "dtype"), (dtype.as_str(),))?;
    plain_dtype(&dt).map_err(PyValueError::new_err)?;
    let itemsize: usize = dt.getattr(intern!(py, "itemsize"))?.extract()?;
    let expect = shape
        .iter()
        .try_fold(itemsize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| r.bad("an array's size overflows"))?;
    if expect != nbytes {
        return Err(r
            .bad(format!("an array of {expect} bytes came with {nbytes}"))
            .into());
    }
    let bytes = r.take(nbytes)?;
    let arr = np
        .call_method1(intern!(py, "empty"), (PyTuple::new(py, &shape)?, dt))?
        .cast_into::<PyUntypedArray>()?;
    if nbytes > 0 {
        // SAFETY: `np.empty` made a fresh C-contiguous array of exactly
        // `nbytes` bytes that nothing else refers to yet; `bytes` is a
        // different buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (*arr.as_array_ptr()).data as *mut u8,
                nbytes,
            );
        }
    }
    Ok(arr.into_any())
}
