#![no_main]
//! `cargo +nightly fuzz run csv`: see `rask_fuzz::readers::csv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rask_fuzz::readers::csv(data));
