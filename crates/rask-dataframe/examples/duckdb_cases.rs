//! Writes random tables (every type, with nulls) and random queries over
//! them for `scripts/test.d/dataframe-duckdb`: for each query, the answer
//! computed here (`qN.parquet`) and the same question in SQL (`qN.sql`,
//! over `read_parquet('tN.parquet')`), which the suite asks DuckDB and
//! compares. `qN.kind` says how to compare: `bag` (rows in any order) or
//! `list` (rows in order).
//!
//! usage: duckdb_cases OUT_DIR [CASES]

use std::fmt::Write as _;
use std::sync::Arc;

use rask_client::Client;
use rask_dataframe::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use rask_dataframe::arrow::datatypes::{Field, Schema};
use rask_dataframe::{
    asc, col, count, desc, len, lit, max, mean, min, read_parquet, sum, Agg, BinOp, DataFrame,
    Expr, JoinOptions, JoinType, ParquetOptions, Scalar, SortKey, Strings, TimeUnit,
};

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const WORDS: [&str; 6] = ["apple", "Ärger", "", "it's long enough to spill", "b", "z"];
const COLS: [&str; 8] = ["k", "i", "f", "dec", "s", "b", "d", "ts"];

/// k Int32 (few values), i Int64, f Float64, dec Decimal128(10,2), s Utf8,
/// b Boolean, d Date32, ts Timestamp(µs, UTC); all with nulls.
fn table(rng: &mut Rng, rows: usize) -> RecordBatch {
    let p = [0.0, 0.15][rng.below(2) as usize];
    let o = |rng: &mut Rng| !rng.chance(p);
    let k: Int32Array = (0..rows)
        .map(|_| o(rng).then(|| rng.below(6) as i32))
        .collect();
    let i: Int64Array = (0..rows)
        .map(|_| o(rng).then(|| rng.below(40) as i64 - 20))
        .collect();
    let f: Float64Array = (0..rows)
        .map(|_| o(rng).then(|| rng.below(80) as f64 / 8.0 - 3.0))
        .collect();
    let dec: Decimal128Array = (0..rows)
        .map(|_| o(rng).then(|| rng.below(4000) as i128 - 2000))
        .collect();
    let s: StringArray = (0..rows)
        .map(|_| o(rng).then(|| WORDS[rng.below(6) as usize]))
        .collect();
    let b: BooleanArray = (0..rows).map(|_| o(rng).then(|| rng.chance(0.5))).collect();
    let d: Date32Array = (0..rows)
        .map(|_| o(rng).then(|| 19_000 + rng.below(30) as i32))
        .collect();
    let ts: TimestampMicrosecondArray = (0..rows)
        .map(|_| o(rng).then(|| 1_700_000_000_000_000 + rng.below(48) as i64 * 3_600_000_000))
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(k),
        Arc::new(i),
        Arc::new(f),
        Arc::new(dec.with_precision_and_scale(10, 2).expect("decimal")),
        Arc::new(s),
        Arc::new(b),
        Arc::new(d),
        Arc::new(ts.with_timezone("UTC")),
    ];
    let fields: Vec<Field> = COLS
        .iter()
        .zip(&cols)
        .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("table")
}

/// A random literal for a column (the column's type), and its SQL.
fn literal(rng: &mut Rng, c: &str) -> (Scalar, String) {
    match c {
        "k" => {
            let v = rng.below(7) as i64;
            (Scalar::Int(v), v.to_string())
        }
        "i" => {
            let v = rng.below(44) as i64 - 22;
            (Scalar::Int(v), v.to_string())
        }
        "f" => {
            let v = rng.below(80) as f64 / 8.0 - 3.0;
            (Scalar::Float(v), format!("{v:?}"))
        }
        "dec" => {
            let v = rng.below(4000) as i128 - 2000;
            let text = format!(
                "{}{}.{:02}",
                if v < 0 { "-" } else { "" },
                v.abs() / 100,
                v.abs() % 100
            );
            (
                Scalar::Decimal {
                    value: v,
                    precision: 10,
                    scale: 2,
                },
                format!("CAST('{text}' AS DECIMAL(10,2))"),
            )
        }
        "s" => {
            let w = WORDS[rng.below(6) as usize];
            (
                Scalar::Str(w.into()),
                format!("'{}'", w.replace('\'', "''")),
            )
        }
        "b" => {
            let v = rng.chance(0.5);
            (Scalar::Bool(v), v.to_string())
        }
        "d" => {
            let v = 19_000 + rng.below(32) as i32;
            let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
                + chrono::Days::new(v as u64);
            (Scalar::Date32(v), format!("DATE '{day}'"))
        }
        _ => {
            let v = 1_700_000_000_000_000 + rng.below(50) as i64 * 3_600_000_000;
            let t = chrono::DateTime::from_timestamp_micros(v).expect("time");
            (
                Scalar::Timestamp {
                    value: v,
                    unit: TimeUnit::Microsecond,
                    tz: Some("UTC".into()),
                },
                format!("TIMESTAMPTZ '{}'", t.format("%Y-%m-%d %H:%M:%S+00")),
            )
        }
    }
}

fn q(c: &str) -> String {
    format!("\"{c}\"")
}

/// A random predicate and its SQL.
fn predicate(rng: &mut Rng, depth: u32) -> (Expr, String) {
    if depth > 0 && rng.chance(0.4) {
        let (a, sa) = predicate(rng, depth - 1);
        let (b, sb) = predicate(rng, depth - 1);
        return match rng.below(3) {
            0 => (a.and(b), format!("({sa} AND {sb})")),
            1 => (a.or(b), format!("({sa} OR {sb})")),
            _ => (!a, format!("(NOT {sa})")),
        };
    }
    let c = COLS[rng.below(COLS.len() as u64) as usize];
    match rng.below(9) {
        0 => (col(c).is_null(), format!("({} IS NULL)", q(c))),
        1 => {
            let vals: Vec<(Scalar, String)> =
                (0..1 + rng.below(4)).map(|_| literal(rng, c)).collect();
            let sql = vals
                .iter()
                .map(|v| v.1.clone())
                .collect::<Vec<_>>()
                .join(", ");
            (
                col(c).is_in(vals.into_iter().map(|v| v.0)),
                format!("({} IN ({sql}))", q(c)),
            )
        }
        2 => {
            let (a, sa) = literal(rng, c);
            let (b, sb) = literal(rng, c);
            (
                col(c).between(lit(a), lit(b)),
                format!("({} BETWEEN {sa} AND {sb})", q(c)),
            )
        }
        n => {
            let (v, sv) = literal(rng, c);
            let (op, sym) = [
                (BinOp::Eq, "="),
                (BinOp::NotEq, "<>"),
                (BinOp::Lt, "<"),
                (BinOp::LtEq, "<="),
                (BinOp::Gt, ">"),
                (BinOp::GtEq, ">="),
            ][(n - 3) as usize];
            let e = Expr::Binary {
                op,
                left: Box::new(col(c)),
                right: Box::new(lit(v)),
            };
            (e, format!("({} {sym} {sv})", q(c)))
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).ok_or("usage: duckdb_cases OUT_DIR [CASES]")?;
    let cases: usize = args.get(2).map_or(Ok(60), |s| s.parse())?;
    std::fs::create_dir_all(out)?;
    let client = Client::threads();
    let mut rng = Rng(2026);
    let tables = 4;
    for t in 0..tables {
        let rows = [0usize, 30, 300, 2000][t];
        let b = table(&mut rng, rows);
        let parts = 1 + rng.below(3) as usize;
        let slices: Vec<RecordBatch> = (0..parts)
            .map(|p| b.slice(rows * p / parts, rows * (p + 1) / parts - rows * p / parts))
            .collect();
        let dir = format!("{out}/t{t}");
        DataFrame::from_record_batches(slices)?
            .to_parquet(&dir)?
            .compute(&client)?;
    }
    let src = |t: usize| format!("read_parquet('{out}/t{t}/*.parquet')");
    let open = |t: usize| {
        read_parquet(
            &format!("{out}/t{t}"),
            &ParquetOptions::new().strings(Strings::FileEncoding),
        )
    };
    for case in 0..cases {
        let t = 1 + rng.below(tables as u64 - 1) as usize;
        let df = open(t)?;
        let (frame, sql, kind): (DataFrame, String, &str) = match case % 4 {
            0 => {
                let (p, sp) = predicate(&mut rng, 2);
                let frame = df
                    .filter(p)?
                    .select(COLS.iter().map(|c| col(c)).collect())?;
                (frame, format!("SELECT * FROM {} WHERE {sp}", src(t)), "bag")
            }
            1 => {
                let key = ["k", "s", "b", "d", "dec"][rng.below(5) as usize];
                let (p, sp) = predicate(&mut rng, 1);
                let aggs: Vec<(Agg, String)> = vec![
                    (sum("i").alias("a_sum"), "sum(\"i\") AS a_sum".into()),
                    (sum("dec").alias("a_dsum"), "sum(\"dec\") AS a_dsum".into()),
                    (mean("f").alias("a_avg"), "avg(\"f\") AS a_avg".into()),
                    (min("s").alias("a_min"), "min(\"s\") AS a_min".into()),
                    (max("ts").alias("a_max"), "max(\"ts\") AS a_max".into()),
                    (count("f").alias("a_cnt"), "count(\"f\") AS a_cnt".into()),
                    (len().alias("a_len"), "count(*) AS a_len".into()),
                ];
                let frame = df
                    .filter(p)?
                    .groupby(&[key])
                    .agg(aggs.iter().map(|a| a.0.clone()).collect())?;
                let list = aggs
                    .iter()
                    .map(|a| a.1.clone())
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {}, {list} FROM {} WHERE {sp} GROUP BY {}",
                    q(key),
                    src(t),
                    q(key)
                );
                (frame, sql, "bag")
            }
            2 => {
                let u = 1 + rng.below(tables as u64 - 1) as usize;
                let right = open(u)?.select(vec![col("k"), col("s"), col("i").alias("ri")])?;
                let (on, on_sql): (&[&str], &str) = if rng.chance(0.5) {
                    (&["k"], "l.\"k\" = r.\"k\"")
                } else {
                    (&["k", "s"], "l.\"k\" = r.\"k\" AND l.\"s\" = r.\"s\"")
                };
                let how = [
                    JoinType::Inner,
                    JoinType::Left,
                    JoinType::Semi,
                    JoinType::Anti,
                ][rng.below(4) as usize];
                let j = df
                    .select(vec![col("k"), col("s"), col("i"), col("d")])?
                    .join_by(&right, JoinOptions::on(on).how(how).suffix("_r"))?;
                let rsrc = format!("(SELECT \"k\", \"s\", \"i\" AS ri FROM {})", src(u));
                let lsrc = format!("(SELECT \"k\", \"s\", \"i\", \"d\" FROM {})", src(t));
                let s_out = if on.len() == 1 {
                    ", r.\"s\" AS s_r"
                } else {
                    ""
                };
                let sql = match how {
                    JoinType::Inner => {
                        format!("SELECT l.*{s_out}, r.ri FROM {lsrc} l JOIN {rsrc} r ON {on_sql}")
                    }
                    JoinType::Left => format!(
                        "SELECT l.*{s_out}, r.ri FROM {lsrc} l LEFT JOIN {rsrc} r ON {on_sql}"
                    ),
                    JoinType::Semi => {
                        format!("SELECT l.* FROM {lsrc} l SEMI JOIN {rsrc} r ON {on_sql}")
                    }
                    _ => format!("SELECT l.* FROM {lsrc} l ANTI JOIN {rsrc} r ON {on_sql}"),
                };
                (j, sql, "bag")
            }
            _ => {
                let nk = 1 + rng.below(3) as usize;
                let mut keys: Vec<SortKey> = Vec::new();
                let mut sql_keys = Vec::new();
                while keys.len() < nk {
                    let c = ["k", "i", "f", "dec", "s", "d", "ts"][rng.below(7) as usize];
                    if keys.iter().any(|k| k.column == c) {
                        continue;
                    }
                    let mut k = if rng.chance(0.5) { asc(c) } else { desc(c) };
                    if rng.chance(0.5) {
                        k = k.nulls_first();
                    }
                    let mut s = String::new();
                    let _ = write!(
                        s,
                        "{} {} NULLS {}",
                        q(c),
                        if k.descending { "DESC" } else { "ASC" },
                        if k.nulls_first { "FIRST" } else { "LAST" }
                    );
                    sql_keys.push(s);
                    keys.push(k);
                }
                let k = 1 + rng.below(40) as usize;
                let names: Vec<String> = keys.iter().map(|k| k.column.clone()).collect();
                // Only the sort keys: rows that tie may come in any order.
                let frame = df
                    .sort(keys)?
                    .head(k)
                    .select(names.iter().map(|c| col(c)).collect())?;
                let cols = names.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "SELECT {cols} FROM {} ORDER BY {} LIMIT {k}",
                    src(t),
                    sql_keys.join(", ")
                );
                (frame, sql, "list")
            }
        };
        let answer = frame.collect(&client)?;
        rask_dataframe::write_parquet_file(&answer, &format!("{out}/q{case}.parquet"))?;
        std::fs::write(format!("{out}/q{case}.sql"), sql)?;
        std::fs::write(format!("{out}/q{case}.kind"), kind)?;
    }
    println!("{cases} queries written to {out}");
    Ok(())
}
