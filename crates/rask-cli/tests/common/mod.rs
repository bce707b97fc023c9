//! What the command-line tests share: the `rask` binary, a guard that kills
//! a process it holds, and a command's output as one text.

// Each test binary uses some of these.
#![allow(dead_code)]

use std::process::{Child, Output};

/// The `rask` binary under test.
pub(crate) const RASK: &str = env!("CARGO_BIN_EXE_rask");

/// Kills its process when dropped (also when a test fails).
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A finished command's stdout then stderr.
pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
