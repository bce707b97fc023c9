//! Parquet in and out.
//!
//! Reading opens the footer when the graph is built (schema, row groups,
//! statistics) and makes one task per partition. By default each row group
//! is a partition; `partitions(n)` cuts the rows into `n` even ranges
//! instead (a task reads the row groups its range overlaps with a row
//! selection). Only the projected columns are decoded; row-group filters
//! (`col op literal`, and-ed) skip row groups whose statistics rule them
//! out, and the same predicate filters the rows that are read. A directory
//! reads its `*.parquet` files in name order. Writing makes one file per
//! partition, `part.N.parquet`, Snappy-compressed (PyArrow's default).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use rask_core::Delayed;

use crate::error::{FrameError, Result};
use crate::expr::{index_of, BinOp, Expr, Scalar};
use crate::frame::DataFrame;
use crate::partition::Partition;

/// Options of [`read_parquet`].
#[derive(Clone, Debug, Default)]
pub struct ParquetOptions {
    columns: Option<Vec<String>>,
    filters: Vec<Expr>,
    partitions: Option<usize>,
    dictionary: bool,
}

impl ParquetOptions {
    /// Default options: every column, one partition per row group.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only these columns, in this order.
    pub fn columns(mut self, cols: &[&str]) -> Self {
        self.columns = Some(cols.iter().map(|c| c.to_string()).collect());
        self
    }
    /// Keep only rows where `predicate` holds; its `col op literal` terms
    /// (and-ed) also skip row groups by their statistics.
    pub fn filter(mut self, predicate: Expr) -> Self {
        self.filters.push(predicate);
        self
    }
    /// Read string columns as `Dictionary(Int32, Utf8)`, keeping the
    /// file's dictionary encoding (no string is materialized per row; a
    /// group-by hashes each distinct string once).
    pub fn strings_as_dictionary(mut self, yes: bool) -> Self {
        self.dictionary = yes;
        self
    }
    /// Cut the rows into `n` even partitions.
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n.max(1));
        self
    }
}

fn files_of(path: &str) -> Result<Vec<PathBuf>> {
    let p = Path::new(path);
    if p.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| FrameError::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        v.sort_by_key(|p| natural_key(p));
        if v.is_empty() {
            return Err(FrameError::Invalid(format!("{path}: no .parquet files")));
        }
        Ok(v)
    } else {
        Ok(vec![p.to_path_buf()])
    }
}

/// Sorts `part.10` after `part.9`.
fn natural_key(p: &Path) -> (String, u64) {
    let s = p
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    let prefix: String = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    (prefix, digits.parse().unwrap_or(0))
}

fn open(path: &Path, dictionary: bool) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let s = path.display().to_string();
    let f = File::open(path).map_err(|e| FrameError::io(&s, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f)?;
    if !dictionary {
        return Ok(b);
    }
    let schema = dictionary_schema(b.schema());
    let f = File::open(path).map_err(|e| FrameError::io(&s, e))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new_with_options(
        f,
        ArrowReaderOptions::new().with_schema(schema),
    )?)
}

/// String columns as dictionaries.
fn dictionary_schema(s: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = s
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                f.as_ref().clone().with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(DataType::Utf8),
                ))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, s.metadata().clone()))
}

/// A Parquet file (or a directory of them) as a dataframe.
pub fn read_parquet(path: &str, opts: &ParquetOptions) -> Result<DataFrame> {
    let files = files_of(path)?;
    // (file, row group, rows) for every row group kept, in order.
    let mut groups: Vec<(usize, usize, usize)> = Vec::new();
    let mut file_schema: Option<SchemaRef> = None;
    let mut projection: Option<Vec<usize>> = None;
    let mut out_schema: Option<SchemaRef> = None;
    for (fi, f) in files.iter().enumerate() {
        let b = open(f, opts.dictionary)?;
        let schema = b.schema().clone();
        match &file_schema {
            None => {
                let proj = match &opts.columns {
                    None => None,
                    Some(cols) => Some(
                        cols.iter()
                            .map(|c| index_of(&schema, c))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                };
                let out = match &proj {
                    None => schema.clone(),
                    Some(p) => Arc::new(schema.project(p)?),
                };
                for e in &opts.filters {
                    let t = e.data_type(&schema)?;
                    if t != arrow::datatypes::DataType::Boolean {
                        return Err(FrameError::ty(e.to_string(), "a filter must be boolean"));
                    }
                }
                projection = proj;
                out_schema = Some(out);
                file_schema = Some(schema.clone());
            }
            Some(s) if s.fields() != schema.fields() => {
                return Err(FrameError::Schema(format!(
                    "{} has columns {:?}, the first file has {:?}",
                    f.display(),
                    schema.fields(),
                    s.fields()
                )));
            }
            Some(_) => {}
        }
        let terms = stat_terms(&opts.filters);
        for (gi, rg) in b.metadata().row_groups().iter().enumerate() {
            if terms.iter().all(|t| t.may_match(rg)) {
                groups.push((fi, gi, rg.num_rows() as usize));
            }
        }
    }
    let (Some(file_schema), Some(out_schema)) = (file_schema, out_schema) else {
        return Err(FrameError::Invalid(format!("{path}: no files")));
    };
    let filter = opts.filters.iter().cloned().reduce(|a, b| a.and(b));
    // Columns the filter needs beyond the projection are read, then dropped.
    let (read_proj, keep) = match (&projection, &filter) {
        (Some(p), Some(f)) => {
            let mut cols = Vec::new();
            f.columns(&mut cols);
            let mut rp = p.clone();
            for c in cols {
                let i = index_of(&file_schema, &c)?;
                if !rp.contains(&i) {
                    rp.push(i);
                }
            }
            let keep: Vec<usize> = (0..p.len()).collect();
            (Some(rp), Some(keep))
        }
        (p, _) => (p.clone(), None),
    };
    let mk = |file: usize, row_groups: Vec<usize>, skip: usize, take: usize| {
        read_parquet_part::delayed(ReadSpec {
            path: files[file].display().to_string(),
            row_groups,
            skip,
            take,
            projection: read_proj.clone(),
            filter: filter.clone(),
            keep: keep.clone(),
            dictionary: opts.dictionary,
        })
    };
    let mut parts: Vec<Delayed<Partition>> = Vec::new();
    match opts.partitions {
        None => {
            for &(fi, gi, n) in &groups {
                parts.push(mk(fi, vec![gi], 0, n));
            }
        }
        Some(np) => {
            let total: usize = groups.iter().map(|g| g.2).sum();
            // Start row of each kept group in the concatenation.
            let mut starts = Vec::with_capacity(groups.len());
            let mut acc = 0;
            for g in &groups {
                starts.push(acc);
                acc += g.2;
            }
            for k in 0..np {
                let (lo, hi) = (total * k / np, total * (k + 1) / np);
                // Pieces per file: (file, groups, skip, take).
                let mut pieces: Vec<Delayed<Partition>> = Vec::new();
                let mut cur: Option<(usize, Vec<usize>, usize, usize)> = None;
                for (gidx, &(fi, gi, n)) in groups.iter().enumerate() {
                    let (s, e) = (starts[gidx], starts[gidx] + n);
                    if e <= lo || s >= hi {
                        continue;
                    }
                    let skip = lo.saturating_sub(s);
                    let take = hi.min(e) - s.max(lo);
                    match &mut cur {
                        Some((cf, rgs, _, t)) if *cf == fi => {
                            rgs.push(gi);
                            *t += take;
                        }
                        _ => {
                            if let Some((cf, rgs, sk, t)) = cur.take() {
                                pieces.push(mk(cf, rgs, sk, t));
                            }
                            cur = Some((fi, vec![gi], skip, take));
                        }
                    }
                }
                if let Some((cf, rgs, sk, t)) = cur.take() {
                    pieces.push(mk(cf, rgs, sk, t));
                }
                parts.push(match pieces.len() {
                    0 => crate::tasks::identity::delayed(Partition::empty(out_schema.clone())),
                    1 => pieces.pop().unwrap_or_else(|| unreachable!()),
                    _ => crate::tasks::concat::delayed(crate::tasks::gather(&pieces)),
                });
            }
        }
    }
    if parts.is_empty() {
        parts.push(crate::tasks::identity::delayed(Partition::empty(
            out_schema.clone(),
        )));
    }
    Ok(DataFrame::from_partitions(out_schema, parts))
}

/// What one read task reads: `take` rows after the first `skip` of some
/// row groups of a file, these columns (file indices, in output order),
/// the rows where `filter` holds, then only the columns at `keep`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReadSpec {
    /// The file.
    pub path: String,
    /// Row groups, ascending.
    pub row_groups: Vec<usize>,
    /// Rows skipped at the start of those row groups.
    pub skip: usize,
    /// Rows read after them.
    pub take: usize,
    /// Columns by file index, in output order (all when `None`).
    pub projection: Option<Vec<usize>>,
    /// A row filter.
    pub filter: Option<Expr>,
    /// Columns kept after filtering, by position.
    pub keep: Option<Vec<usize>>,
    /// Strings as dictionaries.
    pub dictionary: bool,
}

/// Reads one partition of a Parquet file.
#[rask_macros::task(crate = rask_core)]
pub fn read_parquet_part(spec: ReadSpec) -> Result<Partition> {
    let ReadSpec {
        path,
        row_groups,
        skip,
        take,
        projection,
        filter,
        keep,
        dictionary,
    } = spec;
    let b = open(Path::new(&path), dictionary)?;
    let schema = b.schema().clone();
    let read_schema: SchemaRef = match &projection {
        None => schema.clone(),
        Some(p) => Arc::new(schema.project(p)?),
    };
    // The reader returns columns in file order; put them in projection order.
    let mask = match &projection {
        None => ProjectionMask::all(),
        Some(p) => ProjectionMask::roots(b.parquet_schema(), p.iter().copied()),
    };
    let total: usize = row_groups
        .iter()
        .map(|&g| b.metadata().row_group(g).num_rows() as usize)
        .sum();
    let mut sel = Vec::new();
    if skip > 0 {
        sel.push(RowSelector::skip(skip));
    }
    sel.push(RowSelector::select(take));
    if total > skip + take {
        sel.push(RowSelector::skip(total - skip - take));
    }
    let reader = b
        .with_row_groups(row_groups)
        .with_projection(mask)
        .with_row_selection(RowSelection::from(sel))
        .with_batch_size(take.clamp(1, 1 << 20))
        .build()?;
    let batches = reader.collect::<std::result::Result<Vec<RecordBatch>, _>>()?;
    let read = match batches.len() {
        0 => RecordBatch::new_empty(reader_schema(&schema, &projection)),
        1 => batches.into_iter().next().unwrap_or_else(|| unreachable!()),
        _ => concat_batches(&batches[0].schema(), &batches)?,
    };
    // Reorder to projection order.
    let read = match &projection {
        None => read,
        Some(_) => {
            let idx = read_schema
                .fields()
                .iter()
                .map(|f| index_of(read.schema_ref(), f.name()))
                .collect::<Result<Vec<_>>>()?;
            read.project(&idx)?
        }
    };
    let read = match &filter {
        None => read,
        Some(f) => {
            let m = f.evaluate(&read)?;
            let m = m
                .as_any()
                .downcast_ref::<arrow::array::BooleanArray>()
                .ok_or_else(|| FrameError::ty(f.to_string(), "a filter must be boolean"))?;
            filter_record_batch(&read, m)?
        }
    };
    Ok(Partition(match keep {
        None => read,
        Some(k) => read.project(&k)?,
    }))
}

fn reader_schema(schema: &SchemaRef, projection: &Option<Vec<usize>>) -> SchemaRef {
    match projection {
        None => schema.clone(),
        Some(p) => {
            let mut p = p.clone();
            p.sort_unstable();
            Arc::new(schema.project(&p).unwrap_or_else(|_| Schema::empty()))
        }
    }
}

/// A `col op literal` term of a filter, for row-group statistics.
struct StatTerm {
    column: String,
    op: BinOp,
    value: Scalar,
}

fn stat_terms(filters: &[Expr]) -> Vec<StatTerm> {
    fn walk(e: &Expr, out: &mut Vec<StatTerm>) {
        if let Expr::Binary { op, left, right } = e {
            match (op, left.as_ref(), right.as_ref()) {
                (BinOp::And, l, r) => {
                    walk(l, out);
                    walk(r, out);
                }
                (op, Expr::Col(c), Expr::Lit(v)) => out.push(StatTerm {
                    column: c.clone(),
                    op: *op,
                    value: v.clone(),
                }),
                (op, Expr::Lit(v), Expr::Col(c)) => {
                    let flipped = match op {
                        BinOp::Lt => BinOp::Gt,
                        BinOp::LtEq => BinOp::GtEq,
                        BinOp::Gt => BinOp::Lt,
                        BinOp::GtEq => BinOp::LtEq,
                        o => *o,
                    };
                    out.push(StatTerm {
                        column: c.clone(),
                        op: flipped,
                        value: v.clone(),
                    })
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    for f in filters {
        walk(f, &mut out);
    }
    out
}

fn may_match_range<T: PartialOrd>(op: BinOp, min: &T, max: &T, v: &T) -> bool {
    match op {
        BinOp::Eq => !(v < min || v > max),
        BinOp::Lt => min < v,
        BinOp::LtEq => min <= v,
        BinOp::Gt => max > v,
        BinOp::GtEq => max >= v,
        _ => true,
    }
}

impl StatTerm {
    /// False only when the statistics prove no row of the group matches.
    fn may_match(&self, rg: &RowGroupMetaData) -> bool {
        let Some(c) = rg
            .columns()
            .iter()
            .find(|c| c.column_path().string() == self.column)
        else {
            return true;
        };
        let Some(st) = c.statistics() else {
            return true;
        };
        match (st, &self.value) {
            (Statistics::Int64(s), Scalar::Int(v)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) => may_match_range(self.op, a, b, v),
                _ => true,
            },
            (Statistics::Int32(s), Scalar::Int(v)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) => may_match_range(self.op, &i64::from(*a), &i64::from(*b), v),
                _ => true,
            },
            (Statistics::Double(s), Scalar::Float(v)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) => may_match_range(self.op, a, b, v),
                _ => true,
            },
            (Statistics::Double(s), Scalar::Int(v)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) => may_match_range(self.op, a, b, &(*v as f64)),
                _ => true,
            },
            (Statistics::ByteArray(s), Scalar::Str(v)) => match (s.min_opt(), s.max_opt()) {
                (Some(a), Some(b)) => may_match_range(self.op, &a.data(), &b.data(), &v.as_bytes()),
                _ => true,
            },
            _ => true,
        }
    }
}

/// Writes one partition to `path`; returns its row count.
#[rask_macros::task(crate = rask_core)]
pub fn write_parquet_part(p: Partition, path: String) -> Result<u64> {
    let f = File::create(&path).map_err(|e| FrameError::io(&path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(f, p.0.schema(), Some(props))?;
    w.write(&p.0)?;
    w.close()?;
    Ok(p.num_rows() as u64)
}

impl DataFrame {
    /// Writes each partition to `dir/part.N.parquet` (making `dir`); the
    /// delayed value is the number of rows written.
    pub fn to_parquet(&self, dir: &str) -> Result<Delayed<u64>> {
        crate::frame::write_parts(self, dir, "parquet", |p, path| {
            write_parquet_part::delayed(p, path)
        })
    }
}

/// Writes one batch to a single Parquet file (Snappy).
pub fn write_parquet_file(batch: &RecordBatch, path: &str) -> Result<()> {
    write_parquet_part(Partition(batch.clone()), path.to_string()).map(|_| ())
}
