//! Date and time functions: parts (`year`, `month`, ..., `Int32`) and
//! truncation (to the start of a year, quarter, month, ISO week, day,
//! hour, minute, second, millisecond or microsecond, keeping the type).
//!
//! Timestamps with a time zone are taken apart and truncated in that zone
//! (a day starts at local midnight), then stored back as UTC instants; a
//! local time that a clock change skips or repeats resolves to its earliest
//! instant. Timestamps without a zone are wall-clock times.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Date64Array, PrimitiveArray};
use arrow::compute::kernels::temporal::{date_part, DatePart as ArrowPart};
use arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit as ArrowUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};

/// A part of a date or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DatePart {
    /// The year.
    Year,
    /// 1 to 4.
    Quarter,
    /// 1 to 12.
    Month,
    /// ISO week of the year, 1 to 53.
    Week,
    /// Day of the month, 1 to 31.
    Day,
    /// ISO day of the week: Monday 1 to Sunday 7.
    Weekday,
    /// Day of the year, 1 to 366.
    DayOfYear,
    /// 0 to 23.
    Hour,
    /// 0 to 59.
    Minute,
    /// 0 to 59.
    Second,
    /// Milliseconds within the second.
    Millisecond,
    /// Microseconds within the second.
    Microsecond,
    /// Nanoseconds within the second.
    Nanosecond,
}

impl DatePart {
    fn name(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Quarter => "quarter",
            DatePart::Month => "month",
            DatePart::Week => "week",
            DatePart::Day => "day",
            DatePart::Weekday => "weekday",
            DatePart::DayOfYear => "day_of_year",
            DatePart::Hour => "hour",
            DatePart::Minute => "minute",
            DatePart::Second => "second",
            DatePart::Millisecond => "millisecond",
            DatePart::Microsecond => "microsecond",
            DatePart::Nanosecond => "nanosecond",
        }
    }

    fn arrow(self) -> ArrowPart {
        match self {
            DatePart::Year => ArrowPart::Year,
            DatePart::Quarter => ArrowPart::Quarter,
            DatePart::Month => ArrowPart::Month,
            DatePart::Week => ArrowPart::WeekISO,
            DatePart::Day => ArrowPart::Day,
            DatePart::Weekday => ArrowPart::DayOfWeekMonday1,
            DatePart::DayOfYear => ArrowPart::DayOfYear,
            DatePart::Hour => ArrowPart::Hour,
            DatePart::Minute => ArrowPart::Minute,
            DatePart::Second => ArrowPart::Second,
            DatePart::Millisecond => ArrowPart::Millisecond,
            DatePart::Microsecond => ArrowPart::Microsecond,
            DatePart::Nanosecond => ArrowPart::Nanosecond,
        }
    }

    /// Whether a value can be truncated to this unit.
    fn truncates(self) -> bool {
        !matches!(
            self,
            DatePart::Weekday | DatePart::DayOfYear | DatePart::Nanosecond
        )
    }
}

/// A date or time function.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DtFn {
    /// A part, as `Int32`.
    Part(DatePart),
    /// The start of the unit the value falls in.
    Truncate(DatePart),
}

impl fmt::Display for DtFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtFn::Part(p) => write!(f, "dt.{}()", p.name()),
            DtFn::Truncate(p) => write!(f, "dt.truncate({})", p.name()),
        }
    }
}

impl DtFn {
    /// Whether the function is defined (a truncation needs a unit).
    pub(crate) fn valid(&self) -> bool {
        match self {
            DtFn::Part(_) => true,
            DtFn::Truncate(p) => p.truncates(),
        }
    }

    /// Applies the function to a date or timestamp column.
    pub(crate) fn apply(&self, a: &ArrayRef) -> Result<ArrayRef> {
        if *a.data_type() == DataType::Null {
            return Ok(arrow::array::new_null_array(&DataType::Int32, a.len()));
        }
        match self {
            DtFn::Part(p) => Ok(date_part(a.as_ref(), p.arrow())?),
            DtFn::Truncate(u) if u.truncates() => truncate(a, *u),
            DtFn::Truncate(u) => Err(FrameError::Invalid(format!(
                "cannot truncate to a {}",
                u.name()
            ))),
        }
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// The first day of the unit `d` falls in (day or finer: `d`).
fn trunc_date(d: NaiveDate, u: DatePart) -> NaiveDate {
    let ymd = |y, m| NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d);
    match u {
        DatePart::Year => ymd(d.year(), 1),
        DatePart::Quarter => ymd(d.year(), (d.month() - 1) / 3 * 3 + 1),
        DatePart::Month => ymd(d.year(), d.month()),
        DatePart::Week => d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday())),
        _ => d,
    }
}

/// The start of the unit a wall-clock time falls in.
fn trunc_datetime(t: NaiveDateTime, u: DatePart) -> NaiveDateTime {
    let (h, m, s, ns) = (t.hour(), t.minute(), t.second(), t.nanosecond());
    let time = match u {
        DatePart::Hour => NaiveTime::from_hms_opt(h, 0, 0),
        DatePart::Minute => NaiveTime::from_hms_opt(h, m, 0),
        DatePart::Second => NaiveTime::from_hms_opt(h, m, s),
        DatePart::Millisecond => NaiveTime::from_hms_nano_opt(h, m, s, ns / 1_000_000 * 1_000_000),
        DatePart::Microsecond => NaiveTime::from_hms_nano_opt(h, m, s, ns / 1_000 * 1_000),
        _ => Some(NaiveTime::MIN),
    };
    trunc_date(t.date(), u).and_time(time.unwrap_or(NaiveTime::MIN))
}

fn truncate(a: &ArrayRef, u: DatePart) -> Result<ArrayRef> {
    match a.data_type() {
        DataType::Date32 => {
            let d = a.as_primitive::<arrow::datatypes::Date32Type>();
            let e = epoch();
            let out: Date32Array = d.unary(|v| {
                let day = e + chrono::Duration::days(i64::from(v));
                (trunc_date(day, u) - e).num_days() as i32
            });
            Ok(Arc::new(out))
        }
        DataType::Date64 => {
            let d = a.as_primitive::<arrow::datatypes::Date64Type>();
            let e = epoch();
            const MS_DAY: i64 = 86_400_000;
            let out: Date64Array = d.unary(|v| {
                let day = e + chrono::Duration::days(v.div_euclid(MS_DAY));
                (trunc_date(day, u) - e).num_days() * MS_DAY
            });
            Ok(Arc::new(out))
        }
        DataType::Timestamp(unit, tz) => {
            let tz = tz.as_deref();
            match unit {
                ArrowUnit::Second => trunc_ts::<TimestampSecondType>(a, u, tz),
                ArrowUnit::Millisecond => trunc_ts::<TimestampMillisecondType>(a, u, tz),
                ArrowUnit::Microsecond => trunc_ts::<TimestampMicrosecondType>(a, u, tz),
                ArrowUnit::Nanosecond => trunc_ts::<TimestampNanosecondType>(a, u, tz),
            }
        }
        t => Err(FrameError::Invalid(format!("cannot truncate {t}"))),
    }
}

/// Units of `T` in one `u` (for units of fixed length).
fn fixed_len<T: ArrowTimestampType>(u: DatePart) -> Option<i64> {
    let per_s = match T::UNIT {
        ArrowUnit::Second => 1,
        ArrowUnit::Millisecond => 1_000,
        ArrowUnit::Microsecond => 1_000_000,
        ArrowUnit::Nanosecond => 1_000_000_000,
    };
    let len = match u {
        DatePart::Day => per_s * 86_400,
        DatePart::Hour => per_s * 3_600,
        DatePart::Minute => per_s * 60,
        DatePart::Second => per_s,
        DatePart::Millisecond => per_s / 1_000,
        DatePart::Microsecond => per_s / 1_000_000,
        _ => return None,
    };
    Some(len.max(1))
}

fn to_units<T: ArrowTimestampType>(t: NaiveDateTime) -> Option<i64> {
    let u = t.and_utc();
    match T::UNIT {
        ArrowUnit::Second => Some(u.timestamp()),
        ArrowUnit::Millisecond => Some(u.timestamp_millis()),
        ArrowUnit::Microsecond => Some(u.timestamp_micros()),
        ArrowUnit::Nanosecond => u.timestamp_nanos_opt(),
    }
}

fn trunc_ts<T: ArrowTimestampType>(
    a: &ArrayRef,
    u: DatePart,
    tz: Option<&str>,
) -> Result<ArrayRef> {
    let p = a.as_primitive::<T>();
    let utc = tz.is_none_or(|z| matches!(z, "UTC" | "utc" | "+00:00" | "Z"));
    let out: PrimitiveArray<T> = match (utc, fixed_len::<T>(u)) {
        (true, Some(len)) => p.unary(|v| v - v.rem_euclid(len)),
        (true, None) => p.unary(|v| {
            arrow::array::temporal_conversions::as_datetime::<T>(v)
                .and_then(|t| to_units::<T>(trunc_datetime(t, u)))
                .unwrap_or(v)
        }),
        (false, _) => {
            let zone: arrow::array::timezone::Tz = tz
                .unwrap_or("UTC")
                .parse()
                .map_err(|e| FrameError::Invalid(format!("time zone {tz:?}: {e}")))?;
            p.unary(|v| {
                arrow::array::temporal_conversions::as_datetime_with_timezone::<T>(v, zone)
                    .and_then(|t| {
                        let local = trunc_datetime(t.naive_local(), u);
                        let back = zone.from_local_datetime(&local).earliest()?;
                        to_units::<T>(back.naive_utc())
                    })
                    .unwrap_or(v)
            })
        }
    };
    Ok(Arc::new(out.with_timezone_opt(tz.map(Arc::<str>::from))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Scalar, TimeUnit};

    fn ts(text: &str, tz: Option<&str>) -> ArrayRef {
        Scalar::timestamp(text, TimeUnit::Microsecond, tz)
            .and_then(|s| s.to_array())
            .expect("timestamp")
    }

    fn show(a: &ArrayRef) -> String {
        arrow::util::display::array_value_to_string(a.as_ref(), 0).expect("display")
    }

    #[test]
    fn truncation_in_utc_and_wall_clock() {
        let a = ts("2024-05-15T13:45:30.123456", None);
        let t = |u| show(&DtFn::Truncate(u).apply(&a).expect("truncate"));
        assert_eq!(t(DatePart::Year), "2024-01-01T00:00:00");
        assert_eq!(t(DatePart::Quarter), "2024-04-01T00:00:00");
        assert_eq!(t(DatePart::Month), "2024-05-01T00:00:00");
        assert_eq!(t(DatePart::Week), "2024-05-13T00:00:00");
        assert_eq!(t(DatePart::Hour), "2024-05-15T13:00:00");
        assert_eq!(t(DatePart::Millisecond), "2024-05-15T13:45:30.123");
        let p = |u| show(&DtFn::Part(u).apply(&a).expect("part"));
        assert_eq!(p(DatePart::Weekday), "3");
        assert_eq!(p(DatePart::DayOfYear), "136");
        assert!(DtFn::Truncate(DatePart::Weekday).apply(&a).is_err());
    }

    #[test]
    fn offsets_truncate_in_local_time() {
        // 23:30 UTC is 01:30 the next day at +02:00: that day starts at 22:00 UTC.
        let a = ts("2024-05-15T23:30:00Z", Some("+02:00"));
        let d = DtFn::Truncate(DatePart::Day).apply(&a).expect("truncate");
        assert_eq!(show(&d), "2024-05-16T00:00:00+02:00");
        let h = DtFn::Part(DatePart::Day).apply(&a).expect("part");
        assert_eq!(show(&h), "16");
    }

    #[test]
    fn dates_truncate_to_their_month() {
        let a: ArrayRef = Arc::new(Date32Array::from(vec![Some(19_860), None]));
        let m = DtFn::Truncate(DatePart::Month).apply(&a).expect("truncate");
        assert_eq!(show(&m), "2024-05-01");
        assert!(m.is_null(1));
    }
}
