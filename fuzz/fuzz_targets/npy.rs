#![no_main]
//! `cargo +nightly fuzz run npy`: see `rask_fuzz::readers::npy`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rask_fuzz::readers::npy(data));
