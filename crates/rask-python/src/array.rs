//! `rask.array`: the chunked arrays of `rask-array` from Python.
//!
//! An [`RArray`] wraps a `rask::array::Array`: every operation is the Rust
//! crate's (built-in tasks, fused where the crate fuses, running on any
//! client, worker processes and clusters included), so no Python runs per
//! chunk. NumPy arrays come in with one copy (into the chunks, which Rask
//! owns), and results go out without one where possible: a result of one
//! chunk becomes the NumPy array's buffer as it is; a result of several is
//! assembled once into a fresh buffer that NumPy then owns.
//!
//! Dtypes are `float64`, `int64` and `bool` (the crate's); other NumPy
//! dtypes are converted on the way in (`float32` to `float64`, narrower
//! integers to `int64`), and refused where that would lose values.

use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PySlice, PyTuple};
use rask::array::{
    self as ra, Axes, BinOp, Block, ChunkSpec, DType, RedOp, ReduceOptions, Scalar, Sel, UnOp,
};

/// Chunks of at most about this many bytes when none are given.
const AUTO_CHUNK_BYTES: usize = 128 << 20;

/// A chunked n-dimensional array; see the module docs.
#[pyclass(module = "rask.array", name = "Array", frozen)]
pub(crate) struct RArray {
    pub(crate) inner: ra::Array,
}

fn err(e: ra::ArrayError) -> PyErr {
    PyValueError::new_err(format!("rask.array: {e}"))
}

fn wrap(r: ra::Result<ra::Array>) -> PyResult<RArray> {
    r.map(|inner| RArray { inner }).map_err(err)
}

/// A chunk size per axis for arrays of `shape` when none was given:
/// chunks of at most [`AUTO_CHUNK_BYTES`].
fn auto_chunks(shape: &[usize]) -> ChunkSpec {
    let total: usize = shape.iter().product::<usize>() * 8;
    if total <= AUTO_CHUNK_BYTES || shape.is_empty() {
        return ChunkSpec::PerAxis(shape.iter().map(|&s| s.max(1)).collect());
    }
    let per = ((AUTO_CHUNK_BYTES / 8) as f64).powf(1.0 / shape.len() as f64) as usize;
    ChunkSpec::PerAxis(shape.iter().map(|&s| s.clamp(1, per.max(1))).collect())
}

/// `chunks=`: an int (every axis), a tuple of ints (per axis), a tuple of
/// tuples (every chunk's size), or None/"auto".
pub(crate) fn chunk_spec(
    chunks: Option<&Bound<'_, PyAny>>,
    shape: &[usize],
) -> PyResult<ChunkSpec> {
    let Some(c) = chunks.filter(|c| !c.is_none()) else {
        return Ok(auto_chunks(shape));
    };
    if c.extract::<String>().is_ok_and(|s| s == "auto") {
        return Ok(auto_chunks(shape));
    }
    if let Ok(n) = c.extract::<usize>() {
        return Ok(ChunkSpec::Uniform(n));
    }
    if let Ok(v) = c.extract::<Vec<usize>>() {
        return Ok(ChunkSpec::PerAxis(v));
    }
    if let Ok(v) = c.extract::<Vec<Vec<usize>>>() {
        return Ok(ChunkSpec::Explicit(v));
    }
    Err(PyTypeError::new_err(format!(
        "rask.array: chunks is an int, a tuple of ints or a tuple of tuples, not {}",
        c.repr()?
    )))
}

/// `axis=`: None (all), an int, or a tuple of ints.
fn axes(axis: Option<&Bound<'_, PyAny>>) -> PyResult<Axes> {
    match axis {
        None => Ok(Axes::All),
        Some(a) if a.is_none() => Ok(Axes::All),
        Some(a) => {
            if let Ok(i) = a.extract::<isize>() {
                return Ok(Axes::Some(vec![i]));
            }
            Ok(Axes::Some(a.extract::<Vec<isize>>()?))
        }
    }
}

/// A Python number as an array scalar.
fn scalar(o: &Bound<'_, PyAny>) -> Option<Scalar> {
    if o.is_instance_of::<PyBool>() {
        return o.extract::<bool>().ok().map(Scalar::Bool);
    }
    if o.is_instance_of::<PyInt>() {
        return o.extract::<i64>().ok().map(Scalar::I64);
    }
    if o.is_instance_of::<PyFloat>() {
        return o.extract::<f64>().ok().map(Scalar::F64);
    }
    // NumPy scalars.
    let py = o.py();
    let kind: Option<String> = o
        .getattr(intern!(py, "dtype"))
        .and_then(|d| d.getattr(intern!(py, "kind")))
        .and_then(|k| k.extract())
        .ok();
    if o.getattr(intern!(py, "ndim"))
        .and_then(|n| n.extract::<usize>())
        .ok()
        != Some(0)
    {
        return None;
    }
    match kind.as_deref() {
        Some("b") => o.extract::<bool>().ok().map(Scalar::Bool),
        Some("i" | "u") => o.extract::<i64>().ok().map(Scalar::I64),
        Some("f") => o.extract::<f64>().ok().map(Scalar::F64),
        _ => None,
    }
}

/// NumPy's dtype name of a dtype.
fn dtype_name(d: DType) -> &'static str {
    d.name()
}

/// A NumPy array (anything `numpy.asarray` takes) as a chunked array.
fn from_numpy(obj: &Bound<'_, PyAny>, chunks: Option<&Bound<'_, PyAny>>) -> PyResult<RArray> {
    let py = obj.py();
    let np = py.import(intern!(py, "numpy"))?;
    let arr = np.call_method1(intern!(py, "asarray"), (obj,))?;
    let kind: String = arr
        .getattr(intern!(py, "dtype"))?
        .getattr(intern!(py, "kind"))?
        .extract()?;
    let target = match kind.as_str() {
        "f" => "float64",
        "i" => "int64",
        "u" => {
            let size: usize = arr.getattr(intern!(py, "dtype"))?.getattr(intern!(py, "itemsize"))?.extract()?;
            if size >= 8 {
                return Err(PyTypeError::new_err(
                    "rask.array: uint64 does not fit int64; cast it first",
                ));
            }
            "int64"
        }
        "b" => "bool",
        other => {
            return Err(PyTypeError::new_err(format!(
                "rask.array: arrays of float64, int64 or bool (or what converts to them without loss), \
                 not of dtype kind `{other}`"
            )))
        }
    };
    let arr = np.call_method1(intern!(py, "ascontiguousarray"), (arr, target))?;
    let shape: Vec<usize> = arr.getattr(intern!(py, "shape"))?.extract()?;
    let spec = chunk_spec(chunks, &shape)?;
    // One copy, into the chunks, with the GIL held (nothing can change the
    // NumPy array meanwhile).
    let inner = match target {
        "float64" => {
            ra::Array::from_ndarray(&arr.cast::<PyArrayDyn<f64>>()?.readonly().as_array(), spec)
        }
        "int64" => {
            ra::Array::from_ndarray(&arr.cast::<PyArrayDyn<i64>>()?.readonly().as_array(), spec)
        }
        _ => ra::Array::from_ndarray(&arr.cast::<PyArrayDyn<bool>>()?.readonly().as_array(), spec),
    };
    wrap(inner)
}

/// An operand: an array, a NumPy array, or a scalar.
enum Operand {
    Array(ra::Array),
    Scalar(Scalar),
}

fn operand(o: &Bound<'_, PyAny>, like: &ra::Array) -> PyResult<Operand> {
    if let Ok(a) = o.cast::<RArray>() {
        return Ok(Operand::Array(a.get().inner.clone()));
    }
    if let Some(s) = scalar(o) {
        return Ok(Operand::Scalar(s));
    }
    let py = o.py();
    let is_np = py
        .import(intern!(py, "sys"))?
        .getattr(intern!(py, "modules"))?
        .contains(intern!(py, "numpy"))?
        && o.is_instance_of::<numpy::PyUntypedArray>();
    if is_np {
        let shape: Vec<usize> = o.getattr(intern!(py, "shape"))?.extract()?;
        let chunks = if shape == like.shape() {
            Some(
                PyTuple::new(
                    py,
                    like.chunks()
                        .sizes()
                        .iter()
                        .map(|v| PyTuple::new(py, v).ok()),
                )?
                .into_any(),
            )
        } else {
            None
        };
        return Ok(Operand::Array(from_numpy(o, chunks.as_ref())?.inner));
    }
    Err(PyTypeError::new_err(format!(
        "rask.array: an operand is an array, a NumPy array or a number, not a `{}`",
        o.get_type().name()?
    )))
}

impl RArray {
    fn bin(&self, op: BinOp, other: &Bound<'_, PyAny>, reflected: bool) -> PyResult<RArray> {
        match operand(other, &self.inner)? {
            Operand::Array(b) if reflected => wrap(b.binary(op, &self.inner)),
            Operand::Array(b) => wrap(self.inner.binary(op, &b)),
            Operand::Scalar(s) => wrap(self.inner.binary_scalar(op, s, reflected)),
        }
    }

    fn red(
        &self,
        op: RedOp,
        axis: Option<&Bound<'_, PyAny>>,
        split_every: Option<usize>,
        ddof: f64,
    ) -> PyResult<RArray> {
        let mut opts = ReduceOptions::default();
        if let Some(s) = split_every {
            opts.split_every = s;
        }
        opts.ddof = ddof;
        wrap(self.inner.reduce(op, axes(axis)?, opts))
    }

    /// The computed value as a NumPy array (0-d: a NumPy scalar), from the
    /// computed chunks.
    pub(crate) fn to_numpy<'py>(
        &self,
        py: Python<'py>,
        blocks: Vec<Block>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = &self.inner;
        let arr = match a.dtype() {
            DType::F64 => a
                .assemble::<f64>(blocks)
                .map_err(err)?
                .into_pyarray(py)
                .into_any(),
            DType::I64 => a
                .assemble::<i64>(blocks)
                .map_err(err)?
                .into_pyarray(py)
                .into_any(),
            DType::Bool => a
                .assemble::<bool>(blocks)
                .map_err(err)?
                .into_pyarray(py)
                .into_any(),
        };
        if a.ndim() == 0 {
            return arr.get_item(PyTuple::empty(py));
        }
        Ok(arr)
    }
}

/// One Python index item as a selection.
fn sel(o: &Bound<'_, PyAny>) -> PyResult<Sel> {
    if let Ok(s) = o.cast::<PySlice>() {
        let get = |name: &str| -> PyResult<Option<isize>> {
            let v = s.getattr(name)?;
            if v.is_none() {
                Ok(None)
            } else {
                v.extract().map(Some)
            }
        };
        return Ok(Sel::Range {
            start: get("start")?,
            stop: get("stop")?,
            step: get("step")?.unwrap_or(1),
        });
    }
    if let Ok(i) = o.extract::<isize>() {
        return Ok(Sel::Index(i));
    }
    Err(PyTypeError::new_err(format!(
        "rask.array: indices are ints and slices, not {}",
        o.repr()?
    )))
}

#[pymethods]
impl RArray {
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.shape())
    }

    #[getter]
    fn ndim(&self) -> usize {
        self.inner.ndim()
    }

    #[getter]
    fn size(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.nbytes()
    }

    /// NumPy's name of the element type.
    #[getter]
    fn dtype(&self) -> &'static str {
        dtype_name(self.inner.dtype())
    }

    /// The chunk sizes along each axis (Dask's `chunks`).
    #[getter]
    fn chunks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let items = self
            .inner
            .chunks()
            .sizes()
            .iter()
            .map(|v| PyTuple::new(py, v))
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, items)
    }

    #[getter]
    fn npartitions(&self) -> usize {
        self.inner.blocks().len()
    }

    fn __len__(&self) -> PyResult<usize> {
        self.inner
            .shape()
            .first()
            .copied()
            .ok_or_else(|| PyTypeError::new_err("rask.array: len() of a 0-d array"))
    }

    fn __repr__(&self) -> String {
        format!(
            "rask.array<shape={:?}, dtype={}, chunks={}>",
            self.inner.shape(),
            self.inner.dtype(),
            self.inner.blocks().len()
        )
    }

    /// Computes the array (`rask.compute(self, **kwargs)[0]`): a NumPy array.
    #[pyo3(signature = (**kwargs))]
    fn compute<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, pyo3::types::PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import(intern!(py, "rask"))?
            .getattr(intern!(py, "compute"))?
            .call((slf,), kwargs)?
            .get_item(0)
    }

    #[pyo3(signature = (dtype = None, copy = None))]
    fn __array__<'py>(
        slf: &Bound<'py, Self>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = copy;
        let py = slf.py();
        let v = Self::compute(slf, None)?;
        let np = py.import(intern!(py, "numpy"))?;
        np.call_method1(intern!(py, "asarray"), (v, dtype))
    }

    fn __add__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Add, o, false)
    }
    fn __radd__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Add, o, true)
    }
    fn __sub__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Sub, o, false)
    }
    fn __rsub__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Sub, o, true)
    }
    fn __mul__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Mul, o, false)
    }
    fn __rmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Mul, o, true)
    }
    fn __truediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Div, o, false)
    }
    fn __rtruediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Div, o, true)
    }
    fn __mod__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Rem, o, false)
    }
    fn __rmod__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Rem, o, true)
    }
    fn __pow__(&self, o: &Bound<'_, PyAny>, _m: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Pow, o, false)
    }
    fn __rpow__(&self, o: &Bound<'_, PyAny>, _m: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Pow, o, true)
    }
    fn __and__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::And, o, false)
    }
    fn __rand__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::And, o, true)
    }
    fn __or__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Or, o, false)
    }
    fn __ror__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Or, o, true)
    }
    fn __xor__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Xor, o, false)
    }
    fn __rxor__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        self.bin(BinOp::Xor, o, true)
    }

    fn __richcmp__(&self, o: &Bound<'_, PyAny>, op: pyo3::basic::CompareOp) -> PyResult<RArray> {
        use pyo3::basic::CompareOp as C;
        let op = match op {
            C::Lt => BinOp::Lt,
            C::Le => BinOp::Le,
            C::Eq => BinOp::Eq,
            C::Ne => BinOp::Ne,
            C::Gt => BinOp::Gt,
            C::Ge => BinOp::Ge,
        };
        self.bin(op, o, false)
    }

    fn __neg__(&self) -> RArray {
        RArray {
            inner: self.inner.unary(UnOp::Neg),
        }
    }

    fn __abs__(&self) -> RArray {
        RArray {
            inner: self.inner.unary(UnOp::Abs),
        }
    }

    fn __invert__(&self) -> RArray {
        RArray {
            inner: self.inner.unary(UnOp::Not),
        }
    }

    fn __matmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        match operand(o, &self.inner)? {
            Operand::Array(b) => wrap(self.inner.matmul(&b)),
            Operand::Scalar(_) => Err(PyTypeError::new_err(
                "rask.array: matmul of an array and a number",
            )),
        }
    }

    /// `matmul` (2-d by 2-d, or by a vector).
    fn dot(&self, o: &Bound<'_, PyAny>) -> PyResult<RArray> {
        match operand(o, &self.inner)? {
            Operand::Array(b) => wrap(self.inner.dot(&b)),
            Operand::Scalar(s) => wrap(self.inner.binary_scalar(BinOp::Mul, s, false)),
        }
    }

    /// Basic indexing: ints and slices (with steps, negative too).
    fn __getitem__(&self, index: &Bound<'_, PyAny>) -> PyResult<RArray> {
        let sels = match index.cast::<PyTuple>() {
            Ok(t) => t.iter().map(|o| sel(&o)).collect::<PyResult<Vec<_>>>()?,
            Err(_) => vec![sel(index)?],
        };
        wrap(self.inner.slice(&sels))
    }

    /// Swaps the two axes of a 2-d array (all axes reversed in general).
    #[getter(T)]
    fn t(&self) -> RArray {
        RArray {
            inner: self.inner.T(),
        }
    }

    #[pyo3(signature = (*axes))]
    fn transpose(&self, axes: Vec<usize>) -> PyResult<RArray> {
        if axes.is_empty() {
            return wrap(self.inner.transpose(None));
        }
        wrap(self.inner.transpose(Some(&axes)))
    }

    fn swapaxes(&self, a: isize, b: isize) -> PyResult<RArray> {
        wrap(self.inner.swapaxes(a, b))
    }

    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> PyResult<RArray> {
        let dims: Vec<isize> = if shape.len() == 1 && shape.get_item(0)?.cast::<PyTuple>().is_ok() {
            shape.get_item(0)?.extract()?
        } else {
            shape.extract()?
        };
        wrap(self.inner.reshape(&dims))
    }

    fn rechunk(&self, chunks: &Bound<'_, PyAny>) -> PyResult<RArray> {
        wrap(
            self.inner
                .rechunk(chunk_spec(Some(chunks), self.inner.shape())?),
        )
    }

    /// A cast to `float64`, `int64` or `bool`.
    fn astype(&self, dtype: &Bound<'_, PyAny>) -> PyResult<RArray> {
        let py = dtype.py();
        let name: String = py
            .import(intern!(py, "numpy"))?
            .call_method1(intern!(py, "dtype"), (dtype,))?
            .getattr(intern!(py, "name"))?
            .extract()?;
        let to = match name.as_str() {
            "float64" => DType::F64,
            "int64" => DType::I64,
            "bool" => DType::Bool,
            other => {
                return Err(PyTypeError::new_err(format!(
                    "rask.array: astype to float64, int64 or bool, not {other}"
                )))
            }
        };
        Ok(RArray {
            inner: self.inner.cast(to),
        })
    }

    /// `sum` over `axis` (None: every axis).
    #[pyo3(signature = (axis = None, split_every = None))]
    fn sum(&self, axis: Option<&Bound<'_, PyAny>>, split_every: Option<usize>) -> PyResult<RArray> {
        self.red(RedOp::Sum, axis, split_every, 0.0)
    }

    /// `prod` over `axis` (None: every axis).
    #[pyo3(signature = (axis = None, split_every = None))]
    fn prod(
        &self,
        axis: Option<&Bound<'_, PyAny>>,
        split_every: Option<usize>,
    ) -> PyResult<RArray> {
        self.red(RedOp::Prod, axis, split_every, 0.0)
    }

    /// `mean` over `axis` (None: every axis).
    #[pyo3(signature = (axis = None, split_every = None))]
    fn mean(
        &self,
        axis: Option<&Bound<'_, PyAny>>,
        split_every: Option<usize>,
    ) -> PyResult<RArray> {
        self.red(RedOp::Mean, axis, split_every, 0.0)
    }

    /// `min` over `axis` (None: every axis).
    #[pyo3(signature = (axis = None, split_every = None))]
    fn min(&self, axis: Option<&Bound<'_, PyAny>>, split_every: Option<usize>) -> PyResult<RArray> {
        self.red(RedOp::Min, axis, split_every, 0.0)
    }

    /// `max` over `axis` (None: every axis).
    #[pyo3(signature = (axis = None, split_every = None))]
    fn max(&self, axis: Option<&Bound<'_, PyAny>>, split_every: Option<usize>) -> PyResult<RArray> {
        self.red(RedOp::Max, axis, split_every, 0.0)
    }

    /// `any` over `axis` (None: every axis).
    #[pyo3(signature = (axis = None, split_every = None))]
    fn any(&self, axis: Option<&Bound<'_, PyAny>>, split_every: Option<usize>) -> PyResult<RArray> {
        self.red(RedOp::Any, axis, split_every, 0.0)
    }

    /// `all` over `axis` (None: every axis).
    #[pyo3(signature = (axis = None, split_every = None))]
    fn all(&self, axis: Option<&Bound<'_, PyAny>>, split_every: Option<usize>) -> PyResult<RArray> {
        self.red(RedOp::All, axis, split_every, 0.0)
    }

    #[pyo3(signature = (axis = None, ddof = 0.0, split_every = None))]
    fn var(
        &self,
        axis: Option<&Bound<'_, PyAny>>,
        ddof: f64,
        split_every: Option<usize>,
    ) -> PyResult<RArray> {
        self.red(RedOp::Var, axis, split_every, ddof)
    }

    #[pyo3(signature = (axis = None, ddof = 0.0, split_every = None))]
    fn std(
        &self,
        axis: Option<&Bound<'_, PyAny>>,
        ddof: f64,
        split_every: Option<usize>,
    ) -> PyResult<RArray> {
        self.red(RedOp::Std, axis, split_every, ddof)
    }

    #[pyo3(signature = (axis = None))]
    fn argmin(&self, axis: Option<isize>) -> PyResult<RArray> {
        wrap(self.inner.argmin(axis))
    }

    #[pyo3(signature = (axis = None))]
    fn argmax(&self, axis: Option<isize>) -> PyResult<RArray> {
        wrap(self.inner.argmax(axis))
    }

    /// Computes the array on the default client and writes one `.npy` file.
    fn to_npy(&self, py: Python<'_>, path: &str) -> PyResult<()> {
        let c = default_rask_client(py)?;
        let a = self.inner.clone();
        let path = path.to_owned();
        py.detach(|| a.to_npy(&path, &c)).map_err(err)
    }

    /// Computes the array on the default client into a chunked directory
    /// store (one `.npy` per chunk); the bytes written.
    fn to_store(&self, py: Python<'_>, path: &str) -> PyResult<u64> {
        let c = default_rask_client(py)?;
        let a = self.inner.clone();
        let path = path.to_owned();
        py.detach(|| a.to_store(&path, &c)).map_err(err)
    }
}

/// The default client's Rask client.
fn default_rask_client(py: Python<'_>) -> PyResult<rask::Client> {
    let c = py
        .import(intern!(py, "rask"))?
        .call_method0(intern!(py, "default_client"))?;
    c.cast::<crate::client::PyClient>()?.get().client()
}

fn unary(x: &RArray, op: UnOp) -> RArray {
    RArray {
        inner: x.inner.unary(op),
    }
}

macro_rules! ufuncs {
    ($($name:ident => $op:ident),* $(,)?) => {
        $(
            #[doc = concat!("Element-wise `", stringify!($name), "`.")]
            #[pyfunction]
            fn $name(x: PyRef<'_, RArray>) -> RArray {
                unary(&x, UnOp::$op)
            }
        )*
        fn add_ufuncs(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $( m.add_function(wrap_pyfunction!($name, m)?)?; )*
            Ok(())
        }
    };
}

ufuncs!(
    sqrt => Sqrt, exp => Exp, expm1 => Expm1, log => Ln, log1p => Ln1p, log10 => Log10,
    sin => Sin, cos => Cos, tan => Tan, tanh => Tanh, floor => Floor, ceil => Ceil,
    round => Round, absolute => Abs, square => Square, sign => Sign, isnan => IsNan,
    isfinite => IsFinite, reciprocal => Recip, logical_not => Not, negative => Neg,
);

/// `maximum(a, b)` element-wise.
#[pyfunction]
fn maximum(a: PyRef<'_, RArray>, b: &Bound<'_, PyAny>) -> PyResult<RArray> {
    a.bin(BinOp::Maximum, b, false)
}

/// `minimum(a, b)` element-wise.
#[pyfunction]
fn minimum(a: PyRef<'_, RArray>, b: &Bound<'_, PyAny>) -> PyResult<RArray> {
    a.bin(BinOp::Minimum, b, false)
}

/// `where(cond, a, b)`: `a` where `cond`, else `b` (arrays or numbers).
#[pyfunction]
#[pyo3(name = "where")]
fn where_(cond: PyRef<'_, RArray>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<RArray> {
    let a = operand(a, &cond.inner)?;
    let b = operand(b, &cond.inner)?;
    wrap(ra::where_(&cond.inner, as_op(&a), as_op(&b)))
}

fn as_op(o: &Operand) -> ra::Operand<'_> {
    match o {
        Operand::Array(x) => ra::Operand::Array(x),
        Operand::Scalar(s) => ra::Operand::Scalar(*s),
    }
}

/// A NumPy array (or what `numpy.asarray` takes) cut into `chunks`.
#[pyfunction]
#[pyo3(signature = (x, chunks = None))]
fn from_array(x: &Bound<'_, PyAny>, chunks: Option<&Bound<'_, PyAny>>) -> PyResult<RArray> {
    if let Ok(a) = x.cast::<RArray>() {
        return Ok(RArray {
            inner: a.get().inner.clone(),
        });
    }
    from_numpy(x, chunks)
}

fn shape_of(shape: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    if let Ok(n) = shape.extract::<usize>() {
        return Ok(vec![n]);
    }
    shape.extract()
}

#[pyfunction]
#[pyo3(signature = (shape, chunks = None))]
fn zeros(shape: &Bound<'_, PyAny>, chunks: Option<&Bound<'_, PyAny>>) -> PyResult<RArray> {
    let s = shape_of(shape)?;
    wrap(ra::zeros(&s, chunk_spec(chunks, &s)?))
}

#[pyfunction]
#[pyo3(signature = (shape, chunks = None))]
fn ones(shape: &Bound<'_, PyAny>, chunks: Option<&Bound<'_, PyAny>>) -> PyResult<RArray> {
    let s = shape_of(shape)?;
    wrap(ra::ones(&s, chunk_spec(chunks, &s)?))
}

#[pyfunction]
#[pyo3(signature = (shape, fill_value, chunks = None))]
fn full(
    shape: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    chunks: Option<&Bound<'_, PyAny>>,
) -> PyResult<RArray> {
    let s = shape_of(shape)?;
    let v = scalar(fill_value)
        .ok_or_else(|| PyTypeError::new_err("rask.array: fill_value is a number or a bool"))?;
    wrap(ra::full(&s, chunk_spec(chunks, &s)?, v))
}

/// `arange([start,] stop[, step], chunks=)` (float64).
#[pyfunction]
#[pyo3(signature = (*args, chunks = None))]
fn arange(args: Vec<f64>, chunks: Option<usize>) -> PyResult<RArray> {
    let (start, stop, step) = match args.as_slice() {
        [stop] => (0.0, *stop, 1.0),
        [start, stop] => (*start, *stop, 1.0),
        [start, stop, step] => (*start, *stop, *step),
        _ => {
            return Err(PyTypeError::new_err(
                "rask.array: arange takes 1 to 3 numbers",
            ))
        }
    };
    let n = ((stop - start) / step).ceil().max(1.0) as usize;
    wrap(ra::arange(start, stop, step, chunks.unwrap_or(n)))
}

#[pyfunction]
#[pyo3(signature = (start, stop, num = 50, chunks = None))]
fn linspace(start: f64, stop: f64, num: usize, chunks: Option<usize>) -> PyResult<RArray> {
    wrap(ra::linspace(start, stop, num, chunks.unwrap_or(num.max(1))))
}

#[pyfunction]
#[pyo3(signature = (n, m = None, k = 0, chunks = None))]
fn eye(n: usize, m: Option<usize>, k: i64, chunks: Option<&Bound<'_, PyAny>>) -> PyResult<RArray> {
    let m = m.unwrap_or(n);
    wrap(ra::eye(n, m, k, chunk_spec(chunks, &[n, m])?))
}

/// Seeded uniform numbers on `[low, high)`: chunk `i` comes from a stream
/// seeded by `(seed, i)`, the same on every client.
#[pyfunction]
#[pyo3(signature = (low = 0.0, high = 1.0, size = None, chunks = None, seed = 0))]
fn uniform(
    low: f64,
    high: f64,
    size: Option<&Bound<'_, PyAny>>,
    chunks: Option<&Bound<'_, PyAny>>,
    seed: u64,
) -> PyResult<RArray> {
    let s = size.map(shape_of).transpose()?.unwrap_or_default();
    wrap(ra::uniform(seed, &s, chunk_spec(chunks, &s)?, low, high))
}

/// Seeded normal numbers (see `uniform`).
#[pyfunction]
#[pyo3(signature = (loc = 0.0, scale = 1.0, size = None, chunks = None, seed = 0))]
fn normal(
    loc: f64,
    scale: f64,
    size: Option<&Bound<'_, PyAny>>,
    chunks: Option<&Bound<'_, PyAny>>,
    seed: u64,
) -> PyResult<RArray> {
    let s = size.map(shape_of).transpose()?.unwrap_or_default();
    wrap(ra::normal(seed, &s, chunk_spec(chunks, &s)?, loc, scale))
}

fn arrays(items: &Bound<'_, PyAny>) -> PyResult<Vec<ra::Array>> {
    items
        .try_iter()?
        .map(|i| {
            let i = i?;
            Ok(match i.cast::<RArray>() {
                Ok(a) => a.get().inner.clone(),
                Err(_) => from_numpy(&i, None)?.inner,
            })
        })
        .collect()
}

#[pyfunction]
#[pyo3(signature = (arrays_, axis = 0))]
fn concatenate(arrays_: &Bound<'_, PyAny>, axis: isize) -> PyResult<RArray> {
    let v = arrays(arrays_)?;
    let refs: Vec<&ra::Array> = v.iter().collect();
    wrap(ra::concatenate(&refs, axis))
}

#[pyfunction]
#[pyo3(signature = (arrays_, axis = 0))]
fn stack(arrays_: &Bound<'_, PyAny>, axis: isize) -> PyResult<RArray> {
    let v = arrays(arrays_)?;
    let refs: Vec<&ra::Array> = v.iter().collect();
    wrap(ra::stack(&refs, axis))
}

#[pyfunction]
#[pyo3(signature = (path, chunks = None))]
fn from_npy(path: &str, chunks: Option<&Bound<'_, PyAny>>) -> PyResult<RArray> {
    if chunks.is_some_and(|c| !c.is_none()) {
        // The spec needs no shape unless it is "auto".
        let spec = chunk_spec(chunks, &[])?;
        return wrap(ra::from_npy(path, spec));
    }
    // Read whole, then cut by the file's shape.
    let whole = ra::from_npy(path, ChunkSpec::Uniform(usize::MAX)).map_err(err)?;
    let spec = auto_chunks(whole.shape());
    wrap(whole.rechunk(spec))
}

#[pyfunction]
fn from_store(path: &str) -> PyResult<RArray> {
    wrap(ra::from_store(path))
}

/// The `rask._rask.array` submodule (`rask.array` re-exports it).
pub(crate) fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "array")?;
    m.add_class::<RArray>()?;
    add_ufuncs(&m)?;
    for f in [
        wrap_pyfunction!(maximum, &m)?,
        wrap_pyfunction!(minimum, &m)?,
        wrap_pyfunction!(where_, &m)?,
        wrap_pyfunction!(from_array, &m)?,
        wrap_pyfunction!(zeros, &m)?,
        wrap_pyfunction!(ones, &m)?,
        wrap_pyfunction!(full, &m)?,
        wrap_pyfunction!(arange, &m)?,
        wrap_pyfunction!(linspace, &m)?,
        wrap_pyfunction!(eye, &m)?,
        wrap_pyfunction!(uniform, &m)?,
        wrap_pyfunction!(normal, &m)?,
        wrap_pyfunction!(concatenate, &m)?,
        wrap_pyfunction!(stack, &m)?,
        wrap_pyfunction!(from_npy, &m)?,
        wrap_pyfunction!(from_store, &m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(m)
}
