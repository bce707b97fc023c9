#![no_main]
//! `cargo +nightly fuzz run parquet`: see `rask_fuzz::readers::parquet`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rask_fuzz::readers::parquet(data));
