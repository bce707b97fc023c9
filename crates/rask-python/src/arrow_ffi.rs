//! Tables across the Arrow C data interface (the PyCapsule protocol): no
//! copy and no serialization between Rask and PyArrow, pandas or Polars.
//!
//! - Out: [`ArrowStream`] holds record batches and implements
//!   `__arrow_c_stream__`, which `pyarrow.table(...)`,
//!   `pyarrow.RecordBatchReader.from_stream(...)` and Polars take; the
//!   consumer moves the stream out of the capsule (its buffers stay Rask's
//!   until the consumer releases them).
//! - In: [`import`] reads any object with `__arrow_c_stream__` (a pyarrow
//!   Table, a pandas or Polars DataFrame) into record batches.

use std::ffi::CStr;
use std::sync::Mutex;

use arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// The capsule name of an Arrow C stream.
const STREAM: &CStr = c"arrow_array_stream";

/// Record batches handed to Python once, as an Arrow C stream.
#[pyclass(module = "rask.dataframe", name = "ArrowStream", frozen)]
pub(crate) struct ArrowStream {
    batches: Mutex<Option<(SchemaRef, Vec<RecordBatch>)>>,
}

impl ArrowStream {
    pub(crate) fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        ArrowStream {
            batches: Mutex::new(Some((schema, batches))),
        }
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule protocol: a capsule holding an
    /// `ArrowArrayStream` (once: the batches move into it).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the schema is the table's own
        let (schema, batches) = self
            .batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyValueError::new_err("rask: an Arrow stream is read once"))?;
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
            batches.into_iter().map(Ok),
            schema,
        ));
        let stream = FFI_ArrowArrayStream::new(reader);
        // Dropping the capsule drops the stream, which releases it unless
        // the consumer moved it out (then its release is null).
        PyCapsule::new_with_value(py, stream, STREAM)
    }
}

/// The record batches of any object with `__arrow_c_stream__`.
pub(crate) fn import(obj: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    let py = obj.py();
    if !obj.hasattr(intern!(py, "__arrow_c_stream__"))? {
        return Err(PyTypeError::new_err(format!(
            "rask: a `{}` is not an Arrow table (no __arrow_c_stream__: pass a pyarrow Table, \
             a pandas or a Polars DataFrame)",
            obj.get_type().name()?
        )));
    }
    let capsule = obj.call_method0(intern!(py, "__arrow_c_stream__"))?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: the capsule protocol says a capsule named
    // "arrow_array_stream" points at an initialized `ArrowArrayStream`,
    // which we may move out (`from_raw` leaves a released one behind, so
    // the capsule's destructor frees nothing twice); the capsule lives
    // until this function returns.
    let reader = unsafe { RecordBatchStreamReader::from_raw(ptr.as_ptr().cast()) }
        .map_err(|e| PyValueError::new_err(format!("rask: reading an Arrow stream: {e}")))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PyValueError::new_err(format!("rask: reading an Arrow stream: {e}")))?;
    Ok((schema, batches))
}
