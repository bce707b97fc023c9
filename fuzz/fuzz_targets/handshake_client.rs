#![no_main]
//! `cargo +nightly fuzz run handshake_client`: see `rask_fuzz::wire::handshake_as_client`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rask_fuzz::wire::handshake_as_client(data));
