//! `rask.dataframe.col`, `lit` and the aggregations: expressions that the
//! dataframe crate evaluates (vectorized, in Rust), built with Python
//! operators (`(col("v1") * 2 + 1).alias("w")`, `col("v1") >= 3`).

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use rask::dataframe::{self as rd, Agg, AggFunc, BinOp, DType, Scalar};

/// A column expression; see the module docs.
#[pyclass(module = "rask.dataframe", name = "Expr", frozen, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct PyExpr {
    pub(crate) inner: rd::Expr,
}

/// A Python value as an expression: an `Expr`, or a literal.
pub(crate) fn expr_of(o: &Bound<'_, PyAny>) -> PyResult<rd::Expr> {
    if let Ok(e) = o.cast::<PyExpr>() {
        return Ok(e.get().inner.clone());
    }
    Ok(rd::Expr::Lit(scalar(o)?))
}

/// A Python literal as a scalar (None, bool, int, float, str).
pub(crate) fn scalar(o: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if o.is_none() {
        Ok(Scalar::Null)
    } else if o.is_instance_of::<PyBool>() {
        Ok(Scalar::Bool(o.extract()?))
    } else if o.is_instance_of::<PyInt>() {
        Ok(Scalar::Int(o.extract()?))
    } else if o.is_instance_of::<PyFloat>() {
        Ok(Scalar::Float(o.extract()?))
    } else if o.is_instance_of::<PyString>() {
        Ok(Scalar::Str(o.extract()?))
    } else if let Ok(v) = o.extract::<i64>() {
        Ok(Scalar::Int(v))
    } else if let Ok(v) = o.extract::<f64>() {
        Ok(Scalar::Float(v))
    } else {
        Err(PyTypeError::new_err(format!(
            "rask.dataframe: a literal is None, a bool, an int, a float or a str, not {}",
            o.repr()?
        )))
    }
}

fn dtype(name: &str) -> PyResult<DType> {
    Ok(match name {
        "bool" => DType::Bool,
        "int32" => DType::Int32,
        "int64" | "int" => DType::Int64,
        "float32" => DType::Float32,
        "float64" | "float" => DType::Float64,
        "str" | "string" | "utf8" => DType::Utf8,
        other => {
            return Err(PyValueError::new_err(format!(
                "rask.dataframe: cast to bool, int32, int64, float32, float64 or str, not {other}"
            )))
        }
    })
}

impl PyExpr {
    fn bin(&self, op: BinOp, other: &Bound<'_, PyAny>, reflected: bool) -> PyResult<PyExpr> {
        let o = expr_of(other)?;
        let (l, r) = if reflected {
            (o, self.inner.clone())
        } else {
            (self.inner.clone(), o)
        };
        Ok(PyExpr {
            inner: rd::Expr::Binary {
                op,
                left: Box::new(l),
                right: Box::new(r),
            },
        })
    }

    fn wrap(inner: rd::Expr) -> PyExpr {
        PyExpr { inner }
    }
}

#[pymethods]
impl PyExpr {
    fn __add__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Add, o, false)
    }
    fn __radd__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Add, o, true)
    }
    fn __sub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Sub, o, false)
    }
    fn __rsub__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Sub, o, true)
    }
    fn __mul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Mul, o, false)
    }
    fn __rmul__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Mul, o, true)
    }
    fn __truediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Div, o, false)
    }
    fn __rtruediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Div, o, true)
    }
    fn __mod__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Rem, o, false)
    }
    fn __rmod__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Rem, o, true)
    }
    fn __and__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::And, o, false)
    }
    fn __rand__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::And, o, true)
    }
    fn __or__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Or, o, false)
    }
    fn __ror__(&self, o: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        self.bin(BinOp::Or, o, true)
    }

    fn __richcmp__(&self, o: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<PyExpr> {
        let op = match op {
            CompareOp::Lt => BinOp::Lt,
            CompareOp::Le => BinOp::LtEq,
            CompareOp::Eq => BinOp::Eq,
            CompareOp::Ne => BinOp::NotEq,
            CompareOp::Gt => BinOp::Gt,
            CompareOp::Ge => BinOp::GtEq,
        };
        self.bin(op, o, false)
    }

    fn __invert__(&self) -> PyExpr {
        Self::wrap(rd::Expr::Not(Box::new(self.inner.clone())))
    }

    fn __neg__(&self) -> PyExpr {
        Self::wrap(self.inner.clone().negate())
    }

    fn __bool__(&self) -> PyResult<bool> {
        Err(PyTypeError::new_err(
            "rask.dataframe: an expression has no truth value (use & and | to combine conditions)",
        ))
    }

    /// The same values under another name.
    fn alias(&self, name: &str) -> PyExpr {
        Self::wrap(self.inner.clone().alias(name))
    }

    /// A cast to `bool`, `int32`, `int64`, `float32`, `float64` or `str`.
    fn cast(&self, to: &str) -> PyResult<PyExpr> {
        Ok(Self::wrap(self.inner.clone().cast(dtype(to)?)))
    }

    fn is_null(&self) -> PyExpr {
        Self::wrap(self.inner.clone().is_null())
    }

    fn is_not_null(&self) -> PyExpr {
        Self::wrap(self.inner.clone().is_not_null())
    }

    /// Nulls replaced by `value`.
    fn fill_null(&self, value: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
        Ok(Self::wrap(self.inner.clone().fill_null(scalar(value)?)))
    }

    /// Whether a string column starts with `prefix`.
    fn starts_with(&self, prefix: &str) -> PyExpr {
        Self::wrap(self.inner.clone().starts_with(prefix))
    }

    /// The output column's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name()
    }

    fn __repr__(&self) -> String {
        format!("rask.dataframe.Expr({:?})", self.inner)
    }
}

/// A column by name.
#[pyfunction]
pub(crate) fn col(name: &str) -> PyExpr {
    PyExpr::wrap(rd::col(name))
}

/// A literal (None, bool, int, float, str).
#[pyfunction]
pub(crate) fn lit(value: &Bound<'_, PyAny>) -> PyResult<PyExpr> {
    Ok(PyExpr::wrap(rd::Expr::Lit(scalar(value)?)))
}

/// An aggregation of one column, for `groupby(...).agg(...)`.
#[pyclass(module = "rask.dataframe", name = "Agg", frozen, skip_from_py_object)]
#[derive(Clone)]
pub(crate) struct PyAgg {
    pub(crate) inner: Agg,
}

#[pymethods]
impl PyAgg {
    /// The output column's name.
    fn alias(&self, name: &str) -> PyAgg {
        PyAgg {
            inner: self.inner.clone().alias(name),
        }
    }

    fn __repr__(&self) -> String {
        format!("rask.dataframe.Agg({:?})", self.inner)
    }
}

/// An aggregation function by name (`"sum"`, `"mean"`, ...).
pub(crate) fn agg_func(name: &str) -> PyResult<AggFunc> {
    Ok(match name {
        "sum" => AggFunc::Sum,
        "mean" => AggFunc::Mean,
        "count" => AggFunc::Count,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "var" => AggFunc::Var,
        "std" => AggFunc::Std,
        "first" => AggFunc::First,
        "last" => AggFunc::Last,
        "n_unique" | "nunique" => AggFunc::NUnique,
        other => {
            return Err(PyValueError::new_err(format!(
                "rask.dataframe: the aggregations are sum, mean, count, min, max, var, std, \
                 first, last and n_unique, not {other}"
            )))
        }
    })
}

macro_rules! aggs {
    ($($fname:ident $name:literal => $f:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", $name, "` of a column, per group.")]
            #[pyfunction]
            #[pyo3(name = $name)]
            fn $fname(column: &str) -> PyAgg {
                PyAgg { inner: Agg::new(column, AggFunc::$f) }
            }
        )*
        /// Adds `col`, `lit` and the aggregation functions to `m`.
        pub(crate) fn add_functions(m: &Bound<'_, PyModule>) -> PyResult<()> {
            m.add_function(wrap_pyfunction!(col, m)?)?;
            m.add_function(wrap_pyfunction!(lit, m)?)?;
            $( m.add_function(wrap_pyfunction!($fname, m)?)?; )*
            Ok(())
        }
    };
}

aggs!(
    agg_sum "sum" => Sum, agg_mean "mean" => Mean, agg_count "count" => Count,
    agg_min "min" => Min, agg_max "max" => Max, agg_var "var" => Var, agg_std "std" => Std,
    agg_first "first" => First, agg_last "last" => Last, agg_n_unique "n_unique" => NUnique,
);
