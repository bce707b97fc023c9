//! Column expressions: a plain serde tree, checked against a schema when the
//! graph is built ([`Expr::data_type`], rules in `typing.rs`) and evaluated
//! per partition with the Arrow kernels ([`Expr::evaluate`], `eval.rs`).
//!
//! Null rules: arithmetic, comparisons, string and date functions give
//! null where an input is null; `&`, `|`, `!` follow Kleene logic; a
//! filter keeps only rows where its predicate is true; `is_in` gives null
//! for a null value and never matches a null in its list; `when` takes the
//! first branch whose condition is true (null counts as false).

mod eval;
mod scalar;
mod strings;
mod temporal;
pub(crate) mod typing;

use std::fmt;

pub use scalar::{DType, Scalar, TimeUnit};
pub use strings::StrFn;
pub use temporal::{DatePart, DtFn};
pub(crate) use typing::{index_of, logical};

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (true division: `Float64` for integers and floats)
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `&` (Kleene)
    And,
    /// `|` (Kleene)
    Or,
}

impl BinOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::NotEq => "!=",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "&",
            BinOp::Or => "|",
        }
    }

    pub(crate) fn is_arith(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem
        )
    }

    pub(crate) fn is_cmp(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
        )
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub(crate) fn flipped(self) -> BinOp {
        match self {
            BinOp::Lt => BinOp::Gt,
            BinOp::LtEq => BinOp::GtEq,
            BinOp::Gt => BinOp::Lt,
            BinOp::GtEq => BinOp::LtEq,
            o => o,
        }
    }
}

/// A column expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A column by name.
    Col(String),
    /// A literal.
    Lit(Scalar),
    /// `left op right`.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// Boolean negation.
    Not(Box<Expr>),
    /// Arithmetic negation.
    Neg(Box<Expr>),
    /// True where the value is null.
    IsNull(Box<Expr>),
    /// True where the value is not null.
    IsNotNull(Box<Expr>),
    /// Nulls replaced by a literal.
    FillNull(Box<Expr>, Scalar),
    /// A cast.
    Cast(Box<Expr>, DType),
    /// True where the value is one of a list.
    IsIn(Box<Expr>, Vec<Scalar>),
    /// The value of the first branch whose condition is true, else `otherwise`.
    When {
        /// (condition, value) pairs, in order.
        branches: Vec<(Expr, Expr)>,
        /// The value where no condition is true.
        otherwise: Box<Expr>,
    },
    /// A string function.
    Str(Box<Expr>, StrFn),
    /// A date or time function.
    Dt(Box<Expr>, DtFn),
    /// A renamed expression.
    Alias(Box<Expr>, String),
}

/// A column: `col("v1")`.
pub fn col(name: &str) -> Expr {
    Expr::Col(name.to_string())
}

/// A literal: `lit(3)`, `lit(2.5)`, `lit("id001")`, `lit(true)`,
/// `lit(Scalar::date(2024, 1, 31)?)`.
pub fn lit(v: impl Into<Scalar>) -> Expr {
    Expr::Lit(v.into())
}

/// A null literal.
pub fn null() -> Expr {
    Expr::Lit(Scalar::Null)
}

/// A date literal (`Date32`), or an error for an impossible date.
pub fn date(year: i32, month: u32, day: u32) -> Result<Expr> {
    Ok(Expr::Lit(Scalar::date(year, month, day)?))
}

/// A decimal literal from its text (`decimal("19.99")`).
pub fn decimal(text: &str) -> Result<Expr> {
    Ok(Expr::Lit(Scalar::decimal(text)?))
}

/// A duration literal.
pub fn duration(value: i64, unit: TimeUnit) -> Expr {
    Expr::Lit(Scalar::Duration { value, unit })
}

/// Starts a conditional: `when(cond).then(a).when(c2).then(b).otherwise(c)`.
pub fn when(condition: Expr) -> When {
    When {
        branches: Vec::new(),
        pending: condition,
    }
}

/// A conditional waiting for the value of its last condition.
#[derive(Clone, Debug)]
pub struct When {
    branches: Vec<(Expr, Expr)>,
    pending: Expr,
}

/// A conditional with at least one branch; finish with
/// [`otherwise`](Then::otherwise) (or [`end`](Then::end) for null).
#[derive(Clone, Debug)]
pub struct Then {
    branches: Vec<(Expr, Expr)>,
}

impl When {
    /// The value where the condition holds.
    pub fn then(mut self, value: impl Into<Expr>) -> Then {
        self.branches.push((self.pending, value.into()));
        Then {
            branches: self.branches,
        }
    }
}

impl Then {
    /// Another condition, tried when the earlier ones do not hold.
    pub fn when(self, condition: Expr) -> When {
        When {
            branches: self.branches,
            pending: condition,
        }
    }
    /// The value where no condition holds.
    pub fn otherwise(self, value: impl Into<Expr>) -> Expr {
        Expr::When {
            branches: self.branches,
            otherwise: Box::new(value.into()),
        }
    }
    /// Null where no condition holds.
    pub fn end(self) -> Expr {
        self.otherwise(null())
    }
}

impl From<Scalar> for Expr {
    fn from(s: Scalar) -> Self {
        Expr::Lit(s)
    }
}

macro_rules! expr_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Expr {
            fn from(v: $t) -> Self { lit(v) }
        }
    )*};
}
expr_from!(i32, i64, u32, f64, f32, bool, &str, String);

macro_rules! binop_methods {
    ($($m:ident => $op:ident),*) => {
        impl Expr {
            $(
                #[doc = concat!("`self ", stringify!($m), " other`.")]
                pub fn $m(self, other: impl Into<Expr>) -> Expr {
                    Expr::Binary { op: BinOp::$op, left: Box::new(self), right: Box::new(other.into()) }
                }
            )*
        }
    };
}

binop_methods!(eq => Eq, not_eq => NotEq, lt => Lt, lt_eq => LtEq, gt => Gt, gt_eq => GtEq,
    and => And, or => Or);

macro_rules! arith_ops {
    ($($tr:ident $m:ident => $op:ident),*) => {$(
        impl<R: Into<Expr>> std::ops::$tr<R> for Expr {
            type Output = Expr;
            fn $m(self, other: R) -> Expr {
                Expr::Binary { op: BinOp::$op, left: Box::new(self), right: Box::new(other.into()) }
            }
        }
    )*};
}

arith_ops!(Add add => Add, Sub sub => Sub, Mul mul => Mul, Div div => Div, Rem rem => Rem);

impl std::ops::Not for Expr {
    type Output = Expr;
    fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

impl Expr {
    /// Arithmetic negation (`-self`); `!expr` negates booleans.
    pub fn negate(self) -> Expr {
        Expr::Neg(Box::new(self))
    }
    /// True where null.
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    /// True where not null.
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }
    /// Nulls replaced by `v`.
    pub fn fill_null(self, v: impl Into<Scalar>) -> Expr {
        Expr::FillNull(Box::new(self), v.into())
    }
    /// A cast to `to`.
    pub fn cast(self, to: DType) -> Expr {
        Expr::Cast(Box::new(self), to)
    }
    /// `low <= self <= high` (both ends included).
    pub fn between(self, low: impl Into<Expr>, high: impl Into<Expr>) -> Expr {
        self.clone().gt_eq(low).and(self.lt_eq(high))
    }
    /// True where the value is one of `values`.
    pub fn is_in<S: Into<Scalar>>(self, values: impl IntoIterator<Item = S>) -> Expr {
        Expr::IsIn(Box::new(self), values.into_iter().map(Into::into).collect())
    }
    /// True where the string contains `pattern` (plain text, not a regex).
    pub fn contains(self, pattern: &str) -> Expr {
        Expr::Str(Box::new(self), StrFn::Contains(pattern.to_string()))
    }
    /// True where the string starts with `prefix`.
    pub fn starts_with(self, prefix: &str) -> Expr {
        Expr::Str(Box::new(self), StrFn::StartsWith(prefix.to_string()))
    }
    /// True where the string ends with `suffix`.
    pub fn ends_with(self, suffix: &str) -> Expr {
        Expr::Str(Box::new(self), StrFn::EndsWith(suffix.to_string()))
    }
    /// The string in lower case (Unicode).
    pub fn lower(self) -> Expr {
        Expr::Str(Box::new(self), StrFn::Lower)
    }
    /// The string in upper case (Unicode).
    pub fn upper(self) -> Expr {
        Expr::Str(Box::new(self), StrFn::Upper)
    }
    /// The string's length in characters (`Int64`).
    pub fn str_len(self) -> Expr {
        Expr::Str(Box::new(self), StrFn::Len)
    }
    /// `length` characters from character `offset` (negative: from the
    /// end); `None` takes the rest.
    pub fn str_slice(self, offset: i64, length: Option<u64>) -> Expr {
        Expr::Str(Box::new(self), StrFn::Slice { offset, length })
    }
    /// Every occurrence of `from` (plain text) replaced by `to`.
    pub fn replace(self, from: &str, to: &str) -> Expr {
        Expr::Str(
            Box::new(self),
            StrFn::Replace {
                from: from.to_string(),
                to: to.to_string(),
            },
        )
    }
    /// A part of a date or timestamp (`Int32`), in the value's time zone.
    pub fn dt(self, part: DatePart) -> Expr {
        Expr::Dt(Box::new(self), DtFn::Part(part))
    }
    /// The date or timestamp truncated to the start of its `unit`
    /// (same type; in the value's time zone).
    pub fn dt_truncate(self, unit: DatePart) -> Expr {
        Expr::Dt(Box::new(self), DtFn::Truncate(unit))
    }
    /// The same values under another name (replacing an earlier alias).
    pub fn alias(self, name: &str) -> Expr {
        match self {
            Expr::Alias(e, _) => Expr::Alias(e, name.to_string()),
            e => Expr::Alias(Box::new(e), name.to_string()),
        }
    }

    /// The output column's name: an alias, the column's own name, or the
    /// expression's text.
    pub fn name(&self) -> String {
        match self {
            Expr::Alias(_, n) | Expr::Col(n) => n.clone(),
            other => other.to_string(),
        }
    }

    /// The expression's direct sub-expressions.
    pub(crate) fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Col(_) | Expr::Lit(_) => Vec::new(),
            Expr::Binary { left, right, .. } => vec![left, right],
            Expr::When {
                branches,
                otherwise,
            } => {
                let mut v: Vec<&Expr> = branches.iter().flat_map(|(c, e)| [c, e]).collect();
                v.push(otherwise);
                v
            }
            Expr::Not(e)
            | Expr::Neg(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::FillNull(e, _)
            | Expr::Cast(e, _)
            | Expr::IsIn(e, _)
            | Expr::Str(e, _)
            | Expr::Dt(e, _)
            | Expr::Alias(e, _) => vec![e],
        }
    }

    /// The columns this expression reads, added to `out` once each.
    pub fn columns(&self, out: &mut Vec<String>) {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            if let Expr::Col(n) = e {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            let mut c = e.children();
            c.reverse();
            stack.extend(c);
        }
    }

    /// The columns this expression reads.
    pub(crate) fn column_list(&self) -> Vec<String> {
        let mut v = Vec::new();
        self.columns(&mut v);
        v
    }

    /// The same expression with columns renamed by `f` (`None` keeps a name).
    pub(crate) fn rename(&self, f: &dyn Fn(&str) -> Option<String>) -> Expr {
        match self {
            Expr::Col(n) => Expr::Col(f(n).unwrap_or_else(|| n.clone())),
            Expr::Lit(_) => self.clone(),
            Expr::Binary { op, left, right } => Expr::Binary {
                op: *op,
                left: Box::new(left.rename(f)),
                right: Box::new(right.rename(f)),
            },
            Expr::When {
                branches,
                otherwise,
            } => Expr::When {
                branches: branches
                    .iter()
                    .map(|(c, e)| (c.rename(f), e.rename(f)))
                    .collect(),
                otherwise: Box::new(otherwise.rename(f)),
            },
            Expr::Not(e) => Expr::Not(Box::new(e.rename(f))),
            Expr::Neg(e) => Expr::Neg(Box::new(e.rename(f))),
            Expr::IsNull(e) => Expr::IsNull(Box::new(e.rename(f))),
            Expr::IsNotNull(e) => Expr::IsNotNull(Box::new(e.rename(f))),
            Expr::FillNull(e, s) => Expr::FillNull(Box::new(e.rename(f)), s.clone()),
            Expr::Cast(e, t) => Expr::Cast(Box::new(e.rename(f)), t.clone()),
            Expr::IsIn(e, v) => Expr::IsIn(Box::new(e.rename(f)), v.clone()),
            Expr::Str(e, s) => Expr::Str(Box::new(e.rename(f)), s.clone()),
            Expr::Dt(e, d) => Expr::Dt(Box::new(e.rename(f)), d.clone()),
            Expr::Alias(e, n) => Expr::Alias(Box::new(e.rename(f)), n.clone()),
        }
    }

    /// The expression without its alias.
    pub(crate) fn unaliased(&self) -> &Expr {
        match self {
            Expr::Alias(e, _) => e.unaliased(),
            e => e,
        }
    }

    /// The terms of a conjunction (`a & b & c` gives `[a, b, c]`).
    pub(crate) fn conjuncts(&self) -> Vec<Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Binary {
                    op: BinOp::And,
                    left,
                    right,
                } => {
                    stack.push(right);
                    stack.push(left);
                }
                e => out.push(e.clone()),
            }
        }
        out
    }

    /// The conjunction of terms (`None` for none).
    pub(crate) fn all(terms: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        terms.into_iter().reduce(|a, b| a.and(b))
    }

    /// The column an error about this expression names: its first column,
    /// or the expression's text.
    pub(crate) fn blame(&self) -> String {
        self.column_list()
            .into_iter()
            .next()
            .unwrap_or_else(|| self.to_string())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Col(n) => write!(f, "col({n:?})"),
            Expr::Lit(s) => write!(f, "{s}"),
            Expr::Binary { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Not(e) => write!(f, "!{e}"),
            Expr::Neg(e) => write!(f, "-{e}"),
            Expr::IsNull(e) => write!(f, "{e}.is_null()"),
            Expr::IsNotNull(e) => write!(f, "{e}.is_not_null()"),
            Expr::FillNull(e, v) => write!(f, "{e}.fill_null({v})"),
            Expr::Cast(e, t) => write!(f, "{e}.cast({t:?})"),
            Expr::IsIn(e, v) => {
                write!(f, "{e}.is_in([")?;
                for (i, s) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{s}")?;
                }
                write!(f, "])")
            }
            Expr::When {
                branches,
                otherwise,
            } => {
                for (c, v) in branches {
                    write!(f, "when({c}).then({v}).")?;
                }
                write!(f, "otherwise({otherwise})")
            }
            Expr::Str(e, s) => write!(f, "{e}.{s}"),
            Expr::Dt(e, d) => write!(f, "{e}.{d}"),
            Expr::Alias(e, n) => write!(f, "{e}.alias({n:?})"),
        }
    }
}
