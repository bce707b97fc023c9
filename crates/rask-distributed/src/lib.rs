//! Rask's distributed runtime: a scheduler and workers over TCP.
//!
//! - [`wire`]: length-prefixed frames with a size limit, and the handshake
//!   (protocol version, challenge-response on a shared secret that never
//!   crosses the wire).
#![allow(dead_code)]

pub mod wire;
