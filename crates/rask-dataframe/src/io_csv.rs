//! CSV in and out.
//!
//! `read_csv` takes a file, a directory (its `.csv`/`.tsv` files, to any
//! depth) or a glob; the schema is inferred from the first file's first
//! `infer_rows` records when the plan is built (or given), and every other
//! file's header must name the same columns. Each file is cut into byte
//! ranges of `block_size`; a record belongs to the range holding its first
//! byte.
//!
//! Quoted fields may hold newlines (RFC 4180: a quote inside a quoted field
//! is doubled). A record starts after a newline that is outside quotes,
//! which depends on how many quotes come before it: a first pass counts
//! the quotes of every range in parallel (`csv_quote_parity`), and each
//! read task starts from the parity of everything before its range, so
//! ranges split correctly wherever the newlines are. With
//! `newlines_in_values(false)` the first pass is skipped and any newline
//! ends a record (Dask's rule). Empty fields are null. Writing makes
//! `part.N.csv` per partition, each with a header.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::csv::reader::Format;
use arrow::csv::{ReaderBuilder, WriterBuilder};
use arrow::datatypes::{Schema, SchemaRef};
use rask_core::Delayed;
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::expr::Expr;
use crate::frame::DataFrame;
use crate::partition::Partition;
use crate::scan::{Scan, ScanSource};

/// Options of [`read_csv`].
#[derive(Clone, Debug)]
pub struct CsvOptions {
    header: bool,
    delimiter: u8,
    block_size: u64,
    infer_rows: usize,
    schema: Option<SchemaRef>,
    quoted_newlines: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: b',',
            block_size: 64 << 20,
            infer_rows: 1000,
            schema: None,
            quoted_newlines: true,
        }
    }
}

impl CsvOptions {
    /// A header line, `,`, 64 MiB blocks, the schema inferred from 1000
    /// records, newlines allowed inside quoted fields.
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
    /// Whether quoted fields may hold newlines (default true: ranges are
    /// split after a first pass that counts quotes; false skips that pass).
    pub fn newlines_in_values(mut self, yes: bool) -> Self {
        self.quoted_newlines = yes;
        self
    }
}

/// One byte range of a CSV file.
#[derive(Clone, Debug)]
struct Block {
    file: usize,
    start: u64,
    end: u64,
}

/// CSV files, as a scan reads them.
#[derive(Debug)]
pub(crate) struct CsvSource {
    path: String,
    files: Vec<(PathBuf, u64)>,
    schema: SchemaRef,
    opts: CsvOptions,
    blocks: Vec<Block>,
}

impl CsvSource {
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub(crate) fn nparts(&self) -> usize {
        self.blocks.len()
    }

    pub(crate) fn key(&self) -> String {
        format!(
            "csv {:?} header={} delimiter={} block={} newlines={} schema={:?}",
            self.files,
            self.opts.header,
            self.opts.delimiter,
            self.opts.block_size,
            self.opts.quoted_newlines,
            self.schema
        )
    }

    pub(crate) fn lower(
        &self,
        columns: &[String],
        predicate: Option<&Expr>,
    ) -> Result<Vec<Delayed<Partition>>> {
        // Columns parsed: the output's and the predicate's, in file order.
        let (projection, out) = crate::scan::read_projection(&self.schema, columns, predicate)?;
        // Quote parities of every block of a file, for its read tasks.
        let mut parities: Vec<Option<Delayed<Vec<u8>>>> = vec![None; self.files.len()];
        if self.opts.quoted_newlines {
            for (fi, (path, _)) in self.files.iter().enumerate() {
                let ranges: Vec<(u64, u64)> = self
                    .blocks
                    .iter()
                    .filter(|b| b.file == fi)
                    .map(|b| (b.start, b.end))
                    .collect();
                if ranges.len() > 1 {
                    let each: Vec<Delayed<u8>> = ranges
                        .iter()
                        .map(|&(s, e)| csv_quote_parity::delayed(path.display().to_string(), s, e))
                        .collect();
                    parities[fi] = Some(collect_parities(&each));
                }
            }
        }
        let mut index_in_file = vec![0usize; self.files.len()];
        Ok(self
            .blocks
            .iter()
            .map(|b| {
                let k = index_in_file[b.file];
                index_in_file[b.file] += 1;
                let spec = CsvSpec {
                    path: self.files[b.file].0.display().to_string(),
                    start: b.start,
                    end: b.end,
                    block: k,
                    header: self.opts.header,
                    delimiter: self.opts.delimiter,
                    schema: Partition::empty(self.schema.clone()),
                    projection: projection.clone(),
                    output: Partition::empty(out.clone()),
                    predicate: predicate.cloned(),
                };
                match &parities[b.file] {
                    Some(p) => read_csv_part_after::delayed(spec, p),
                    None => read_csv_part::delayed(spec),
                }
            })
            .collect())
    }

    pub(crate) fn describe(&self, columns: &[String], predicate: Option<&Expr>) -> String {
        let mut s = format!(
            "Scan csv {} ({} file(s), {} partition(s)) columns [{}]",
            self.path,
            self.files.len(),
            self.blocks.len(),
            columns.join(", ")
        );
        if let Some(p) = predicate {
            s.push_str(&format!(" filter {p}"));
        }
        s
    }
}

/// Parity bytes in block order (one small task).
fn collect_parities(each: &[Delayed<u8>]) -> Delayed<Vec<u8>> {
    static CODEC: rask_core::Codec = rask_core::codec::<Vec<u8>>();
    rask_core::IntoInput::<Vec<u8>>::into_input(each, &CODEC)
}

/// What one CSV task reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CsvSpec {
    /// The file.
    pub path: String,
    /// Byte range `[start, end)` whose records this task reads.
    pub start: u64,
    /// End of the range.
    pub end: u64,
    /// The range's index in its file.
    pub block: usize,
    /// Whether the file starts with a header line.
    pub header: bool,
    /// Field delimiter.
    pub delimiter: u8,
    /// The file's schema (an empty partition).
    pub schema: Partition,
    /// Columns parsed (file indices, ascending).
    pub projection: Vec<usize>,
    /// The output's schema (an empty partition).
    pub output: Partition,
    /// Rows kept.
    pub predicate: Option<Expr>,
}

/// A CSV file (or a directory of them, or a glob) as a dataframe, one
/// partition per byte range of each file.
pub fn read_csv(path: &str, opts: &CsvOptions) -> Result<DataFrame> {
    let listing = crate::files::list(path, &["csv", "tsv"])?;
    let fmt = Format::default()
        .with_header(opts.header)
        .with_delimiter(opts.delimiter);
    let mut files = Vec::new();
    let mut schema: Option<SchemaRef> = opts.schema.clone();
    for l in &listing.files {
        let name = l.path.display().to_string();
        let mut f = File::open(&l.path).map_err(|e| FrameError::io(&name, e))?;
        let size = f.metadata().map_err(|e| FrameError::io(&name, e))?.len();
        match &schema {
            None => {
                let (s, _) = fmt.infer_schema(&mut f, Some(opts.infer_rows))?;
                schema = Some(Arc::new(s));
            }
            Some(s) if opts.header => {
                let (h, _) = fmt.infer_schema(&mut f, Some(0))?;
                let names: Vec<&String> = h.fields().iter().map(|f| f.name()).collect();
                let want: Vec<&String> = s.fields().iter().map(|f| f.name()).collect();
                if names != want {
                    return Err(FrameError::Schema(format!(
                        "{name} has columns {names:?}, expected {want:?}"
                    )));
                }
            }
            Some(_) => {}
        }
        files.push((l.path.clone(), size));
    }
    let schema = schema.unwrap_or_else(|| Arc::new(Schema::empty()));
    let mut blocks = Vec::new();
    for (fi, (_, size)) in files.iter().enumerate() {
        let n = size.div_ceil(opts.block_size).max(1);
        for k in 0..n {
            blocks.push(Block {
                file: fi,
                start: k * opts.block_size,
                end: ((k + 1) * opts.block_size).min(*size),
            });
        }
    }
    let source = CsvSource {
        path: path.to_string(),
        files,
        schema: schema.clone(),
        opts: opts.clone(),
        blocks,
    };
    let scan = Scan {
        source: ScanSource::Csv(Arc::new(source)),
        columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
        predicate: None,
    };
    Ok(DataFrame::from_plan(scan.into_plan()?))
}

/// Whether `[start, end)` of a file holds an odd number of quote bytes.
#[rask_macros::task(crate = rask_core)]
pub fn csv_quote_parity(path: String, start: u64, end: u64) -> Result<u8> {
    let io = |e| FrameError::io(&path, e);
    let mut f = File::open(&path).map_err(io)?;
    f.seek(SeekFrom::Start(start)).map_err(io)?;
    let mut r = (&mut f).take(end - start);
    let mut buf = vec![0u8; 1 << 20];
    let mut odd = 0u8;
    loop {
        let n = r.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        let q = buf[..n].iter().filter(|&&b| b == b'"').count();
        odd ^= (q & 1) as u8;
    }
    Ok(odd)
}

/// The first record start at or after `pos`, given whether `pos` is inside
/// quotes (`None`: any newline ends a record).
fn record_start(
    r: &mut BufReader<File>,
    pos: u64,
    in_quotes: Option<bool>,
) -> std::io::Result<u64> {
    if pos == 0 {
        return Ok(0);
    }
    // Position `pos` starts a record when byte `pos - 1` is a newline
    // outside quotes: scan from there, with the state before that byte.
    r.seek(SeekFrom::Start(pos - 1))?;
    let before = match in_quotes {
        None => None,
        Some(q) => {
            let is_quote = r.fill_buf()?.first() == Some(&b'"');
            Some(q != is_quote)
        }
    };
    next_record(r, pos - 1, before)
}

/// Reading from `at` (quotes open before it: `in_quotes`), the position
/// after the first newline outside quotes (or the end of the file).
fn next_record(r: &mut BufReader<File>, at: u64, in_quotes: Option<bool>) -> std::io::Result<u64> {
    let Some(mut q) = in_quotes else {
        let mut line = Vec::new();
        return Ok(at + r.read_until(b'\n', &mut line)? as u64);
    };
    let mut at = at;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(at);
        }
        let len = buf.len();
        for (i, &b) in buf.iter().enumerate() {
            if b == b'"' {
                q = !q;
            } else if b == b'\n' && !q {
                r.consume(i + 1);
                return Ok(at + i as u64 + 1);
            }
        }
        at += len as u64;
        r.consume(len);
    }
}

fn read_range(spec: &CsvSpec, in_quotes: Option<(bool, bool)>) -> Result<Partition> {
    let io = |e| FrameError::io(&spec.path, e);
    let f = File::open(&spec.path).map_err(io)?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let (q_start, q_end) = match in_quotes {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    let mut from = record_start(&mut r, spec.start, q_start).map_err(io)?;
    if spec.start == 0 && spec.header {
        r.seek(SeekFrom::Start(0)).map_err(io)?;
        from = next_record(&mut r, 0, q_start.map(|_| false)).map_err(io)?;
    }
    let to = if spec.end <= from {
        from
    } else {
        record_start(&mut r, spec.end, q_end).map_err(io)?
    };
    let out_schema = spec.output.0.schema();
    if to <= from {
        return Ok(Partition::empty(out_schema));
    }
    r.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut buf = Vec::with_capacity((to - from) as usize);
    (&mut r).take(to - from).read_to_end(&mut buf).map_err(io)?;
    let schema = spec.schema.0.schema();
    let reader = ReaderBuilder::new(schema.clone())
        .with_header(false)
        .with_delimiter(spec.delimiter)
        .with_projection(spec.projection.clone())
        .with_batch_size(64 * 1024)
        .build(std::io::Cursor::new(buf))?;
    let read_schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<RecordBatch>, _>>()?;
    let b = concat_batches(&read_schema, &batches)?;
    Ok(Partition(crate::scan::finish_read(
        b,
        spec.predicate.as_ref(),
        &out_schema,
    )?))
}

/// Reads the records starting in one byte range (any newline ends a record).
#[rask_macros::task(crate = rask_core)]
pub fn read_csv_part(spec: CsvSpec) -> Result<Partition> {
    read_range(&spec, None)
}

/// Reads the records starting in one byte range, given the quote parity of
/// every range of the file.
#[rask_macros::task(crate = rask_core)]
pub fn read_csv_part_after(spec: CsvSpec, parities: Vec<u8>) -> Result<Partition> {
    let before = |k: usize| parities.iter().take(k).fold(0u8, |a, &b| a ^ b) == 1;
    let k = spec.block;
    read_range(&spec, Some((before(k), before(k + 1))))
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
