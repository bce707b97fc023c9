//! Inputs: CSV over globs and directories with quoted newlines at every
//! block boundary, hive-partitioned Parquet directories (partition
//! filters skip files), Arrow IPC files and streams, and Parquet row
//! group and page skipping seen through `explain`.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::*;
use rask_client::Client;
use rask_dataframe::arrow::array::{Int64Array, RecordBatch, StringArray};
use rask_dataframe::arrow::datatypes::{DataType, Field, Schema};
use rask_dataframe::{
    col, len, lit, read_csv, read_ipc, read_parquet, sum, CsvOptions, DataFrame, IpcOptions,
    ParquetOptions,
};

fn tmp(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("rask-dfi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d.display().to_string()
}

/// A CSV field: quoted when it holds a comma, a quote or a newline.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[test]
fn csv_globs_directories_and_quoted_newlines() {
    let dir = tmp("csv");
    std::fs::create_dir_all(format!("{dir}/sub")).expect("sub");
    let mut rng = Rng(7);
    let texts = [
        "plain",
        "two\nlines",
        "a \"quote\"",
        "comma, here",
        "\n",
        "end\n\"q\"\n",
    ];
    let mut want: Vec<Vec<Cell>> = Vec::new();
    let mut id = 0i64;
    for (f, path) in ["a.csv", "b.csv", "sub/c.csv"].iter().enumerate() {
        let mut out = String::from("id,text,x\n");
        for _ in 0..(20 + f * 7) {
            let t = texts[rng.below(texts.len() as u64) as usize];
            let x = rng.below(100) as i64;
            out.push_str(&format!("{id},{},{x}\n", field(t)));
            want.push(vec![Cell::Int(id), Cell::Str(t.to_string()), Cell::Int(x)]);
            id += 1;
        }
        std::fs::File::create(format!("{dir}/{path}"))
            .and_then(|mut w| w.write_all(out.as_bytes()))
            .expect("write csv");
    }
    // A file that is not CSV is left out of the directory.
    std::fs::write(format!("{dir}/notes.txt"), "not,a\ncsv,file\n").expect("notes");
    let c = Client::threads();
    for block in [1u64, 3, 17, 64, 1 << 20] {
        for path in [dir.clone(), format!("{dir}/**/*.csv")] {
            let df = read_csv(&path, &CsvOptions::new().block_size(block)).expect("read");
            let got = df.collect(&c).expect("collect");
            assert_same_rows(
                &sort_rows(common::rows(&got)),
                &sort_rows(want.clone()),
                &format!("{path} in blocks of {block}"),
            );
        }
    }
    // Only the top-level files for a one-level glob, in name order.
    let df = read_csv(&format!("{dir}/*.csv"), &CsvOptions::new().block_size(5)).expect("glob");
    let got = df.collect(&c).expect("collect");
    assert_same_rows(&common::rows(&got), &want[..20 + 27], "a.csv then b.csv");
    // Columns and filters reach the read.
    let q = read_csv(&dir, &CsvOptions::new().block_size(50))
        .expect("read")
        .filter(col("x").lt(lit(50)))
        .expect("filter")
        .select(vec![col("text")])
        .expect("select");
    let plan = q.explain().expect("explain");
    assert!(plan.contains("columns [text] filter"), "{plan}");
    let got = q.collect(&c).expect("collect");
    let expect: Vec<Vec<Cell>> = want
        .iter()
        .filter(|r| matches!(r[2], Cell::Int(x) if x < 50))
        .map(|r| vec![r[1].clone()])
        .collect();
    assert_same_rows(
        &sort_rows(common::rows(&got)),
        &sort_rows(expect),
        "pushed into CSV",
    );
    let e = read_csv(&format!("{dir}/nothing*.csv"), &CsvOptions::new()).expect_err("no files");
    assert!(e.to_string().contains("no"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn table(rows: i64, offset: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("v", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(offset..offset + rows)),
            Arc::new(StringArray::from_iter(
                (0..rows).map(|i| (i % 3 != 0).then(|| format!("n{}", i % 5))),
            )),
        ],
    )
    .expect("table")
}

#[test]
fn hive_partitions_are_columns_and_skip_files() {
    let dir = tmp("hive");
    let c = Client::threads();
    let mut total = 0i64;
    let mut sums: std::collections::HashMap<(i64, String), i64> = Default::default();
    for year in [2023, 2024] {
        for region in ["eu", "us west"] {
            let sub = format!("{dir}/year={year}/region={}", region.replace(' ', "%20"));
            std::fs::create_dir_all(&sub).expect("dir");
            let t = table(10, total);
            rask_dataframe::write_parquet_file(&t, &format!("{sub}/part.0.parquet"))
                .expect("write");
            *sums.entry((year, region.to_string())).or_default() +=
                (total..total + 10).sum::<i64>();
            total += 10;
        }
    }
    std::fs::write(format!("{dir}/_SUCCESS"), "").expect("marker");
    let df = read_parquet(&dir, &ParquetOptions::new()).expect("read");
    assert_eq!(df.columns(), ["v", "name", "year", "region"]);
    assert_eq!(df.schema().field(2).data_type(), &DataType::Int64);
    assert_eq!(df.schema().field(3).data_type(), &DataType::Utf8);
    let q = df
        .filter(
            col("year")
                .eq(lit(2024))
                .and(col("region").eq(lit("us west"))),
        )
        .expect("filter")
        .groupby(&["year", "region"])
        .agg(vec![sum("v"), len()])
        .expect("agg");
    let plan = q.explain().expect("explain");
    assert!(plan.contains("4 file(s), 1 read"), "{plan}");
    let got = common::rows(&q.collect(&c).expect("collect"));
    assert_eq!(
        got,
        vec![vec![
            Cell::Int(2024),
            Cell::Str("us west".into()),
            Cell::Int(sums[&(2024, "us west".to_string())]),
            Cell::Int(10)
        ]]
    );
    // A term mixing a partition column and a file column.
    let q = df
        .filter(col("v").gt(col("year") - lit(2000)))
        .expect("filter");
    let n = q.count_rows(&c).expect("count");
    let want = (0..total)
        .filter(|v| *v > (if v / 20 == 0 { 23 } else { 24 }))
        .count();
    assert_eq!(n as usize, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parquet_skips_row_groups_and_pages_by_statistics() {
    let dir = tmp("prune");
    let c = Client::threads();
    let t = table(10_000, 0);
    let df = DataFrame::from_record_batches(vec![t.slice(0, 5_000), t.slice(5_000, 5_000)])
        .expect("frame");
    df.to_parquet(&dir)
        .expect("plan")
        .compute(&c)
        .expect("write");
    let back = read_parquet(&dir, &ParquetOptions::new()).expect("read");
    let q = back
        .filter(col("v").between(lit(6_000), lit(6_099)))
        .expect("filter");
    let plan = q.explain().expect("explain");
    assert!(plan.contains("row groups: 1 of 2 kept"), "{plan}");
    let got = q.collect(&c).expect("collect");
    assert_eq!(got.num_rows(), 100);
    let v = got
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("ints");
    assert_eq!(
        v.values().iter().copied().collect::<Vec<_>>(),
        (6_000..6_100).collect::<Vec<_>>()
    );
    // Nothing matches: every partition is empty, none is read.
    let none = back.filter(col("v").gt(lit(1_000_000))).expect("filter");
    assert!(none
        .explain()
        .expect("explain")
        .contains("row groups: 0 of 2 kept"));
    assert_eq!(none.count_rows(&c).expect("count"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn arrow_ipc_files_and_streams() {
    let dir = tmp("ipc");
    let c = Client::threads();
    let mut rng = Rng(3);
    let t = random_table(&mut rng, 200);
    let df = DataFrame::from_record_batches(random_split(&mut rng, &t)).expect("frame");
    let written = df.to_ipc(&dir).expect("plan").compute(&c).expect("write");
    assert_eq!(written, 200);
    // A stream next to the files.
    let mut buf = Vec::new();
    {
        let mut w =
            rask_dataframe::arrow::ipc::writer::StreamWriter::try_new(&mut buf, &t.schema())
                .expect("stream");
        w.write(&t.slice(0, 10)).expect("write");
        w.finish().expect("finish");
    }
    std::fs::write(format!("{dir}/extra.arrows"), buf).expect("stream file");
    let back = read_ipc(&dir, &IpcOptions::new()).expect("read");
    let got = back.collect(&c).expect("collect");
    let mut want = common::rows(&t);
    want.extend(common::rows(&t.slice(0, 10)));
    assert_same_rows(&sort_rows(common::rows(&got)), &sort_rows(want), "ipc");
    let q = back
        .filter(col("v_int").gt(lit(0)))
        .expect("f")
        .select(vec![col("k_str")])
        .expect("s");
    assert!(q
        .explain()
        .expect("explain")
        .contains("columns [k_str] filter"));
    let n = q.count_rows(&c).expect("count");
    let plain = common::rows(&t);
    let w = plain
        .iter()
        .filter(|r| matches!(r[2], Cell::Int(v) if v > 0))
        .count()
        + plain[..10]
            .iter()
            .filter(|r| matches!(r[2], Cell::Int(v) if v > 0))
            .count();
    assert_eq!(n as usize, w);
    let _ = std::fs::remove_dir_all(&dir);
}
