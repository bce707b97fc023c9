#![no_main]
//! `cargo +nightly fuzz run value_codec`: see `rask_fuzz::codec::value`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rask_fuzz::codec::value(data));
