//! The bodies of Rask's fuzz targets, one function per target, each taking
//! arbitrary bytes. They are run two ways:
//! - by libFuzzer, through the `cargo fuzz` targets in `fuzz/` (nightly, a
//!   bounded time per target in CI: `scripts/fuzz`);
//! - by the stable property tests of this crate (`tests/properties.rs`),
//!   on the committed seed corpus (`fuzz/corpus/`) and on inputs made by a
//!   seeded generator that mutates valid encodings ([`gen`]), in the
//!   normal `cargo test`.
//!
//! A target *fails* by panicking: on a panic or hang of the code under
//! test, and on an outcome the code must never produce (an error of a kind
//! that the situation cannot cause, such as a timeout while reading bytes
//! that are all there; a handshake that a peer without the secret passes;
//! a value that does not survive a round trip). Every other rejection must
//! come back as the crate's typed error, which the targets check by kind.

pub mod codec;
pub mod gen;
pub mod readers;
pub mod targets;
pub mod wire;

/// A runtime for the async targets: current-thread, made once per thread.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: tokio::runtime::Runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("rask-fuzz: no runtime: {e}"),
        };
    }
    RT.with(|rt| rt.block_on(f))
}
