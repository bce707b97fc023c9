#![no_main]
//! `cargo +nightly fuzz run wire_frames`: see `rask_fuzz::wire::frames`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rask_fuzz::wire::frames(data));
