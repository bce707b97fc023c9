//! Expressions on every type: literals of dates, timestamps with zones,
//! durations and decimals; string functions; date parts and truncation;
//! conditionals; `is_in` and `between`; and the errors that name a column.

mod common;

use std::sync::Arc;

use common::typed::typed_table;
use common::*;
use rask_client::Client;
use rask_dataframe::arrow::array::{Array, AsArray, RecordBatch};
use rask_dataframe::arrow::datatypes::{DataType, Decimal128Type, TimeUnit};
use rask_dataframe::{
    col, date, decimal, duration, lit, sum, when, DType, DataFrame, DatePart, Scalar,
    TimeUnit as Unit,
};

fn show(b: &RecordBatch, c: usize) -> Vec<String> {
    let a = b.column(c);
    (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                "null".to_string()
            } else {
                rask_dataframe::arrow::util::display::array_value_to_string(a.as_ref(), i)
                    .expect("display")
            }
        })
        .collect()
}

fn frame(b: &RecordBatch) -> DataFrame {
    let mut rng = Rng(1);
    DataFrame::from_record_batches(random_split(&mut rng, b)).expect("frame")
}

#[test]
fn strings_functions_match_plain() {
    let mut rng = Rng(9);
    let t = typed_table(&mut rng, 120);
    let plain = common::rows(&t);
    let c = Client::threads();
    // The same functions on plain, view and dictionary strings.
    for s in ["s", "sv", "sd"] {
        let q = frame(&t)
            .select(vec![
                col(s).contains("an").alias("has"),
                col(s).starts_with("b").alias("sw"),
                col(s).ends_with("e").alias("ew"),
                col(s).lower().alias("lo"),
                col(s).upper().alias("up"),
                col(s).str_len().alias("n"),
                col(s).str_slice(1, Some(3)).alias("mid"),
                col(s).str_slice(-2, None).alias("tail"),
                col(s).replace("a", "AA").alias("rep"),
            ])
            .expect("select");
        let got = q.collect(&c).expect("collect");
        let i = t.schema().index_of(s).expect("column");
        for (r, row) in plain.iter().enumerate() {
            let want: Vec<Cell> = match &row[i] {
                Cell::Str(v) => {
                    let chars: Vec<char> = v.chars().collect();
                    let n = chars.len();
                    vec![
                        Cell::Bool(v.contains("an")),
                        Cell::Bool(v.starts_with('b')),
                        Cell::Bool(v.ends_with('e')),
                        Cell::Str(v.to_lowercase()),
                        Cell::Str(v.to_uppercase()),
                        Cell::Int(n as i64),
                        Cell::Str(chars.iter().skip(1).take(3).collect()),
                        Cell::Str(chars.iter().skip(n.saturating_sub(2)).collect()),
                        Cell::Str(v.replace('a', "AA")),
                    ]
                }
                _ => vec![Cell::Null; 9],
            };
            let g: Vec<Cell> = got.columns().iter().map(|a| cell(a, r)).collect();
            assert_eq!(g, want, "{s} row {r}");
        }
    }
    let e = frame(&t)
        .select(vec![col("i64").lower()])
        .expect_err("not a string");
    assert!(e.to_string().contains("`i64`"), "{e}");
}

#[test]
fn dates_timestamps_durations_and_decimals() {
    let mut rng = Rng(4);
    let t = typed_table(&mut rng, 150);
    let df = frame(&t);
    let c = Client::threads();
    let q = df
        .select(vec![
            col("d"),
            col("d").dt(DatePart::Year).alias("y"),
            col("d").dt(DatePart::Weekday).alias("wd"),
            col("d").dt_truncate(DatePart::Month).alias("dm"),
            col("ts"),
            col("ts").dt(DatePart::Hour).alias("h"),
            col("ts").dt(DatePart::Day).alias("day"),
            col("ts").dt_truncate(DatePart::Day).alias("td"),
            (col("ts") - col("ts").dt_truncate(DatePart::Day)).alias("since_midnight"),
            (col("tsn") + duration(5_400, Unit::Second)).alias("later"),
            (col("dec") * lit(2) + decimal("0.50").expect("decimal")).alias("dd"),
        ])
        .expect("select");
    assert_eq!(
        q.schema()
            .field_with_name("since_midnight")
            .expect("field")
            .data_type(),
        &DataType::Duration(TimeUnit::Microsecond)
    );
    let got = q.collect(&c).expect("collect");
    let s = |name: &str| show(&got, got.schema().index_of(name).expect("column"));
    let (d, y, wd, dm) = (s("d"), s("y"), s("wd"), s("dm"));
    for i in 0..got.num_rows() {
        if d[i] == "null" {
            assert_eq!(y[i], "null");
            continue;
        }
        let day = chrono::NaiveDate::parse_from_str(&d[i], "%Y-%m-%d").expect("date");
        use chrono::Datelike;
        assert_eq!(y[i], day.year().to_string());
        assert_eq!(wd[i], day.weekday().number_from_monday().to_string());
        assert_eq!(dm[i], format!("{:04}-{:02}-01", day.year(), day.month()));
    }
    // +02:00: the hour and day are local, the day starts at local midnight.
    let (ts, h, day, td) = (s("ts"), s("h"), s("day"), s("td"));
    let since = got.column(got.schema().index_of("since_midnight").expect("since"));
    for i in 0..got.num_rows() {
        if ts[i] == "null" {
            continue;
        }
        let local = chrono::DateTime::parse_from_rfc3339(&ts[i]).expect("rfc3339");
        use chrono::{Datelike, Timelike};
        assert_eq!(h[i], local.hour().to_string(), "{}", ts[i]);
        assert_eq!(day[i], local.day().to_string(), "{}", ts[i]);
        assert!(td[i].ends_with("T00:00:00+02:00"), "{}", td[i]);
        let secs = i64::from(local.num_seconds_from_midnight());
        assert_eq!(cell(since, i), Cell::Int(secs * 1_000_000), "{}", ts[i]);
    }
    // Decimals stay exact: 2 * x + 0.50, and their sum.
    let dd = got.column(got.schema().index_of("dd").expect("dd"));
    let dec = t.column(t.schema().index_of("dec").expect("dec"));
    let src = dec.as_primitive::<Decimal128Type>();
    let out = dd.as_primitive::<Decimal128Type>();
    let mut total = 0i128;
    for i in 0..t.num_rows() {
        assert_eq!(src.is_null(i), out.is_null(i));
        if src.is_valid(i) {
            total += src.value(i);
        }
    }
    let _ = out;
    let s = df
        .groupby(&[])
        .agg(vec![sum("dec")])
        .expect("agg")
        .collect(&c)
        .expect("sum");
    assert_eq!(
        s.schema().field(0).data_type(),
        &DataType::Decimal128(38, 2)
    );
    if s.column(0).is_valid(0) {
        assert_eq!(s.column(0).as_primitive::<Decimal128Type>().value(0), total);
    }
    // Literals compare with columns of their type, strings parse as dates.
    let n1 = df
        .filter(col("d").gt_eq(date(2022, 1, 15).expect("date")))
        .expect("f")
        .count_rows(&c)
        .expect("n");
    let n2 = df
        .filter(col("d").gt_eq(lit("2022-01-15")))
        .expect("f")
        .count_rows(&c)
        .expect("n");
    assert_eq!(n1, n2);
    let noon =
        Scalar::timestamp("2022-01-10T12:00:00Z", Unit::Microsecond, Some("+02:00")).expect("ts");
    let n3 = df
        .filter(col("ts").lt(lit(noon)))
        .expect("f")
        .count_rows(&c)
        .expect("n");
    assert!(n3 as usize <= t.num_rows());
    let e = df
        .filter(col("d").gt(lit(3.5)))
        .expect_err("date and float");
    assert!(e.to_string().contains("`d`"), "{e}");
    let cast = df
        .select(vec![col("i32").cast(DType::Decimal128(12, 3)).alias("x")])
        .expect("cast");
    assert_eq!(
        cast.schema().field(0).data_type(),
        &DataType::Decimal128(12, 3)
    );
    let _ = Arc::new(0);
}

#[test]
fn conditionals_membership_and_ranges() {
    let mut rng = Rng(5);
    let t = typed_table(&mut rng, 200);
    let plain = common::rows(&t);
    let df = frame(&t);
    let c = Client::sync();
    let q = df
        .select(vec![
            when(col("i64").lt(lit(-50)))
                .then(lit("low"))
                .when(col("i64").lt(lit(50)))
                .then(lit("mid"))
                .otherwise(lit("high"))
                .alias("band"),
            when(col("b"))
                .then(col("f64"))
                .otherwise(col("i64"))
                .alias("pick"),
            when(col("b")).then(lit(1)).end().alias("maybe"),
            col("s").is_in(["apple", "z"]).alias("fruit"),
            col("i32")
                .is_in([0i64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
                .alias("small"),
            col("i64").between(lit(-10), lit(10)).alias("near"),
        ])
        .expect("select");
    let got = q.collect(&c).expect("collect");
    let ix = |n: &str| t.schema().index_of(n).expect("column");
    for (r, row) in plain.iter().enumerate() {
        let band = match &row[ix("i64")] {
            Cell::Int(v) if *v < -50 => "low",
            Cell::Int(v) if *v < 50 => "mid",
            _ => "high",
        };
        let pick = match (&row[ix("b")], &row[ix("f64")], &row[ix("i64")]) {
            (Cell::Bool(true), f, _) => f.clone(),
            (_, _, Cell::Int(v)) => Cell::Float(*v as f64),
            _ => Cell::Null,
        };
        let maybe = if row[ix("b")] == Cell::Bool(true) {
            Cell::Int(1)
        } else {
            Cell::Null
        };
        let fruit = match &row[ix("s")] {
            Cell::Str(s) => Cell::Bool(s == "apple" || s == "z"),
            _ => Cell::Null,
        };
        let small = match &row[ix("i32")] {
            Cell::Int(v) => Cell::Bool((0..12).contains(v)),
            _ => Cell::Null,
        };
        let near = match &row[ix("i64")] {
            Cell::Int(v) => Cell::Bool((-10..=10).contains(v)),
            _ => Cell::Null,
        };
        let want = vec![Cell::Str(band.into()), pick, maybe, fruit, small, near];
        let g: Vec<Cell> = got.columns().iter().map(|a| cell(a, r)).collect();
        assert_eq!(g, want, "row {r}");
    }
    let e = df
        .select(vec![when(col("i64")).then(lit(1)).otherwise(lit(2))])
        .expect_err("not boolean");
    assert!(e.to_string().contains("`i64`"), "{e}");
    let e = df
        .select(vec![col("s").is_in([1i64, 2])])
        .expect_err("string in ints");
    assert!(e.to_string().contains("`s`"), "{e}");
}

#[test]
fn lists_and_structs_are_carried_through() {
    let mut rng = Rng(6);
    let t = typed_table(&mut rng, 100);
    let plain = common::rows(&t);
    let df = frame(&t);
    let c = Client::threads();
    let ix = |n: &str| t.schema().index_of(n).expect("column");
    // Filter, sort, join and write back: lists and structs keep their values.
    let f = df
        .filter(col("i64").gt(lit(0)))
        .expect("f")
        .sort(vec![rask_dataframe::asc("i64")])
        .expect("s");
    let got = f.collect(&c).expect("collect");
    let mut want: Vec<Vec<Cell>> = plain
        .iter()
        .filter(|r| matches!(r[ix("i64")], Cell::Int(v) if v > 0))
        .cloned()
        .collect();
    want.sort_by(|a, b| a[ix("i64")].partial_cmp(&b[ix("i64")]).expect("ints"));
    assert_same_rows(
        &sort_rows(common::rows(&got)),
        &sort_rows(want),
        "filter and sort",
    );
    let dir = std::env::temp_dir().join(format!("rask-dfe-{}-nested", std::process::id()));
    let dir = dir.display().to_string();
    let _ = std::fs::remove_dir_all(&dir);
    df.to_parquet(&dir)
        .expect("plan")
        .compute(&c)
        .expect("write");
    let back =
        rask_dataframe::read_parquet(&dir, &rask_dataframe::ParquetOptions::new()).expect("read");
    assert_eq!(
        back.schema().field(ix("l")).data_type(),
        t.schema().field(ix("l")).data_type()
    );
    assert_same_rows(
        &sort_rows(common::rows(&back.collect(&c).expect("c"))),
        &sort_rows(plain.clone()),
        "parquet",
    );
    let j = df
        .select(vec![col("i32"), col("st")])
        .expect("s")
        .join(
            &df.select(vec![col("i32"), col("l")])
                .expect("s")
                .drop_duplicates(Some(&["i32"]))
                .expect("d"),
            &["i32"],
            rask_dataframe::JoinType::Left,
        )
        .expect("join");
    assert_eq!(j.columns(), ["i32", "st", "l"]);
    assert_eq!(j.count_rows(&c).expect("n") as usize, t.num_rows());
    let e = df
        .groupby(&["l"])
        .agg(vec![sum("i64")])
        .expect_err("list key");
    assert!(e.to_string().contains("`l`"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
