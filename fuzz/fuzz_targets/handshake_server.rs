#![no_main]
//! `cargo +nightly fuzz run handshake_server`: see `rask_fuzz::wire::handshake_as_server`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| rask_fuzz::wire::handshake_as_server(data));
