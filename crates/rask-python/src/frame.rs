//! `rask.dataframe`: the partitioned dataframes of `rask-dataframe` from
//! Python.
//!
//! A [`PyFrame`] wraps a `rask::dataframe::DataFrame`: reading, filters,
//! expressions, group-bys, joins and sorts are the Rust crate's built-in
//! tasks (no Python runs per partition, on any client). Results leave
//! through the Arrow C data interface ([`crate::arrow_ffi`]): a pyarrow
//! Table without a copy, then pandas or Polars from it. Tables come in the
//! same way (`from_arrow`, `from_pandas`, `from_polars`).

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use rask::dataframe::arrow::array::RecordBatch;
use rask::dataframe::{self as rd, Agg, CsvOptions, JoinType, ParquetOptions};

use crate::arrow_ffi::{self, ArrowStream};
use crate::frame_expr::{self, agg_func, expr_of, PyAgg, PyExpr};

/// A partitioned dataframe; see the module docs.
#[pyclass(module = "rask.dataframe", name = "DataFrame", frozen)]
pub(crate) struct PyFrame {
    pub(crate) inner: rd::DataFrame,
}

pub(crate) fn err(e: rd::FrameError) -> PyErr {
    PyValueError::new_err(format!("rask.dataframe: {e}"))
}

fn wrap(r: rd::Result<rd::DataFrame>) -> PyResult<PyFrame> {
    r.map(|inner| PyFrame { inner }).map_err(err)
}

/// Column names: a string or a list of strings.
fn names(o: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = o.extract::<String>() {
        return Ok(vec![s]);
    }
    o.extract::<Vec<String>>()
}

/// The whole table as a pyarrow Table (through the C stream interface).
pub(crate) fn to_arrow<'py>(py: Python<'py>, batch: RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    let schema = batch.schema();
    let stream = Bound::new(py, ArrowStream::new(schema, vec![batch]))?;
    // `RecordBatchReader.from_stream`, not `pyarrow.table`: the latter
    // imports pandas (half a second) to check whether it was given one.
    py.import(intern!(py, "pyarrow"))?
        .getattr(intern!(py, "RecordBatchReader"))?
        .call_method1(intern!(py, "from_stream"), (stream,))?
        .call_method0(intern!(py, "read_all"))
}

impl PyFrame {
    fn compute_with<'py>(
        slf: &Bound<'py, Self>,
        how: &str,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kw = match kwargs {
            Some(k) => k.copy()?,
            None => PyDict::new(py),
        };
        kw.set_item("_as", how)?;
        py.import(intern!(py, "rask"))?
            .getattr(intern!(py, "_compute_frame"))?
            .call((slf,), Some(&kw))
    }
}

#[pymethods]
impl PyFrame {
    /// Column names.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner.columns()
    }

    /// Column name to Arrow type (as text).
    #[getter]
    fn dtypes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for f in self.inner.schema().fields() {
            d.set_item(f.name(), f.data_type().to_string())?;
        }
        Ok(d)
    }

    #[getter]
    fn npartitions(&self) -> usize {
        self.inner.npartitions()
    }

    fn __repr__(&self) -> String {
        format!(
            "rask.dataframe<{} partitions, columns={:?}>",
            self.inner.npartitions(),
            self.inner.columns()
        )
    }

    /// The rows (computed on the default client).
    fn __len__(slf: &Bound<'_, Self>) -> PyResult<usize> {
        Self::compute_with(slf, "len", None)?.extract()
    }

    /// `df["a"]`: the column as an expression; `df[["a", "b"]]`: those
    /// columns; `df[condition]`: the rows where it holds.
    fn __getitem__(&self, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = key.py();
        if let Ok(s) = key.cast::<PyString>() {
            let name = s.to_cow()?;
            if !self.inner.columns().iter().any(|c| c == &name) {
                return Err(PyKeyError::new_err(format!(
                    "rask.dataframe: no column `{name}`"
                )));
            }
            return Ok(Bound::new(py, frame_expr::col(&name))?.into_any().unbind());
        }
        if let Ok(e) = key.cast::<PyExpr>() {
            return Ok(
                Bound::new(py, wrap(self.inner.filter(e.get().inner.clone()))?)?
                    .into_any()
                    .unbind(),
            );
        }
        if key.is_instance_of::<PyList>() {
            let cols = names(key)?;
            let exprs = cols.iter().map(|c| rd::col(c)).collect();
            return Ok(Bound::new(py, wrap(self.inner.select(exprs))?)?
                .into_any()
                .unbind());
        }
        Err(PyTypeError::new_err(
            "rask.dataframe: index with a column name, a list of names or a condition",
        ))
    }

    /// `df.v1`: the column as an expression.
    fn __getattr__(&self, name: &str) -> PyResult<PyExpr> {
        if self.inner.columns().iter().any(|c| c == name) {
            return Ok(frame_expr::col(name));
        }
        Err(pyo3::exceptions::PyAttributeError::new_err(format!(
            "rask.dataframe: no attribute or column `{name}`"
        )))
    }

    /// Columns from names and expressions.
    #[pyo3(signature = (*exprs))]
    fn select(&self, exprs: &Bound<'_, PyTuple>) -> PyResult<PyFrame> {
        let mut v = Vec::with_capacity(exprs.len());
        for e in exprs.iter() {
            if let Ok(s) = e.extract::<String>() {
                v.push(rd::col(&s));
            } else {
                v.push(expr_of(&e)?);
            }
        }
        wrap(self.inner.select(v))
    }

    /// A column added (or replaced) from an expression.
    fn with_column(&self, name: &str, expr: &Bound<'_, PyAny>) -> PyResult<PyFrame> {
        wrap(self.inner.with_column(name, expr_of(expr)?))
    }

    /// Columns added from expressions (`assign(w=col("v1") * 2)`).
    #[pyo3(signature = (**columns))]
    fn assign(&self, columns: Option<&Bound<'_, PyDict>>) -> PyResult<PyFrame> {
        let mut df = self.inner.clone();
        if let Some(c) = columns {
            for (k, v) in c.iter() {
                df = df
                    .with_column(&k.extract::<String>()?, expr_of(&v)?)
                    .map_err(err)?;
            }
        }
        Ok(PyFrame { inner: df })
    }

    /// The rows where `condition` holds.
    fn filter(&self, condition: &Bound<'_, PyAny>) -> PyResult<PyFrame> {
        wrap(self.inner.filter(expr_of(condition)?))
    }

    /// The first `n` rows, computed (a pandas DataFrame, as Dask's).
    #[pyo3(signature = (n = 5, **kwargs))]
    fn head<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let df = Bound::new(
            py,
            PyFrame {
                inner: self.inner.head(n),
            },
        )?;
        Self::compute_with(&df, "pandas", kwargs)
    }

    /// Group by key columns; then `.agg(...)`.
    fn groupby(&self, by: &Bound<'_, PyAny>) -> PyResult<PyGroupBy> {
        let keys = names(by)?;
        for k in &keys {
            if !self.inner.columns().contains(k) {
                return Err(PyKeyError::new_err(format!(
                    "rask.dataframe: no column `{k}`"
                )));
            }
        }
        Ok(PyGroupBy {
            df: self.inner.clone(),
            keys,
            split_out: None,
        })
    }

    /// A join on columns named alike on both sides; `how` is `inner`,
    /// `left` or `outer`.
    #[pyo3(signature = (other, on, how = "inner"))]
    fn join(
        &self,
        other: PyRef<'_, PyFrame>,
        on: &Bound<'_, PyAny>,
        how: &str,
    ) -> PyResult<PyFrame> {
        let how = match how {
            "inner" => JoinType::Inner,
            "left" => JoinType::Left,
            "outer" => JoinType::Outer,
            other => {
                return Err(PyValueError::new_err(format!(
                    "rask.dataframe: how is inner, left or outer, not {other}"
                )))
            }
        };
        let on = names(on)?;
        let on: Vec<&str> = on.iter().map(String::as_str).collect();
        wrap(self.inner.join(&other.inner, &on, how))
    }

    /// Same as `join` (pandas' name).
    #[pyo3(signature = (other, on, how = "inner"))]
    fn merge(
        &self,
        other: PyRef<'_, PyFrame>,
        on: &Bound<'_, PyAny>,
        how: &str,
    ) -> PyResult<PyFrame> {
        self.join(other, on, how)
    }

    /// Sorted by columns (nulls last) into range partitions.
    #[pyo3(signature = (by, ascending = true))]
    fn sort_values(&self, by: &Bound<'_, PyAny>, ascending: bool) -> PyResult<PyFrame> {
        let by = names(by)?;
        let by: Vec<&str> = by.iter().map(String::as_str).collect();
        wrap(self.inner.sort_values(&by, ascending))
    }

    /// Sorted by one column, which Rask then keeps first.
    fn set_index(&self, column: &str) -> PyResult<PyFrame> {
        wrap(self.inner.set_index(column))
    }

    /// The same rows in `n` partitions.
    fn repartition(&self, npartitions: usize) -> PyFrame {
        PyFrame {
            inner: self.inner.repartition(npartitions),
        }
    }

    /// Rows hash-partitioned by columns into `npartitions`.
    fn shuffle(&self, on: &Bound<'_, PyAny>, npartitions: usize) -> PyResult<PyFrame> {
        let on = names(on)?;
        let on: Vec<&str> = on.iter().map(String::as_str).collect();
        wrap(self.inner.shuffle(&on, npartitions))
    }

    /// Rows with distinct values (of `subset`, or of every column).
    #[pyo3(signature = (subset = None))]
    fn drop_duplicates(&self, subset: Option<&Bound<'_, PyAny>>) -> PyResult<PyFrame> {
        let s = subset.map(names).transpose()?;
        let refs: Option<Vec<&str>> = s.as_ref().map(|v| v.iter().map(String::as_str).collect());
        wrap(self.inner.drop_duplicates(refs.as_deref()))
    }

    /// The same table with one shared dictionary per dictionary-encoded
    /// string column (read with `strings_as_dictionary=True`), so that
    /// group-bys and joins never re-hash strings. Do it once, before
    /// `persist`.
    fn unify_dictionaries(&self) -> PyFrame {
        PyFrame {
            inner: self.inner.unify_dictionaries(),
        }
    }

    /// Count, mean, std, min and max of the numeric columns.
    fn describe(&self) -> PyResult<PyFrame> {
        wrap(self.inner.describe())
    }

    /// Computes the table: a pandas DataFrame (`rask.compute(df)` too).
    #[pyo3(signature = (**kwargs))]
    fn compute<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::compute_with(slf, "pandas", kwargs)
    }

    /// Computes the table as a pyarrow Table (no copy).
    #[pyo3(signature = (**kwargs))]
    fn to_arrow<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::compute_with(slf, "arrow", kwargs)
    }

    /// Computes the table as a pandas DataFrame.
    #[pyo3(signature = (**kwargs))]
    fn to_pandas<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::compute_with(slf, "pandas", kwargs)
    }

    /// Computes the table as a Polars DataFrame.
    #[pyo3(signature = (**kwargs))]
    fn to_polars<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::compute_with(slf, "polars", kwargs)
    }

    /// Computes every partition now (on the default client, or `scheduler=`)
    /// and returns a dataframe over the values.
    #[pyo3(signature = (**kwargs))]
    fn persist<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::compute_with(slf, "persist", kwargs)
    }

    /// Writes one Parquet file per partition into `path` (a directory);
    /// the rows written.
    #[pyo3(signature = (path, **kwargs))]
    fn to_parquet<'py>(
        slf: &Bound<'py, Self>,
        path: &str,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let d = slf.get().inner.to_parquet(path).map_err(err)?;
        crate::collection::compute_u64(slf.py(), d, kwargs)
    }

    /// Writes one CSV file per partition into `path` (a directory); the
    /// rows written.
    #[pyo3(signature = (path, **kwargs))]
    fn to_csv<'py>(
        slf: &Bound<'py, Self>,
        path: &str,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let d = slf.get().inner.to_csv(path).map_err(err)?;
        crate::collection::compute_u64(slf.py(), d, kwargs)
    }
}

/// `df.groupby(keys)`: waiting for its aggregations.
#[pyclass(module = "rask.dataframe", name = "GroupBy", frozen)]
pub(crate) struct PyGroupBy {
    df: rd::DataFrame,
    keys: Vec<String>,
    split_out: Option<usize>,
}

#[pymethods]
impl PyGroupBy {
    /// Aggregations: `Agg`s (`rd.sum("v1")`), or a dict of column to a
    /// function name or a list of them (`{"v1": "sum", "v3": ["mean", "max"]}`:
    /// a list names its outputs `v3_mean`, `v3_max`).
    #[pyo3(signature = (*aggs, split_out = None))]
    fn agg(&self, aggs: &Bound<'_, PyTuple>, split_out: Option<usize>) -> PyResult<PyFrame> {
        let mut v: Vec<Agg> = Vec::new();
        for a in aggs.iter() {
            if let Ok(a) = a.cast::<PyAgg>() {
                v.push(a.get().inner.clone());
            } else if let Ok(d) = a.cast::<PyDict>() {
                for (c, f) in d.iter() {
                    let c: String = c.extract()?;
                    if let Ok(f) = f.extract::<String>() {
                        v.push(Agg::new(&c, agg_func(&f)?));
                    } else {
                        for f in f.extract::<Vec<String>>()? {
                            v.push(Agg::new(&c, agg_func(&f)?).alias(&format!("{c}_{f}")));
                        }
                    }
                }
            } else {
                return Err(PyTypeError::new_err(
                    "rask.dataframe: agg takes aggregations (rask.dataframe.sum(\"v1\")) or a dict",
                ));
            }
        }
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        let mut g = self.df.groupby(&keys);
        if let Some(n) = split_out.or(self.split_out) {
            g = g.split_out(n);
        }
        wrap(g.agg(v))
    }

    fn __repr__(&self) -> String {
        format!("rask.dataframe.GroupBy(by={:?})", self.keys)
    }
}

/// Reads a Parquet file: `columns` (only these are decoded), `filters` (an
/// expression: row groups skipped by statistics, rows filtered),
/// `npartitions` (even row ranges; default one per row group),
/// `strings_as_dictionary` (string columns as Arrow dictionaries).
#[pyfunction]
#[pyo3(signature = (path, columns = None, filters = None, npartitions = None, strings_as_dictionary = false))]
fn read_parquet(
    path: &str,
    columns: Option<Vec<String>>,
    filters: Option<&Bound<'_, PyAny>>,
    npartitions: Option<usize>,
    strings_as_dictionary: bool,
) -> PyResult<PyFrame> {
    let mut o = ParquetOptions::new().strings_as_dictionary(strings_as_dictionary);
    if let Some(c) = &columns {
        let c: Vec<&str> = c.iter().map(String::as_str).collect();
        o = o.columns(&c);
    }
    if let Some(f) = filters {
        o = o.filter(expr_of(f)?);
    }
    if let Some(n) = npartitions {
        o = o.partitions(n);
    }
    wrap(rd::read_parquet(path, &o))
}

/// Reads a CSV file in byte ranges of `blocksize` (one partition each).
#[pyfunction]
#[pyo3(signature = (path, header = true, delimiter = ",", blocksize = None))]
fn read_csv(
    path: &str,
    header: bool,
    delimiter: &str,
    blocksize: Option<u64>,
) -> PyResult<PyFrame> {
    let d = match delimiter.as_bytes() {
        [b] => *b,
        _ => {
            return Err(PyValueError::new_err(
                "rask.dataframe: the delimiter is one byte",
            ))
        }
    };
    let mut o = CsvOptions::new().header(header).delimiter(d);
    if let Some(b) = blocksize {
        o = o.block_size(b);
    }
    wrap(rd::read_csv(path, &o))
}

/// A dataframe of a table: a pyarrow Table, a pandas or Polars DataFrame
/// (anything with `__arrow_c_stream__`), cut into `npartitions` row ranges.
#[pyfunction]
#[pyo3(signature = (table, npartitions = 1))]
fn from_arrow(table: &Bound<'_, PyAny>, npartitions: usize) -> PyResult<PyFrame> {
    let (schema, batches) = arrow_ffi::import(table)?;
    let whole = if batches.len() == 1 {
        batches
            .into_iter()
            .next()
            .ok_or_else(|| PyValueError::new_err("no batch"))?
    } else {
        rask::dataframe::arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| PyValueError::new_err(format!("rask.dataframe: {e}")))?
    };
    let n = npartitions.max(1);
    let rows = whole.num_rows();
    let parts: Vec<RecordBatch> = (0..n)
        .map(|i| {
            let (a, b) = (i * rows / n, (i + 1) * rows / n);
            whole.slice(a, b - a)
        })
        .collect();
    wrap(rd::DataFrame::from_record_batches(parts))
}

/// Adds the dataframe classes and functions to `m`.
pub(crate) fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "dataframe")?;
    m.add_class::<PyFrame>()?;
    m.add_class::<PyGroupBy>()?;
    m.add_class::<PyExpr>()?;
    m.add_class::<PyAgg>()?;
    m.add_class::<ArrowStream>()?;
    frame_expr::add_functions(&m)?;
    m.add_function(wrap_pyfunction!(read_parquet, &m)?)?;
    m.add_function(wrap_pyfunction!(read_csv, &m)?)?;
    m.add_function(wrap_pyfunction!(from_arrow, &m)?)?;
    Ok(m)
}
