//! Expressions, select, with_column, filter, head, len and I/O against a
//! plain row-by-row computation on random tables, on sync and threads.

mod common;

use common::*;
use rask_client::Client;
use rask_dataframe::arrow::array::RecordBatch;
use rask_dataframe::{
    col, lit, read_csv, read_parquet, CsvOptions, DType, DataFrame, ParquetOptions,
};

fn clients() -> [(&'static str, Client); 2] {
    [("sync", Client::sync()), ("threads", Client::threads())]
}

fn num(c: &Cell) -> Option<f64> {
    match c {
        Cell::Int(v) => Some(*v as f64),
        Cell::Float(v) => Some(*v),
        _ => None,
    }
}

/// Row-by-row: the filter `(v_int > 0 & s starts with "ap") | k_int is null`
/// (Kleene: null & false = false, null | true = true; null rows are dropped).
fn keep(r: &[Cell]) -> bool {
    let gt = num(&r[2]).map(|v| v > 0.0);
    let sw = match &r[4] {
        Cell::Str(s) => Some(s.starts_with("ap")),
        _ => None,
    };
    let and = match (gt, sw) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    let isnull = r[0] == Cell::Null;
    isnull || and == Some(true)
}

#[test]
fn filter_select_with_column_head_len_match_plain() {
    let mut rng = Rng(11);
    let clients = clients();
    for case in 0..16 {
        let rows = [0, 3, 50, 200][rng.below(4) as usize];
        let table = random_table(&mut rng, rows);
        let df = DataFrame::from_record_batches(random_split(&mut rng, &table)).expect("frame");
        let plain = common::rows(&table);

        let pred = col("v_int")
            .gt(lit(0))
            .and(col("s").starts_with("ap"))
            .or(col("k_int").is_null());
        let filtered = df.filter(pred).expect("filter");
        let want: Vec<Vec<Cell>> = plain.iter().filter(|r| keep(r)).cloned().collect();

        let sel = df
            .select(vec![
                col("k_int"),
                ((col("v_int") + col("v_f")) * 2.0).alias("a"),
                (col("v_int") / lit(4)).alias("d"),
                col("v_f").fill_null(0.5).alias("f"),
                col("v_int").cast(DType::Float64).alias("c"),
                col("s").eq(lit("blue")).alias("e"),
                (!col("k_str").is_null()).alias("n"),
            ])
            .expect("select");
        let want_sel: Vec<Vec<Cell>> = plain
            .iter()
            .map(|r| {
                let a = match (num(&r[2]), num(&r[3])) {
                    (Some(x), Some(y)) => Cell::Float((x + y) * 2.0),
                    _ => Cell::Null,
                };
                let d = num(&r[2]).map_or(Cell::Null, |x| Cell::Float(x / 4.0));
                let f = num(&r[3]).map_or(Cell::Float(0.5), Cell::Float);
                let c = num(&r[2]).map_or(Cell::Null, Cell::Float);
                let e = match &r[4] {
                    Cell::Str(s) => Cell::Bool(s == "blue"),
                    _ => Cell::Null,
                };
                vec![r[0].clone(), a, d, f, c, e, Cell::Bool(r[1] != Cell::Null)]
            })
            .collect();

        let wc = df
            .with_column("v_int", col("v_int") - lit(1))
            .expect("replace")
            .with_column("g", col("v_f").lt_eq(lit(3.0)))
            .expect("add");
        assert_eq!(wc.columns(), ["k_int", "k_str", "v_int", "v_f", "s", "g"]);

        let head = df.head(7);
        for (name, c) in &clients {
            let what = format!("case {case} on {name}");
            assert_same_rows(
                &common::rows(&filtered.collect(c).expect("f")),
                &want,
                &what,
            );
            assert_same_rows(&common::rows(&sel.collect(c).expect("s")), &want_sel, &what);
            let got = wc.collect(c).expect("wc");
            for (g, p) in common::rows(&got).iter().zip(&plain) {
                let v = num(&p[2]).map_or(Cell::Null, |x| Cell::Int(x as i64 - 1));
                assert!(close(&g[2], &v), "{what}: with_column");
                let le = num(&p[3]).map_or(Cell::Null, |x| Cell::Bool(x <= 3.0));
                assert_eq!(g[5], le, "{what}: with_column g");
            }
            let h = head.collect(c).expect("head");
            assert_same_rows(&common::rows(&h), &plain[..rows.min(7)], &what);
            assert_eq!(df.count_rows(c).expect("len"), rows as u64, "{what}");
            assert_eq!(
                df.is_empty().expect("plan").compute(c).expect("empty"),
                rows == 0
            );
        }
    }
}

#[test]
fn build_time_errors_name_the_column() {
    let mut rng = Rng(3);
    let df = DataFrame::from_record_batches(vec![random_table(&mut rng, 5)]).expect("frame");
    let e = df.select(vec![col("nope")]).expect_err("unknown");
    assert!(e.to_string().contains("`nope`"), "{e}");
    let e = df.filter(col("s") + lit(1)).expect_err("type");
    assert!(e.to_string().contains("`s`"), "{e}");
    let e = df.filter(col("v_int")).expect_err("not boolean");
    assert!(e.to_string().contains("v_int"), "{e}");
    let e = df.select(vec![col("s").starts_with("a"), col("v_f").starts_with("x")]);
    assert!(e.expect_err("starts_with").to_string().contains("`v_f`"));
    let other = DataFrame::from_record_batches(vec![
        random_table(&mut rng, 3),
        random_table(&mut rng, 3).project(&[0, 1]).expect("project"),
    ]);
    assert!(other.is_err(), "schema mismatch refused");
}

fn tmp(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("rask-df-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d.display().to_string()
}

#[test]
fn parquet_round_trip_with_projection_filters_and_ranges() {
    let mut rng = Rng(5);
    let table = random_table(&mut rng, 500);
    let df = DataFrame::from_record_batches(random_split(&mut rng, &table)).expect("frame");
    let dir = tmp("pq");
    let c = Client::threads();
    assert_eq!(
        df.to_parquet(&dir)
            .expect("plan")
            .compute(&c)
            .expect("write"),
        500
    );
    let plain = common::rows(&table);
    for parts in [None, Some(1), Some(4), Some(7)] {
        let mut o = ParquetOptions::new();
        if let Some(p) = parts {
            o = o.partitions(p);
        }
        let back = read_parquet(&dir, &o).expect("read");
        if let Some(p) = parts {
            assert_eq!(back.npartitions(), p);
        }
        assert_same_rows(
            &common::rows(&back.collect(&c).expect("c")),
            &plain,
            "round trip",
        );
        let dict = read_parquet(&dir, &o.clone().strings_as_dictionary(true)).expect("dict");
        assert_same_rows(
            &common::rows(&dict.collect(&c).expect("c")),
            &plain,
            "dictionary",
        );
        // Per-partition dictionaries, merged by the group-by's concatenation.
        let g = dict
            .groupby(&["k_str"])
            .agg(vec![rask_dataframe::count("v_int")])
            .expect("groupby")
            .collect(&c)
            .expect("c");
        let mut keys: Vec<Cell> = plain.iter().map(|r| r[1].clone()).collect();
        keys.sort_by(|a, b| a.partial_cmp(b).expect("ordered"));
        keys.dedup();
        assert_eq!(
            g.num_rows(),
            keys.len(),
            "groups of per-partition dictionaries"
        );
        let unified = dict.unify_dictionaries().persist(&c).expect("persist");
        assert_same_rows(
            &common::rows(&unified.collect(&c).expect("c")),
            &plain,
            "unified",
        );
        let g = unified
            .groupby(&["k_str"])
            .split_out(2)
            .agg(vec![rask_dataframe::count("v_int")])
            .expect("groupby")
            .collect(&c)
            .expect("c");
        let mut keys: Vec<Cell> = plain.iter().map(|r| r[1].clone()).collect();
        keys.sort_by(|a, b| a.partial_cmp(b).expect("ordered"));
        keys.dedup();
        assert_eq!(g.num_rows(), keys.len(), "groups of a unified dictionary");
    }
    let o = ParquetOptions::new()
        .columns(&["v_f", "k_int"])
        .filter(col("v_int").gt_eq(lit(10)))
        .partitions(3);
    let got = read_parquet(&dir, &o)
        .expect("read")
        .collect(&c)
        .expect("c");
    let want: Vec<Vec<Cell>> = plain
        .iter()
        .filter(|r| num(&r[2]).is_some_and(|v| v >= 10.0))
        .map(|r| vec![r[3].clone(), r[0].clone()])
        .collect();
    assert_same_rows(&common::rows(&got), &want, "projection and filter");
    let e = read_parquet(&dir, &ParquetOptions::new().columns(&["zzz"])).expect_err("unknown");
    assert!(e.to_string().contains("`zzz`"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_byte_ranges_match_one_block() {
    let mut rng = Rng(9);
    // Strings without empty values: an empty CSV field reads as null.
    let table = random_table(&mut rng, 120)
        .project(&[0, 2, 3])
        .expect("numbers");
    let df = DataFrame::from_record_batches(vec![table.clone()]).expect("frame");
    let dir = tmp("csv");
    let c = Client::sync();
    df.to_csv(&dir).expect("plan").compute(&c).expect("write");
    let file = format!("{dir}/part.0.csv");
    let whole = read_csv(&file, &CsvOptions::new()).expect("read");
    assert_eq!(whole.npartitions(), 1);
    let plain = common::rows(&table);
    for block in [1u64, 13, 200, 1 << 20] {
        let df = read_csv(&file, &CsvOptions::new().block_size(block)).expect("read");
        let got = df.collect(&Client::threads()).expect("collect");
        assert_same_rows(&common::rows(&got), &plain, &format!("block {block}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn reads_a_pyarrow_parquet_file() {
    // tests/fixtures/make_fixtures.py wrote it with PyArrow's defaults.
    let c = Client::threads();
    for dict in [false, true] {
        let o = ParquetOptions::new().strings_as_dictionary(dict);
        let df = read_parquet(&fixture("pyarrow.parquet"), &o).expect("read");
        assert_eq!(df.npartitions(), 4, "row groups of 300");
        assert_eq!(df.columns(), ["id", "name", "small", "x", "flag"]);
        let b = df.collect(&c).expect("collect");
        for (i, r) in common::rows(&b).iter().enumerate() {
            assert_eq!(r[0], Cell::Int(i as i64));
            let name = if i % 17 == 0 {
                Cell::Null
            } else {
                Cell::Str(format!("name{:02}", i % 13))
            };
            assert_eq!(r[1], name);
            let x = if i % 11 == 0 {
                Cell::Null
            } else {
                Cell::Float(i as f64 * 0.25)
            };
            assert_eq!(r[3], x);
            assert_eq!(r[4], Cell::Bool(i % 3 == 0));
        }
        let g = df
            .groupby(&["small"])
            .agg(vec![rask_dataframe::count("x")])
            .expect("groupby")
            .collect(&c)
            .expect("collect");
        assert_eq!(g.num_rows(), 7);
    }
}

#[test]
fn reads_a_csv_file_with_header_and_nulls() {
    let df = read_csv(&fixture("pyarrow.csv"), &CsvOptions::new().block_size(97)).expect("read");
    assert!(df.npartitions() > 3);
    let b = df.collect(&Client::threads()).expect("collect");
    assert_eq!(b.num_rows(), 50);
    for (i, r) in common::rows(&b).iter().enumerate() {
        assert_eq!(r[0], Cell::Int(i as i64));
        let x = if i % 7 == 0 {
            Cell::Null
        } else {
            Cell::Float(i as f64 * 1.5)
        };
        assert_eq!(r[2], x);
    }
}

fn python_with_pyarrow() -> Option<String> {
    let home = std::env::var("HOME").unwrap_or_default();
    let venv = format!("{home}/.cache/rask-bench-venv/bin/python");
    let found = [venv.as_str(), "python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import pyarrow"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    found.map(str::to_string)
}

#[test]
fn pyarrow_reads_what_we_write() {
    let Some(py) = python_with_pyarrow() else {
        println!("SKIPPED pyarrow_reads_what_we_write: no python with pyarrow (the bench venv or python3)");
        return;
    };
    let mut rng = Rng(21);
    let table: RecordBatch = random_table(&mut rng, 100);
    let df = DataFrame::from_record_batches(random_split(&mut rng, &table)).expect("frame");
    let dir = tmp("pyarrow");
    df.to_parquet(&dir)
        .expect("plan")
        .compute(&Client::sync())
        .expect("write");
    // PyArrow sums the numbers and counts the nulls; we compare with ours.
    let script = "import sys, pyarrow.dataset as ds, pyarrow.compute as pc\n\
        t = ds.dataset(sys.argv[1], format='parquet').to_table()\n\
        print(t.num_rows, pc.sum(t['v_int']).as_py(), repr(pc.sum(t['v_f']).as_py()), \
        t['k_str'].null_count, pc.count_distinct(t['s']).as_py())";
    let out = std::process::Command::new(&py)
        .args(["-c", script, &dir])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    let plain = common::rows(&table);
    let sum_i: i64 = plain
        .iter()
        .filter_map(|r| num(&r[2]))
        .map(|x| x as i64)
        .sum();
    let sum_f: f64 = plain.iter().filter_map(|r| num(&r[3])).sum();
    let nulls = plain.iter().filter(|r| r[1] == Cell::Null).count();
    assert_eq!(f[0], "100");
    assert_eq!(f[1].parse::<i64>().expect("int"), sum_i);
    assert!((f[2].parse::<f64>().expect("float") - sum_f).abs() < 1e-6);
    assert_eq!(f[3].parse::<usize>().expect("nulls"), nulls);
    // The same table as CSV, read back by PyArrow's CSV reader.
    let csv_dir = tmp("pyarrow-csv");
    df.to_csv(&csv_dir)
        .expect("plan")
        .compute(&Client::sync())
        .expect("write csv");
    let script = "import sys, glob, pyarrow as pa, pyarrow.csv as pc2, pyarrow.compute as pc\n\
        t = pa.concat_tables([pc2.read_csv(f) for f in sorted(glob.glob(sys.argv[1] + '/*.csv'))])\n\
        print(t.num_rows, pc.sum(t['v_int']).as_py(), repr(pc.sum(t['v_f']).as_py()))";
    let out = std::process::Command::new(&py)
        .args(["-c", script, &csv_dir])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f[0], "100");
    assert_eq!(f[1].parse::<i64>().expect("int"), sum_i);
    assert!((f[2].parse::<f64>().expect("float") - sum_f).abs() < 1e-6);
    let _ = std::fs::remove_dir_all(&csv_dir);
    let _ = std::fs::remove_dir_all(&dir);
}
