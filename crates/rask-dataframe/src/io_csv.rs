//! CSV in and out.
//!
//! Reading infers the schema from the first `infer_rows` records when the
//! graph is built (or takes a given schema), then cuts the file into byte
//! ranges of `block_size`: a line belongs to the range holding its first
//! byte, so a task seeks to its start, skips to the next line start, and
//! reads through the line that crosses its end. Quoted fields that contain
//! newlines are not supported by byte ranges (as in Dask): give one block
//! (`block_size(u64::MAX)`) for such files. Empty fields are null for
//! numbers and booleans and for strings too (arrow-csv's rule). Writing
//! makes `part.N.csv` per partition, each with a header.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::csv::reader::Format;
use arrow::csv::{ReaderBuilder, WriterBuilder};
use arrow::datatypes::SchemaRef;
use rask_core::Delayed;
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::frame::DataFrame;
use crate::partition::Partition;

/// Options of [`read_csv`].
#[derive(Clone, Debug)]
pub struct CsvOptions {
    header: bool,
    delimiter: u8,
    block_size: u64,
    infer_rows: usize,
    schema: Option<SchemaRef>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: b',',
            block_size: 64 << 20,
            infer_rows: 1000,
            schema: None,
        }
    }
}

impl CsvOptions {
    /// A header line, `,`, 64 MiB blocks, the schema inferred from 1000 records.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether the first line holds the column names (default true;
    /// without one, columns are `column_1`, `column_2`, ...).
    pub fn header(mut self, yes: bool) -> Self {
        self.header = yes;
        self
    }
    /// The field delimiter.
    pub fn delimiter(mut self, d: u8) -> Self {
        self.delimiter = d;
        self
    }
    /// Bytes per partition.
    pub fn block_size(mut self, bytes: u64) -> Self {
        self.block_size = bytes.max(1);
        self
    }
    /// Records read to infer the schema.
    pub fn infer_rows(mut self, n: usize) -> Self {
        self.infer_rows = n.max(1);
        self
    }
    /// The schema, instead of inferring one.
    pub fn schema(mut self, schema: SchemaRef) -> Self {
        self.schema = Some(schema);
        self
    }
}

/// What one CSV task reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CsvSpec {
    /// The file.
    pub path: String,
    /// Byte range `[start, end)` whose line starts this task reads.
    pub start: u64,
    /// End of the range.
    pub end: u64,
    /// Whether the file starts with a header line.
    pub header: bool,
    /// Field delimiter.
    pub delimiter: u8,
    /// The schema, as an Arrow IPC schema message (an empty partition).
    pub schema: Partition,
}

/// A CSV file as a dataframe, one partition per byte range.
pub fn read_csv(path: &str, opts: &CsvOptions) -> Result<DataFrame> {
    let mut f = File::open(path).map_err(|e| FrameError::io(path, e))?;
    let size = f.metadata().map_err(|e| FrameError::io(path, e))?.len();
    let schema: SchemaRef = match &opts.schema {
        Some(s) => s.clone(),
        None => {
            let fmt = Format::default()
                .with_header(opts.header)
                .with_delimiter(opts.delimiter);
            let (s, _) = fmt.infer_schema(&mut f, Some(opts.infer_rows))?;
            Arc::new(s)
        }
    };
    let blocks = size.div_ceil(opts.block_size).max(1);
    let parts: Vec<Delayed<Partition>> = (0..blocks)
        .map(|k| {
            read_csv_part::delayed(CsvSpec {
                path: path.to_string(),
                start: k * opts.block_size,
                end: ((k + 1) * opts.block_size).min(size),
                header: opts.header,
                delimiter: opts.delimiter,
                schema: Partition::empty(schema.clone()),
            })
        })
        .collect();
    Ok(DataFrame::from_partitions(schema, parts))
}

/// The position of the first line start at or after `pos` (`pos` itself
/// when it is 0 or follows a newline).
fn line_start_at_or_after(r: &mut BufReader<File>, pos: u64) -> std::io::Result<u64> {
    if pos == 0 {
        return Ok(0);
    }
    r.seek(SeekFrom::Start(pos - 1))?;
    let mut skipped = Vec::new();
    let n = r.read_until(b'\n', &mut skipped)?;
    Ok(pos - 1 + n as u64)
}

/// Reads the lines starting in one byte range.
#[rask_macros::task(crate = rask_core)]
pub fn read_csv_part(spec: CsvSpec) -> Result<Partition> {
    let io = |e| FrameError::io(&spec.path, e);
    let f = File::open(&spec.path).map_err(io)?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut from = line_start_at_or_after(&mut r, spec.start).map_err(io)?;
    if spec.start == 0 && spec.header {
        r.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut h = Vec::new();
        from = r.read_until(b'\n', &mut h).map_err(io)? as u64;
    }
    let to = if spec.end <= from {
        from
    } else {
        line_start_at_or_after(&mut r, spec.end).map_err(io)?
    };
    let schema = spec.schema.0.schema();
    if to <= from {
        return Ok(Partition::empty(schema));
    }
    r.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut buf = Vec::with_capacity((to - from) as usize);
    (&mut r).take(to - from).read_to_end(&mut buf).map_err(io)?;
    let reader = ReaderBuilder::new(schema.clone())
        .with_header(false)
        .with_delimiter(spec.delimiter)
        .with_batch_size(64 * 1024)
        .build(std::io::Cursor::new(buf))?;
    let batches = reader.collect::<std::result::Result<Vec<RecordBatch>, _>>()?;
    Ok(Partition(concat_batches(&schema, &batches)?))
}

/// Writes one partition as CSV with a header; returns its row count.
#[rask_macros::task(crate = rask_core)]
pub fn write_csv_part(p: Partition, path: String) -> Result<u64> {
    let f = File::create(&path).map_err(|e| FrameError::io(&path, e))?;
    let mut w = WriterBuilder::new().with_header(true).build(f);
    w.write(&p.0)?;
    Ok(p.num_rows() as u64)
}

impl DataFrame {
    /// Writes each partition to `dir/part.N.csv` (making `dir`); the
    /// delayed value is the number of rows written.
    pub fn to_csv(&self, dir: &str) -> Result<Delayed<u64>> {
        crate::frame::write_parts(self, dir, "csv", |p, path| write_csv_part::delayed(p, path))
    }
}
