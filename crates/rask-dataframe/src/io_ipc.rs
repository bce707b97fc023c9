//! Arrow IPC files in and out.
//!
//! `read_ipc` takes a file, a directory (`.arrow`, `.feather`, `.ipc`,
//! `.arrows` files) or a glob. A file in the IPC *file* format (it starts
//! with `ARROW1`) is random access: each record batch is a partition (or
//! `batches_per_partition` of them), read with only the needed columns. A
//! file in the *stream* format is read whole by one task. The predicate is
//! applied in the read task. Writing makes `part.N.arrow` (file format)
//! per partition.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::ipc::writer::FileWriter;
use rask_core::Delayed;
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::expr::Expr;
use crate::frame::DataFrame;
use crate::partition::Partition;
use crate::scan::{Scan, ScanSource};

/// Options of [`read_ipc`].
#[derive(Clone, Debug)]
pub struct IpcOptions {
    batches_per_partition: usize,
}

impl Default for IpcOptions {
    fn default() -> Self {
        IpcOptions {
            batches_per_partition: 1,
        }
    }
}

impl IpcOptions {
    /// One partition per record batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Record batches per partition (file format only).
    pub fn batches_per_partition(mut self, n: usize) -> Self {
        self.batches_per_partition = n.max(1);
        self
    }
}

/// One file: its path, whether it is in the file format, and its batches.
#[derive(Debug)]
struct IpcFile {
    path: PathBuf,
    random_access: bool,
    batches: usize,
}

/// Arrow IPC files, as a scan reads them.
#[derive(Debug)]
pub(crate) struct IpcSource {
    path: String,
    files: Vec<IpcFile>,
    schema: SchemaRef,
    /// (file, first batch, batches); `batches == 0` reads a stream whole.
    parts: Vec<(usize, usize, usize)>,
}

fn is_file_format(path: &PathBuf) -> Result<bool> {
    let name = path.display().to_string();
    let mut f = File::open(path).map_err(|e| FrameError::io(&name, e))?;
    let mut magic = [0u8; 6];
    let n = f.read(&mut magic).map_err(|e| FrameError::io(&name, e))?;
    Ok(n == 6 && &magic == b"ARROW1")
}

impl IpcSource {
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub(crate) fn nparts(&self) -> usize {
        self.parts.len()
    }

    pub(crate) fn key(&self) -> String {
        format!(
            "ipc {:?} {:?}",
            self.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            self.parts
        )
    }

    pub(crate) fn lower(
        &self,
        columns: &[String],
        predicate: Option<&Expr>,
    ) -> Result<Vec<Delayed<Partition>>> {
        let (projection, out) = crate::scan::read_projection(&self.schema, columns, predicate)?;
        Ok(self
            .parts
            .iter()
            .map(|&(fi, first, count)| {
                read_ipc_part::delayed(IpcSpec {
                    path: self.files[fi].path.display().to_string(),
                    first,
                    count,
                    projection: projection.clone(),
                    output: Partition::empty(out.clone()),
                    predicate: predicate.cloned(),
                })
            })
            .collect())
    }

    pub(crate) fn describe(&self, columns: &[String], predicate: Option<&Expr>) -> String {
        let streams = self.files.iter().filter(|f| !f.random_access).count();
        let batches: usize = self.files.iter().map(|f| f.batches).sum();
        let mut s = format!(
            "Scan ipc {} ({} file(s), {streams} stream(s), {batches} random-access batch(es), {} partition(s)) columns [{}]",
            self.path,
            self.files.len(),
            self.parts.len(),
            columns.join(", ")
        );
        if let Some(p) = predicate {
            s.push_str(&format!(" filter {p}"));
        }
        s
    }
}

/// Arrow IPC files (file or stream format) as a dataframe.
pub fn read_ipc(path: &str, opts: &IpcOptions) -> Result<DataFrame> {
    let listing = crate::files::list(path, &["arrow", "feather", "ipc", "arrows"])?;
    let mut files = Vec::new();
    let mut schema: Option<SchemaRef> = None;
    let mut parts = Vec::new();
    for (fi, l) in listing.files.iter().enumerate() {
        let name = l.path.display().to_string();
        let random_access = is_file_format(&l.path)?;
        let f = File::open(&l.path).map_err(|e| FrameError::io(&name, e))?;
        let (s, batches) = if random_access {
            let r = FileReader::try_new(f, None)?;
            (r.schema(), r.num_batches())
        } else {
            let r = StreamReader::try_new(BufReader::new(f), None)?;
            (r.schema(), 0)
        };
        match &schema {
            None => schema = Some(s),
            Some(first) if first.fields() != s.fields() => {
                return Err(FrameError::Schema(format!(
                    "{name} has columns {:?}, the first file has {:?}",
                    s.fields(),
                    first.fields()
                )))
            }
            Some(_) => {}
        }
        if random_access && batches > 0 {
            let k = opts.batches_per_partition;
            for first in (0..batches).step_by(k) {
                parts.push((fi, first, k.min(batches - first)));
            }
        } else {
            parts.push((fi, 0, 0));
        }
        files.push(IpcFile {
            path: l.path.clone(),
            random_access,
            batches,
        });
    }
    let Some(schema) = schema else {
        return Err(FrameError::Invalid(format!("{path}: no files")));
    };
    let source = IpcSource {
        path: path.to_string(),
        files,
        schema: schema.clone(),
        parts,
    };
    let scan = Scan {
        source: ScanSource::Ipc(Arc::new(source)),
        columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
        predicate: None,
    };
    Ok(DataFrame::from_plan(scan.into_plan()?))
}

/// What one IPC read task reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IpcSpec {
    /// The file.
    pub path: String,
    /// First record batch.
    pub first: usize,
    /// Record batches read (0: the whole stream).
    pub count: usize,
    /// Columns read (file indices, ascending).
    pub projection: Vec<usize>,
    /// The output's schema (an empty partition).
    pub output: Partition,
    /// Rows kept.
    pub predicate: Option<Expr>,
}

/// Reads some record batches of an Arrow IPC file.
#[rask_macros::task(crate = rask_core)]
pub fn read_ipc_part(spec: IpcSpec) -> Result<Partition> {
    let io = |e| FrameError::io(&spec.path, e);
    let f = File::open(&spec.path).map_err(io)?;
    let proj = Some(spec.projection.clone());
    let (schema, batches) = if spec.count == 0 {
        let r = StreamReader::try_new(BufReader::new(f), proj)?;
        let s = r.schema();
        (s, r.collect::<std::result::Result<Vec<RecordBatch>, _>>()?)
    } else {
        let mut r = FileReader::try_new(f, proj)?;
        let s = r.schema();
        r.set_index(spec.first)?;
        let mut v = Vec::with_capacity(spec.count);
        for _ in 0..spec.count {
            match r.next() {
                Some(b) => v.push(b?),
                None => break,
            }
        }
        (s, v)
    };
    let b = concat_batches(&schema, &batches)?;
    Ok(Partition(crate::scan::finish_read(
        b,
        spec.predicate.as_ref(),
        &spec.output.0.schema(),
    )?))
}

/// Writes one partition as an Arrow IPC file; returns its row count.
#[rask_macros::task(crate = rask_core)]
pub fn write_ipc_part(p: Partition, path: String) -> Result<u64> {
    let f = File::create(&path).map_err(|e| FrameError::io(&path, e))?;
    let mut w = FileWriter::try_new(f, &p.0.schema())?;
    w.write(&p.0)?;
    w.finish()?;
    Ok(p.num_rows() as u64)
}

impl DataFrame {
    /// Writes each partition to `dir/part.N.arrow` (Arrow IPC file format);
    /// the delayed value is the number of rows written.
    pub fn to_ipc(&self, dir: &str) -> Result<Delayed<u64>> {
        crate::frame::write_parts(self, dir, "arrow", |p, path| {
            write_ipc_part::delayed(p, path)
        })
    }
}
