//! README "Dataframes": a CSV read into partitions, a filter and a group-by,
//! collected into an Arrow `RecordBatch` and printed as a table.
//!
//! `cargo run --release --features dataframe --example dataframe` prints a
//! table of three cities with their sales count and total.

use rask::dataframe::arrow::util::display::array_value_to_string;
use rask::dataframe::{asc, col, len, lit, read_csv, sum, CsvOptions};
use rask::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("rask-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sales.csv");
    let mut csv = String::from("city,amount\n");
    for i in 0..1000u64 {
        let city = ["Oslo", "Lima", "Pune", "Kyiv"][(i % 4) as usize];
        csv.push_str(&format!("{city},{}.5\n", i % 10));
    }
    std::fs::write(&path, csv)?;

    let client = Client::threads();
    let df = read_csv(path.to_str().ok_or("path")?, &CsvOptions::default())?;
    println!("rows: {}", df.len()?.compute(&client)?);
    let by_city = df
        .filter(col("city").not_eq(lit("Kyiv")))?
        .groupby(&["city"])
        .agg(vec![len().alias("n"), sum("amount").alias("total")])?
        .sort(vec![asc("city")])?;
    let batch = by_city.collect(&client)?;
    std::fs::remove_dir_all(&dir)?;

    // A RecordBatch: print each row's values as Arrow displays them.
    println!("{:<6} {:>5} {:>8}", "city", "n", "total");
    for r in 0..batch.num_rows() {
        let cell = |c: usize| array_value_to_string(batch.column(c), r);
        println!("{:<6} {:>5} {:>8}", cell(0)?, cell(1)?, cell(2)?);
    }
    Ok(())
}
