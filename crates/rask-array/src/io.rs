//! Arrays in and out of files.
//!
//! - `.npy` (NumPy's format) for arrays that fit in memory: [`Array::to_npy`]
//!   computes and writes one file; [`from_npy`] reads one and cuts it into chunks.
//! - A chunked directory store for arrays larger than memory:
//!   [`Array::to_store`] writes one `.npy` per chunk from the tasks that make
//!   it (chunks are freed as soon as they are written) plus `meta.json`
//!   (shape, chunks, dtype); [`from_store`] reads it lazily, one task per chunk.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use rask_core::Executor;
use serde::{Deserialize, Serialize};

use crate::array::Array;
use crate::block::{Block, DType};
use crate::chunks::{grid_indices, ChunkSpec, Chunks};
use crate::error::{ArrayError, Result};
use crate::npy;
use crate::tasks::io as k;
use crate::tree::tree;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ArrayError + '_ {
    move |source| ArrayError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Array {
    /// Computes the array and writes it to one `.npy` file.
    pub fn to_npy<E: Executor + ?Sized>(&self, path: impl AsRef<Path>, executor: &E) -> Result<()> {
        let path = path.as_ref();
        let block = match self.dtype {
            DType::F64 => Block::from(self.compute::<f64, E>(executor)?),
            DType::I64 => Block::from(self.compute::<i64, E>(executor)?),
            DType::Bool => Block::from(self.compute::<bool, E>(executor)?),
        };
        let f = File::create(path).map_err(io_err(path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        npy::write_block(&mut w, &block).map_err(io_err(path))?;
        w.flush().map_err(io_err(path))
    }

    /// Writes the array as a chunked directory store (created if missing):
    /// `meta.json` and one `.npy` file per chunk, named by its grid position
    /// (`0.3.npy`). Returns the bytes of chunk files written.
    pub fn to_store<E: Executor + ?Sized>(
        &self,
        dir: impl AsRef<Path>,
        executor: &E,
    ) -> Result<u64> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let meta = Meta {
            shape: self.shape.clone(),
            chunks: self.chunks.sizes().to_vec(),
            dtype: self.dtype,
        };
        let mpath = dir.join("meta.json");
        let text =
            serde_json::to_string_pretty(&meta).map_err(|e| ArrayError::Invalid(e.to_string()))?;
        std::fs::write(&mpath, text).map_err(io_err(&mpath))?;
        let writes = grid_indices(&self.chunks.grid())
            .iter()
            .zip(&self.blocks)
            .map(|(idx, b)| k::write_chunk::delayed(b, chunk_path(dir, idx)))
            .collect();
        match tree(writes, 16, k::total::delayed) {
            Some(t) => Ok(t.compute(executor)?),
            None => Ok(0),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Meta {
    shape: Vec<usize>,
    chunks: Vec<Vec<usize>>,
    dtype: DType,
}

fn chunk_path(dir: &Path, idx: &[usize]) -> String {
    let name = if idx.is_empty() {
        "0".to_owned()
    } else {
        idx.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(".")
    };
    dir.join(format!("{name}.npy")).display().to_string()
}

/// Reads a `.npy` file (float64, int64 or bool) into an array cut into `chunks`.
pub fn from_npy(path: impl AsRef<Path>, chunks: impl Into<ChunkSpec>) -> Result<Array> {
    let path = path.as_ref();
    let f = File::open(path).map_err(io_err(path))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let fmt = |why: String| ArrayError::Format {
        path: path.display().to_string(),
        why,
    };
    let h = npy::read_header(&mut r).map_err(fmt)?;
    let b = npy::read_data(&mut r, &h).map_err(fmt)?;
    match b {
        Block::F64(a) => Array::from_ndarray(&a, chunks),
        Block::I64(a) => Array::from_ndarray(&a, chunks),
        Block::Bool(a) => Array::from_ndarray(&a, chunks),
    }
}

/// Opens a directory store written by [`Array::to_store`]: one read task per chunk.
pub fn from_store(dir: impl AsRef<Path>) -> Result<Array> {
    let dir = dir.as_ref();
    let mpath = dir.join("meta.json");
    let text = std::fs::read_to_string(&mpath).map_err(io_err(&mpath))?;
    let meta: Meta = serde_json::from_str(&text).map_err(|e| ArrayError::Format {
        path: mpath.display().to_string(),
        why: e.to_string(),
    })?;
    let chunks = Chunks::new(&meta.shape, meta.chunks)?;
    let blocks = grid_indices(&chunks.grid())
        .iter()
        .map(|idx| k::read_chunk::delayed(chunk_path(dir, idx), chunks.chunk_shape(idx)))
        .collect();
    Ok(Array::make(meta.shape, chunks, meta.dtype, blocks))
}
