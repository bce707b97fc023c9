//! Random tables and plain reference computations shared by the tests.
#![allow(dead_code, unreachable_pub)]

pub mod plain;
pub mod typed;

use std::sync::Arc;

use rask_dataframe::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use rask_dataframe::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};

/// splitmix64: deterministic and dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Skewed: small values much more often.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b).min(self.below(n))
    }
}

/// A random table: k_int, k_str (keys, skewed, with nulls), v_int, v_f
/// (values with nulls), s (strings).
pub fn random_table(rng: &mut Rng, rows: usize) -> RecordBatch {
    let nk = 1 + rng.below(12);
    let null_p = [0.0, 0.05, 0.3][rng.below(3) as usize];
    let mut k_int = Vec::new();
    let mut k_str = Vec::new();
    let mut v_int = Vec::new();
    let mut v_f = Vec::new();
    let mut s = Vec::new();
    for _ in 0..rows {
        k_int.push((!rng.chance(null_p)).then(|| rng.skewed(nk) as i64 - 3));
        k_str.push((!rng.chance(null_p)).then(|| format!("k{}", rng.skewed(nk))));
        v_int.push((!rng.chance(null_p)).then(|| rng.below(100) as i64 - 50));
        v_f.push((!rng.chance(null_p)).then(|| (rng.below(10_000) as f64) / 64.0 - 20.0));
        s.push((!rng.chance(null_p)).then(|| {
            ["apple", "apricot", "banana", "blue", "cherry", ""][rng.below(6) as usize].to_string()
        }));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("k_int", DataType::Int64, true),
        Field::new("k_str", DataType::Utf8, true),
        Field::new("v_int", DataType::Int64, true),
        Field::new("v_f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(k_int)),
        Arc::new(StringArray::from(k_str)),
        Arc::new(Int64Array::from(v_int)),
        Arc::new(Float64Array::from(v_f)),
        Arc::new(StringArray::from(s)),
    ];
    RecordBatch::try_new(schema, cols).expect("valid table")
}

/// Cuts a batch at random points (empty partitions included).
pub fn random_split(rng: &mut Rng, b: &RecordBatch) -> Vec<RecordBatch> {
    let parts = 1 + rng.below(6) as usize;
    let mut cuts: Vec<usize> = (0..parts - 1)
        .map(|_| rng.below(b.num_rows() as u64 + 1) as usize)
        .collect();
    cuts.push(0);
    cuts.push(b.num_rows());
    cuts.sort_unstable();
    cuts.windows(2)
        .map(|w| b.slice(w[0], w[1] - w[0]))
        .collect()
}

/// One cell as a comparable value: integers, dates, times and durations as
/// their integers; decimals as their unscaled value; lists and structs as
/// Arrow prints them.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Dec(i128),
    Bytes(Vec<u8>),
    Other(String),
}

pub fn cell(a: &ArrayRef, i: usize) -> Cell {
    if a.is_null(i) {
        return Cell::Null;
    }
    match a.data_type() {
        DataType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => Cell::Float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Cell::Str(a.as_string::<i32>().value(i).to_string()),
        DataType::Boolean => Cell::Bool(a.as_boolean().value(i)),
        DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::UInt32 => {
            let c = rask_dataframe::arrow::compute::cast(a, &DataType::Int64).expect("cast");
            cell(&c, i)
        }
        DataType::Dictionary(_, _) | DataType::Utf8View | DataType::LargeUtf8 => {
            let c = rask_dataframe::arrow::compute::cast(a, &DataType::Utf8).expect("cast");
            cell(&c, i)
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt64 => {
            let c = rask_dataframe::arrow::compute::cast(a, &DataType::Int64).expect("cast");
            cell(&c, i)
        }
        DataType::Float32 => {
            let c = rask_dataframe::arrow::compute::cast(a, &DataType::Float64).expect("cast");
            cell(&c, i)
        }
        DataType::Decimal128(_, _) => Cell::Dec(
            a.as_primitive::<rask_dataframe::arrow::datatypes::Decimal128Type>()
                .value(i),
        ),
        DataType::Binary => Cell::Bytes(a.as_binary::<i32>().value(i).to_vec()),
        DataType::BinaryView => Cell::Bytes(a.as_binary_view().value(i).to_vec()),
        DataType::Date32 | DataType::Time32(_) => {
            let d = a
                .to_data()
                .into_builder()
                .data_type(DataType::Int32)
                .build()
                .expect("int");
            cell(&rask_dataframe::arrow::array::make_array(d), i)
        }
        DataType::Date64
        | DataType::Timestamp(_, _)
        | DataType::Duration(_)
        | DataType::Time64(_) => {
            let d = a
                .to_data()
                .into_builder()
                .data_type(DataType::Int64)
                .build()
                .expect("int");
            cell(&rask_dataframe::arrow::array::make_array(d), i)
        }
        DataType::List(_) | DataType::Struct(_) | DataType::LargeList(_) => Cell::Other(
            rask_dataframe::arrow::util::display::array_value_to_string(a.as_ref(), i)
                .expect("display"),
        ),
        t => panic!("no cell for {t}"),
    }
}

pub fn rows(b: &RecordBatch) -> Vec<Vec<Cell>> {
    (0..b.num_rows())
        .map(|i| b.columns().iter().map(|c| cell(c, i)).collect())
        .collect()
}

pub fn sort_rows(mut r: Vec<Vec<Cell>>) -> Vec<Vec<Cell>> {
    r.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    r
}

pub fn close(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs())),
        _ => a == b,
    }
}

pub fn assert_same_rows(got: &[Vec<Cell>], want: &[Vec<Cell>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row counts differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| close(a, b)),
            "{what}: row {i} differs: got {g:?}, want {w:?}"
        );
    }
}

/// A fresh temporary directory, removed (with what it holds) when dropped.
pub struct TmpDir(pub String);

impl TmpDir {
    pub fn new(name: &str) -> TmpDir {
        let d = std::env::temp_dir().join(format!("rask-df-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temporary directory");
        TmpDir(d.display().to_string())
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
