//! A random table with a column of every kind the dataframe handles, with
//! nulls, and the literal of a cell (for random filters).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use rask_dataframe::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray,
    DurationSecondArray, Float64Array, Int32Array, Int64Array, Int64Builder, ListBuilder,
    RecordBatch, StringArray, StringViewArray, StructArray, TimestampMicrosecondArray,
    TimestampMillisecondArray,
};
use rask_dataframe::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use rask_dataframe::{Scalar, TimeUnit as Unit};

use super::{Cell, Rng};

/// Names of the columns of [`typed_table`] and what they hold.
pub const KEYS: [&str; 11] = [
    "i32", "s", "sv", "sd", "bin", "b", "d", "ts", "tsn", "dur", "dec",
];
/// Columns that order (sort keys, min and max).
pub const ORDERED: [&str; 12] = [
    "i32", "i64", "f64", "dec", "s", "sv", "sd", "b", "d", "ts", "tsn", "dur",
];

/// Unicode, empty, long (not inline in a view) and short strings.
const WORDS: [&str; 7] = [
    "apple",
    "Ärger",
    "",
    "banana split with cream",
    "b",
    "ca",
    "z",
];

/// A random table: `i32` (few values), `i64`, `f64`, `dec` (Decimal128(10, 2)),
/// `s` (Utf8), `sv` (Utf8View), `sd` (dictionary), `bin`, `b`, `d` (Date32),
/// `ts` (µs at +02:00), `tsn` (ms, no zone), `dur` (seconds), `l` (list of
/// Int64) and `st` (struct of Int64 and Utf8); every column has nulls.
pub fn typed_table(rng: &mut Rng, rows: usize) -> RecordBatch {
    let null_p = [0.0, 0.1, 0.4][rng.below(3) as usize];
    let k = 1 + rng.below(6);
    let opt = |rng: &mut Rng| !rng.chance(null_p);
    let mut i32s = Vec::new();
    let mut i64s = Vec::new();
    let mut f64s = Vec::new();
    let mut decs = Vec::new();
    let mut strs: Vec<Option<&str>> = Vec::new();
    let mut views: Vec<Option<&str>> = Vec::new();
    let mut dict: Vec<Option<&str>> = Vec::new();
    let mut bins: Vec<Option<Vec<u8>>> = Vec::new();
    let mut bools = Vec::new();
    let mut dates = Vec::new();
    let mut ts = Vec::new();
    let mut tsn = Vec::new();
    let mut durs = Vec::new();
    let mut lists = ListBuilder::new(Int64Builder::new());
    let mut sa = Vec::new();
    let mut sb: Vec<Option<String>> = Vec::new();
    for _ in 0..rows {
        i32s.push(opt(rng).then(|| rng.skewed(k) as i32 - 1));
        i64s.push(opt(rng).then(|| rng.below(200) as i64 - 100));
        f64s.push(opt(rng).then(|| rng.below(1000) as f64 / 8.0 - 50.0 + 0.25));
        decs.push(opt(rng).then(|| rng.below(20_000) as i128 - 10_000));
        strs.push(opt(rng).then(|| WORDS[rng.skewed(WORDS.len() as u64) as usize]));
        views.push(opt(rng).then(|| WORDS[rng.below(WORDS.len() as u64) as usize]));
        dict.push(opt(rng).then(|| WORDS[rng.skewed(k.min(7)) as usize]));
        bins.push(opt(rng).then(|| vec![rng.below(3) as u8; rng.below(3) as usize]));
        bools.push(opt(rng).then(|| rng.chance(0.5)));
        dates.push(opt(rng).then(|| 19_000 + rng.skewed(40) as i32));
        // Around day boundaries at +02:00 (22:00 UTC).
        ts.push(
            opt(rng).then(|| (19_000 * 86_400 + 79_200 + rng.skewed(8) as i64 * 3_600) * 1_000_000),
        );
        tsn.push(opt(rng).then(|| 1_700_000_000_000 + rng.skewed(k) as i64 * 86_400_000));
        durs.push(opt(rng).then(|| rng.below(100) as i64 * 60));
        if opt(rng) {
            for _ in 0..rng.below(3) {
                lists.values().append_value(rng.below(5) as i64);
            }
            lists.append(true);
        } else {
            lists.append(false);
        }
        sa.push(opt(rng).then(|| rng.below(4) as i64));
        sb.push(opt(rng).then(|| format!("x{}", rng.below(3))));
    }
    let st = StructArray::from(vec![
        (
            Arc::new(Field::new("a", DataType::Int64, true)),
            Arc::new(Int64Array::from(sa)) as ArrayRef,
        ),
        (
            Arc::new(Field::new("b", DataType::Utf8, true)),
            Arc::new(StringArray::from(sb)) as ArrayRef,
        ),
    ]);
    let dict: DictionaryArray<Int32Type> = dict.into_iter().collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("i32", Arc::new(Int32Array::from(i32s))),
        ("i64", Arc::new(Int64Array::from(i64s))),
        ("f64", Arc::new(Float64Array::from(f64s))),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(decs)
                    .with_precision_and_scale(10, 2)
                    .expect("decimal"),
            ),
        ),
        ("s", Arc::new(StringArray::from(strs))),
        ("sv", Arc::new(StringViewArray::from(views))),
        ("sd", Arc::new(dict)),
        (
            "bin",
            Arc::new(BinaryArray::from(
                bins.iter().map(|b| b.as_deref()).collect::<Vec<_>>(),
            )),
        ),
        ("b", Arc::new(BooleanArray::from(bools))),
        ("d", Arc::new(Date32Array::from(dates))),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("+02:00")),
        ),
        ("tsn", Arc::new(TimestampMillisecondArray::from(tsn))),
        ("dur", Arc::new(DurationSecondArray::from(durs))),
        ("l", Arc::new(lists.finish())),
        ("st", Arc::new(st)),
    ];
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("typed table")
}

/// The literal equal to a cell of a column of [`typed_table`].
pub fn literal(column: &str, c: &Cell) -> Scalar {
    match (column, c) {
        (_, Cell::Null) => Scalar::Null,
        ("dec", Cell::Dec(v)) => Scalar::Decimal {
            value: *v,
            precision: 10,
            scale: 2,
        },
        ("d", Cell::Int(v)) => Scalar::Date32(*v as i32),
        ("ts", Cell::Int(v)) => Scalar::Timestamp {
            value: *v,
            unit: Unit::Microsecond,
            tz: Some("+02:00".into()),
        },
        ("tsn", Cell::Int(v)) => Scalar::Timestamp {
            value: *v,
            unit: Unit::Millisecond,
            tz: None,
        },
        ("dur", Cell::Int(v)) => Scalar::Duration {
            value: *v,
            unit: Unit::Second,
        },
        (_, Cell::Int(v)) => Scalar::Int(*v),
        (_, Cell::Float(v)) => Scalar::Float(*v),
        (_, Cell::Str(s)) => Scalar::Str(s.clone()),
        (_, Cell::Bool(b)) => Scalar::Bool(*b),
        (_, Cell::Bytes(b)) => Scalar::Binary(b.clone()),
        (c, other) => panic!("no literal for {c} {other:?}"),
    }
}

/// The cell a literal stands for (the inverse of [`literal`]).
pub fn literal_cell(s: &Scalar) -> Cell {
    match s {
        Scalar::Null => Cell::Null,
        Scalar::Bool(b) => Cell::Bool(*b),
        Scalar::Int(v) => Cell::Int(*v),
        Scalar::Float(v) => Cell::Float(*v),
        Scalar::Str(s) => Cell::Str(s.clone()),
        Scalar::Binary(b) => Cell::Bytes(b.clone()),
        Scalar::Date32(d) => Cell::Int(i64::from(*d)),
        Scalar::Date64(d) => Cell::Int(*d),
        Scalar::Timestamp { value, .. } | Scalar::Duration { value, .. } => Cell::Int(*value),
        Scalar::Decimal { value, .. } => Cell::Dec(*value),
    }
}
