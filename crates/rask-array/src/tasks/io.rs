//! Kernels that read and write the chunks of a directory store (one `.npy`
//! file per chunk).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};

use crate::block::Block;
use crate::npy;

/// Writes a chunk to `path` as `.npy`; returns the bytes written.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn write_chunk(a: Block, path: String) -> Result<u64, String> {
    let f = File::create(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let n = npy::write_block(&mut w, &a).map_err(|e| format!("{path}: {e}"))?;
    w.flush().map_err(|e| format!("{path}: {e}"))?;
    Ok(n)
}

/// Reads a chunk from a `.npy` file, checking its shape.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn read_chunk(path: String, shape: Vec<usize>) -> Result<Block, String> {
    let f = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let h = npy::read_header(&mut r).map_err(|e| format!("{path}: {e}"))?;
    if h.shape != shape {
        return Err(format!(
            "{path}: a chunk of shape {:?}, expected {shape:?}",
            h.shape
        ));
    }
    npy::read_data(&mut r, &h).map_err(|e| format!("{path}: {e}"))
}

/// The sum of byte counts (the tree that finishes a store write).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn total(parts: Vec<u64>) -> u64 {
    parts.iter().sum()
}
