//! Literal values ([`Scalar`]) and cast targets ([`DType`]), each with its
//! Arrow type. A literal is turned into a one-element array when an
//! expression is evaluated; its type decides how the other operand is
//! coerced (see `typing.rs`).

use std::sync::Arc;

use arrow::array::{
    new_null_array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array,
    DurationMicrosecondArray, DurationMillisecondArray, DurationNanosecondArray,
    DurationSecondArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow::datatypes::{DataType, TimeUnit as ArrowUnit};
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};

/// A time unit of timestamps and durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeUnit {
    /// Seconds.
    Second,
    /// Milliseconds.
    Millisecond,
    /// Microseconds.
    Microsecond,
    /// Nanoseconds.
    Nanosecond,
}

impl TimeUnit {
    /// The Arrow unit.
    pub fn to_arrow(self) -> ArrowUnit {
        match self {
            TimeUnit::Second => ArrowUnit::Second,
            TimeUnit::Millisecond => ArrowUnit::Millisecond,
            TimeUnit::Microsecond => ArrowUnit::Microsecond,
            TimeUnit::Nanosecond => ArrowUnit::Nanosecond,
        }
    }

    /// From an Arrow unit.
    pub fn from_arrow(u: &ArrowUnit) -> Self {
        match u {
            ArrowUnit::Second => TimeUnit::Second,
            ArrowUnit::Millisecond => TimeUnit::Millisecond,
            ArrowUnit::Microsecond => TimeUnit::Microsecond,
            ArrowUnit::Nanosecond => TimeUnit::Nanosecond,
        }
    }

    /// Units per second.
    pub fn per_second(self) -> i64 {
        match self {
            TimeUnit::Second => 1,
            TimeUnit::Millisecond => 1_000,
            TimeUnit::Microsecond => 1_000_000,
            TimeUnit::Nanosecond => 1_000_000_000,
        }
    }
}

/// A literal value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// Null (of the other operand's type).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    Str(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// Days since 1970-01-01.
    Date32(i32),
    /// Milliseconds since 1970-01-01 (a date).
    Date64(i64),
    /// A point in time: `value` units since 1970-01-01T00:00:00 UTC,
    /// shown in time zone `tz` (none: a wall-clock time).
    Timestamp {
        /// Units since the epoch.
        value: i64,
        /// The unit.
        unit: TimeUnit,
        /// An IANA name (`Europe/Paris`) or an offset (`+02:00`).
        tz: Option<String>,
    },
    /// A length of time.
    Duration {
        /// Units.
        value: i64,
        /// The unit.
        unit: TimeUnit,
    },
    /// An exact decimal: `value / 10^scale`.
    Decimal {
        /// The unscaled value.
        value: i128,
        /// Total digits (1..=38).
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
}

impl Scalar {
    /// A date, or an error for an impossible one.
    pub fn date(year: i32, month: u32, day: u32) -> Result<Scalar> {
        let d = chrono::NaiveDate::from_ymd_opt(year, month, day)
            .ok_or_else(|| FrameError::Invalid(format!("no date {year:04}-{month:02}-{day:02}")))?;
        Ok(Scalar::Date32(days_since_epoch(d)))
    }

    /// A timestamp parsed from `2024-03-01T12:00:00` (also with a space, a
    /// fraction, and an offset or `Z`), stored in `unit`, shown in `tz`.
    pub fn timestamp(text: &str, unit: TimeUnit, tz: Option<&str>) -> Result<Scalar> {
        // With an offset (`Z`, `+02:00`): that instant; without: a wall
        // clock time in `tz`.
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
            let u = t.to_utc();
            let value = match unit {
                TimeUnit::Second => Some(u.timestamp()),
                TimeUnit::Millisecond => Some(u.timestamp_millis()),
                TimeUnit::Microsecond => Some(u.timestamp_micros()),
                TimeUnit::Nanosecond => u.timestamp_nanos_opt(),
            }
            .ok_or_else(|| FrameError::Invalid(format!("timestamp {text:?} out of range")))?;
            return Ok(Scalar::Timestamp {
                value,
                unit,
                tz: tz.map(str::to_string),
            });
        }
        let t = DataType::Timestamp(unit.to_arrow(), tz.map(Arc::from));
        let a = arrow::compute::cast(&(Arc::new(StringArray::from(vec![text])) as ArrayRef), &t)
            .map_err(|e| FrameError::Invalid(format!("timestamp {text:?}: {e}")))?;
        if a.is_null(0) {
            return Err(FrameError::Invalid(format!("timestamp {text:?}")));
        }
        let v = arrow::compute::cast(&a, &DataType::Int64)?;
        let v = v
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(0))
            .ok_or_else(|| FrameError::Invalid(format!("timestamp {text:?}")))?;
        Ok(Scalar::Timestamp {
            value: v,
            unit,
            tz: tz.map(str::to_string),
        })
    }

    /// A decimal parsed from text (`"12.340"` is precision 5, scale 3).
    pub fn decimal(text: &str) -> Result<Scalar> {
        let bad = || FrameError::Invalid(format!("not a decimal: {text:?}"));
        let t = text.trim();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let all = format!("{int}{frac}");
        let value: i128 = all.parse().map_err(|_| bad())?;
        let precision = all.trim_start_matches('0').len().max(frac.len()).max(1);
        if precision > 38 {
            return Err(bad());
        }
        Ok(Scalar::Decimal {
            value: if neg { -value } else { value },
            precision: precision as u8,
            scale: frac.len() as i8,
        })
    }

    /// The Arrow type of the literal (`Null` for null).
    pub fn data_type(&self) -> DataType {
        match self {
            Scalar::Null => DataType::Null,
            Scalar::Bool(_) => DataType::Boolean,
            Scalar::Int(_) => DataType::Int64,
            Scalar::Float(_) => DataType::Float64,
            Scalar::Str(_) => DataType::Utf8,
            Scalar::Binary(_) => DataType::Binary,
            Scalar::Date32(_) => DataType::Date32,
            Scalar::Date64(_) => DataType::Date64,
            Scalar::Timestamp { unit, tz, .. } => {
                DataType::Timestamp(unit.to_arrow(), tz.as_deref().map(Arc::from))
            }
            Scalar::Duration { unit, .. } => DataType::Duration(unit.to_arrow()),
            Scalar::Decimal {
                precision, scale, ..
            } => DataType::Decimal128(*precision, *scale),
        }
    }

    /// The literal as a one-element array.
    pub fn to_array(&self) -> Result<ArrayRef> {
        Ok(match self {
            Scalar::Null => new_null_array(&DataType::Null, 1),
            Scalar::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
            Scalar::Int(i) => Arc::new(Int64Array::from(vec![*i])),
            Scalar::Float(x) => Arc::new(Float64Array::from(vec![*x])),
            Scalar::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
            Scalar::Binary(b) => Arc::new(BinaryArray::from(vec![b.as_slice()])),
            Scalar::Date32(d) => Arc::new(Date32Array::from(vec![*d])),
            Scalar::Date64(d) => Arc::new(Date64Array::from(vec![*d])),
            Scalar::Timestamp { value, unit, tz } => {
                // The value is an instant: the zone only tags it.
                let v = vec![*value];
                let tz = tz.as_deref().map(Arc::<str>::from);
                match unit {
                    TimeUnit::Second => {
                        Arc::new(TimestampSecondArray::from(v).with_timezone_opt(tz))
                    }
                    TimeUnit::Millisecond => {
                        Arc::new(TimestampMillisecondArray::from(v).with_timezone_opt(tz))
                    }
                    TimeUnit::Microsecond => {
                        Arc::new(TimestampMicrosecondArray::from(v).with_timezone_opt(tz))
                    }
                    TimeUnit::Nanosecond => {
                        Arc::new(TimestampNanosecondArray::from(v).with_timezone_opt(tz))
                    }
                }
            }
            Scalar::Duration { value, unit } => {
                let v = vec![*value];
                match unit {
                    TimeUnit::Second => Arc::new(DurationSecondArray::from(v)),
                    TimeUnit::Millisecond => Arc::new(DurationMillisecondArray::from(v)),
                    TimeUnit::Microsecond => Arc::new(DurationMicrosecondArray::from(v)),
                    TimeUnit::Nanosecond => Arc::new(DurationNanosecondArray::from(v)),
                }
            }
            Scalar::Decimal {
                value,
                precision,
                scale,
            } => Arc::new(
                Decimal128Array::from(vec![*value]).with_precision_and_scale(*precision, *scale)?,
            ),
        })
    }
}

/// Days from 1970-01-01 to `d`.
pub(crate) fn days_since_epoch(d: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days() as i32
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Null => write!(f, "null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x:?}"),
            Scalar::Str(s) => write!(f, "{s:?}"),
            Scalar::Binary(b) => write!(f, "b{:?}", String::from_utf8_lossy(b)),
            _ => {
                // Dates, times and decimals as Arrow prints them.
                let text = self
                    .to_array()
                    .ok()
                    .and_then(|a| arrow::util::display::array_value_to_string(a.as_ref(), 0).ok())
                    .unwrap_or_else(|| format!("{self:?}"));
                match self {
                    Scalar::Date32(_) | Scalar::Date64(_) => write!(f, "date({text})"),
                    Scalar::Timestamp { .. } => write!(f, "timestamp({text})"),
                    Scalar::Duration { .. } => write!(f, "duration({text})"),
                    _ => write!(f, "{text}"),
                }
            }
        }
    }
}

macro_rules! scalar_from {
    ($($t:ty => |$v:ident| $e:expr),*) => {$(
        impl From<$t> for Scalar {
            fn from($v: $t) -> Self { $e }
        }
    )*};
}
scalar_from!(i64 => |v| Scalar::Int(v), i32 => |v| Scalar::Int(i64::from(v)),
    u32 => |v| Scalar::Int(i64::from(v)), f64 => |v| Scalar::Float(v),
    f32 => |v| Scalar::Float(f64::from(v)), bool => |v| Scalar::Bool(v),
    &str => |v| Scalar::Str(v.to_string()), String => |v| Scalar::Str(v),
    Vec<u8> => |v| Scalar::Binary(v));

/// A column type, for casts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    /// `Boolean`.
    Bool,
    /// `Int8`.
    Int8,
    /// `Int16`.
    Int16,
    /// `Int32`.
    Int32,
    /// `Int64`.
    Int64,
    /// `UInt8`.
    UInt8,
    /// `UInt16`.
    UInt16,
    /// `UInt32`.
    UInt32,
    /// `UInt64`.
    UInt64,
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Utf8`.
    Utf8,
    /// `LargeUtf8`.
    LargeUtf8,
    /// `Utf8View`.
    Utf8View,
    /// `Binary`.
    Binary,
    /// `BinaryView`.
    BinaryView,
    /// `Date32` (days).
    Date32,
    /// `Date64` (milliseconds).
    Date64,
    /// A timestamp in a unit, in a time zone or none.
    Timestamp(TimeUnit, Option<String>),
    /// A duration in a unit.
    Duration(TimeUnit),
    /// `Decimal128(precision, scale)`.
    Decimal128(u8, i8),
    /// `Dictionary(Int32, Utf8)`: strings stored once per distinct value.
    Categorical,
}

impl DType {
    /// The Arrow type.
    pub fn to_arrow(&self) -> DataType {
        match self {
            DType::Bool => DataType::Boolean,
            DType::Int8 => DataType::Int8,
            DType::Int16 => DataType::Int16,
            DType::Int32 => DataType::Int32,
            DType::Int64 => DataType::Int64,
            DType::UInt8 => DataType::UInt8,
            DType::UInt16 => DataType::UInt16,
            DType::UInt32 => DataType::UInt32,
            DType::UInt64 => DataType::UInt64,
            DType::Float32 => DataType::Float32,
            DType::Float64 => DataType::Float64,
            DType::Utf8 => DataType::Utf8,
            DType::LargeUtf8 => DataType::LargeUtf8,
            DType::Utf8View => DataType::Utf8View,
            DType::Binary => DataType::Binary,
            DType::BinaryView => DataType::BinaryView,
            DType::Date32 => DataType::Date32,
            DType::Date64 => DataType::Date64,
            DType::Timestamp(u, tz) => {
                DataType::Timestamp(u.to_arrow(), tz.as_deref().map(Arc::from))
            }
            DType::Duration(u) => DataType::Duration(u.to_arrow()),
            DType::Decimal128(p, s) => DataType::Decimal128(*p, *s),
            DType::Categorical => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_parse_and_print() {
        assert_eq!(Scalar::date(1970, 1, 2).expect("date"), Scalar::Date32(1));
        assert!(Scalar::date(2023, 2, 29).is_err());
        assert_eq!(
            Scalar::decimal("-12.340").expect("decimal"),
            Scalar::Decimal {
                value: -12340,
                precision: 5,
                scale: 3
            }
        );
        assert!(Scalar::decimal("1.2.3").is_err());
        assert!(Scalar::decimal(".").is_err());
        let t = Scalar::timestamp("1970-01-01T00:00:01", TimeUnit::Millisecond, None)
            .expect("timestamp");
        assert_eq!(
            t,
            Scalar::Timestamp {
                value: 1000,
                unit: TimeUnit::Millisecond,
                tz: None
            }
        );
        assert_eq!(Scalar::Date32(1).to_string(), "date(1970-01-02)");
        assert!(Scalar::timestamp("yesterday", TimeUnit::Second, None).is_err());
    }
}
