//! Parquet in and out.
//!
//! `read_parquet` takes a file, a directory (read to any depth, with hive
//! partition columns from `key=value` directories, see `files.rs`) or a
//! glob, opens every footer when the plan is built (schema, row groups,
//! statistics) and adds a scan to the plan. The optimizer pushes the
//! columns and filters of later operations into the scan; when it is
//! lowered:
//!
//! * files whose partition values fail the filter are skipped whole;
//! * row groups whose statistics rule the filter out are skipped
//!   (`prune.rs`), and in each read, pages too where the file has a page
//!   index;
//! * the filter's columns are decoded first and the other columns only
//!   for the rows that match (late materialization, `read.rs`);
//! * only the columns someone reads are decoded.
//!
//! Partitions: by default one per row group; `partitions(n)` cuts the rows
//! into `n` even ranges (a task reads the row groups its range overlaps,
//! with a row selection). Skipping keeps the partitions (one may become
//! empty), so `npartitions()` does not depend on the filter. Writing makes
//! one file per partition, `part.N.parquet`, Snappy-compressed, with
//! column statistics and a page index.

mod prune;
mod read;
mod write;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::basic::Encoding;
use parquet::file::metadata::ParquetMetaData;
use rask_core::Delayed;

pub use read::{read_parquet_part, ReadSpec};
pub use write::{write_parquet_file, write_parquet_part};

use crate::error::{FrameError, Result};
use crate::expr::{Expr, Scalar};
use crate::frame::DataFrame;
use crate::partition::Partition;
use crate::scan::{Scan, ScanSource};

/// How [`read_parquet`] reads string columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strings {
    /// As the file's Arrow type (`Utf8` unless the file says otherwise).
    #[default]
    Native,
    /// Every string column as `Dictionary(Int32, Utf8)`.
    Dictionary,
    /// As the file stores them: `Dictionary(Int32, Utf8)` where every data
    /// page of every row group is dictionary-encoded, `Utf8View` where the
    /// writer fell back to plain pages (too many distinct values: building
    /// a dictionary would cost more than it saves). The fastest to decode.
    FileEncoding,
}

/// Options of [`read_parquet`].
#[derive(Clone, Debug, Default)]
pub struct ParquetOptions {
    columns: Option<Vec<String>>,
    filters: Vec<Expr>,
    partitions: Option<usize>,
    strings: Strings,
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
    /// Keep only rows where `predicate` holds (the same as a `filter`
    /// right after the read).
    pub fn filter(mut self, predicate: Expr) -> Self {
        self.filters.push(predicate);
        self
    }
    /// Read every string column as `Dictionary(Int32, Utf8)` (`true`), or
    /// as the file's Arrow type (`false`, the default). The file's
    /// dictionary encoding is kept where it has one (no string is
    /// materialized per row; a group-by hashes each distinct string once);
    /// elsewhere the reader builds a dictionary by hashing every value.
    pub fn strings_as_dictionary(mut self, yes: bool) -> Self {
        self.strings = if yes {
            Strings::Dictionary
        } else {
            Strings::Native
        };
        self
    }
    /// How string columns are read (see [`Strings`]).
    pub fn strings(mut self, s: Strings) -> Self {
        self.strings = s;
        self
    }
    /// Cut the rows into `n` even partitions.
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n.max(1));
        self
    }
}

/// One file of a Parquet scan.
#[derive(Debug)]
pub(crate) struct ParquetFile {
    pub(crate) path: PathBuf,
    pub(crate) meta: Arc<ParquetMetaData>,
    /// The file's own Arrow schema (for statistics).
    pub(crate) native: SchemaRef,
    /// Hive partition values (the source's `hive` fields, in order).
    pub(crate) hive: Vec<Scalar>,
}

/// Rows `skip..skip + take` of a row group.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece {
    pub(crate) file: usize,
    pub(crate) group: usize,
    pub(crate) skip: usize,
    pub(crate) take: usize,
}

/// Parquet files, as a scan reads them.
#[derive(Debug)]
pub(crate) struct ParquetSource {
    path: String,
    files: Vec<ParquetFile>,
    /// The file's columns with the types they are read as.
    read_as: SchemaRef,
    /// File columns (as read), then hive columns.
    schema: SchemaRef,
    hive: Vec<Field>,
    strings: Strings,
    partitions: Option<usize>,
    /// The pieces of each partition.
    layout: Vec<Vec<Piece>>,
}

/// Whether every data page of column `root` is dictionary-encoded in
/// every row group.
fn all_dictionary(meta: &ParquetMetaData, root: usize) -> bool {
    meta.row_groups().iter().all(|g| {
        g.columns().get(root).is_some_and(|c| {
            c.dictionary_page_offset().is_some()
                && c.page_encoding_stats_mask().is_some_and(|m| {
                    m.is_only(Encoding::PLAIN_DICTIONARY) || m.is_only(Encoding::RLE_DICTIONARY)
                })
        })
    })
}

/// The types string columns are read as (see [`Strings`]).
fn string_read_types(
    native: &SchemaRef,
    metas: &[&ParquetMetaData],
    strings: Strings,
) -> SchemaRef {
    let top_level = native.fields().len()
        == metas
            .first()
            .map_or(0, |m| m.file_metadata().schema_descr().num_columns());
    let fields: Vec<Field> = native
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let dict = strings == Strings::Dictionary
                    || top_level && metas.iter().all(|m| all_dictionary(m, i));
                let t = if dict {
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
                } else {
                    DataType::Utf8View
                };
                f.as_ref().clone().with_data_type(t)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, native.metadata().clone()))
}

fn layout(files: &[ParquetFile], partitions: Option<usize>) -> Vec<Vec<Piece>> {
    let units: Vec<Piece> = files
        .iter()
        .enumerate()
        .flat_map(|(fi, f)| {
            f.meta
                .row_groups()
                .iter()
                .enumerate()
                .map(move |(gi, g)| Piece {
                    file: fi,
                    group: gi,
                    skip: 0,
                    take: g.num_rows() as usize,
                })
        })
        .collect();
    let Some(np) = partitions else {
        let mut v: Vec<Vec<Piece>> = units.into_iter().map(|u| vec![u]).collect();
        if v.is_empty() {
            v.push(Vec::new());
        }
        return v;
    };
    let total: usize = units.iter().map(|u| u.take).sum();
    let mut out = Vec::with_capacity(np);
    let mut start = 0;
    let starts: Vec<usize> = units
        .iter()
        .map(|u| {
            let s = start;
            start += u.take;
            s
        })
        .collect();
    for k in 0..np {
        let (lo, hi) = (total * k / np, total * (k + 1) / np);
        let mut pieces = Vec::new();
        for (u, &s) in units.iter().zip(&starts) {
            let e = s + u.take;
            if e <= lo || s >= hi {
                continue;
            }
            pieces.push(Piece {
                skip: lo.saturating_sub(s),
                take: hi.min(e) - s.max(lo),
                ..*u
            });
        }
        out.push(pieces);
    }
    out
}

impl ParquetSource {
    fn open(path: &str, opts: &ParquetOptions) -> Result<ParquetSource> {
        let listing = crate::files::list(path, &["parquet", "parq"])?;
        let mut files = Vec::with_capacity(listing.files.len());
        let mut schema: Option<SchemaRef> = None;
        for l in listing.files {
            let name = l.path.display().to_string();
            let f = File::open(&l.path).map_err(|e| FrameError::io(&name, e))?;
            let native = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new())
                .map_err(|e| FrameError::Invalid(format!("{name}: {e}")))?;
            let read = native.schema().clone();
            match &schema {
                None => schema = Some(read),
                Some(s) if s.fields() != read.fields() => {
                    return Err(FrameError::Schema(format!(
                        "{name} has columns {:?}, the first file has {:?}",
                        read.fields(),
                        s.fields()
                    )))
                }
                Some(_) => {}
            }
            files.push(ParquetFile {
                path: l.path,
                meta: native.metadata().clone(),
                native: native.schema().clone(),
                hive: l.hive,
            });
        }
        let Some(native) = schema else {
            return Err(FrameError::Invalid(format!("{path}: no files")));
        };
        let file_schema = if opts.strings == Strings::Native {
            native
        } else {
            let metas: Vec<&ParquetMetaData> = files.iter().map(|f| f.meta.as_ref()).collect();
            string_read_types(&native, &metas, opts.strings)
        };
        let mut fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for h in &listing.hive {
            if fields.iter().any(|f| f.name() == h.name()) {
                return Err(FrameError::Schema(format!(
                    "{path}: partition key `{}` is also a column of the files",
                    h.name()
                )));
            }
            fields.push(h.clone());
        }
        let layout = layout(&files, opts.partitions);
        Ok(ParquetSource {
            path: path.to_string(),
            files,
            read_as: file_schema.clone(),
            schema: Arc::new(Schema::new_with_metadata(
                fields,
                file_schema.metadata().clone(),
            )),
            hive: listing.hive,
            strings: opts.strings,
            partitions: opts.partitions,
            layout,
        })
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub(crate) fn nparts(&self) -> usize {
        self.layout.len()
    }

    pub(crate) fn key(&self) -> String {
        format!(
            "parquet {:?} strings={:?} partitions={:?}",
            self.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            self.strings,
            self.partitions
        )
    }

    fn is_hive(&self, c: &str) -> bool {
        self.hive.iter().any(|f| f.name() == c)
    }

    /// (hive-only terms, file-only terms, mixed terms).
    fn split_terms(&self, predicate: Option<&Expr>) -> (Vec<Expr>, Vec<Expr>, Vec<Expr>) {
        let mut h = Vec::new();
        let mut f = Vec::new();
        let mut m = Vec::new();
        for t in predicate.map(|p| p.conjuncts()).unwrap_or_default() {
            let cols = t.column_list();
            let nh = cols.iter().filter(|c| self.is_hive(c)).count();
            if nh == 0 {
                f.push(t);
            } else if nh == cols.len() {
                h.push(t);
            } else {
                m.push(t);
            }
        }
        (h, f, m)
    }

    /// Which (file, row group) pairs the predicate keeps.
    fn kept(&self, predicate: Option<&Expr>) -> Vec<Vec<bool>> {
        let (hive_terms, file_terms, _) = self.split_terms(predicate);
        let hive_pred = Expr::all(hive_terms);
        let stat_terms = prune::terms(Expr::all(file_terms).as_ref());
        self.files
            .iter()
            .map(|f| {
                let n = f.meta.num_row_groups();
                if let Some(h) = &hive_pred {
                    if !prune::constants_may_match(h, &self.hive, &f.hive) {
                        return vec![false; n];
                    }
                }
                if stat_terms.is_empty() {
                    vec![true; n]
                } else {
                    prune::row_groups(&f.meta, &f.native, &stat_terms)
                }
            })
            .collect()
    }

    /// The scan's read tasks, one partition per layout entry.
    pub(crate) fn lower(
        &self,
        columns: &[String],
        predicate: Option<&Expr>,
    ) -> Result<Vec<Delayed<Partition>>> {
        let kept = self.kept(predicate);
        let (_, file_terms, mixed) = self.split_terms(predicate);
        let out_schema = Arc::new(
            self.schema.project(
                &columns
                    .iter()
                    .map(|c| crate::expr::index_of(&self.schema, c))
                    .collect::<Result<Vec<_>>>()?,
            )?,
        );
        let mut parts = Vec::with_capacity(self.layout.len());
        for pieces in &self.layout {
            let mut reads: Vec<Delayed<Partition>> = Vec::new();
            let mut cur: Vec<Piece> = Vec::new();
            let flush = |cur: &mut Vec<Piece>, reads: &mut Vec<Delayed<Partition>>| {
                if let Some(first) = cur.first() {
                    let f = &self.files[first.file];
                    reads.push(read_parquet_part::delayed(ReadSpec {
                        path: f.path.display().to_string(),
                        groups: cur.iter().map(|p| (p.group, p.skip, p.take)).collect(),
                        output: Partition::empty(out_schema.clone()),
                        predicate: Expr::all(file_terms.clone()),
                        post: Expr::all(mixed.clone()),
                        hive: self
                            .hive
                            .iter()
                            .map(|h| h.name().clone())
                            .zip(f.hive.clone())
                            .collect(),
                        read_as: Partition::empty(self.read_as.clone()),
                    }));
                }
                cur.clear();
            };
            for p in pieces {
                if !kept[p.file][p.group] {
                    continue;
                }
                if cur.first().is_some_and(|c| c.file != p.file) {
                    flush(&mut cur, &mut reads);
                }
                cur.push(*p);
            }
            flush(&mut cur, &mut reads);
            parts.push(crate::exchange::concat_pieces(&reads, &out_schema));
        }
        Ok(parts)
    }

    pub(crate) fn describe(&self, columns: &[String], predicate: Option<&Expr>) -> String {
        let kept = self.kept(predicate);
        let total: usize = kept.iter().map(Vec::len).sum();
        let left: usize = kept.iter().map(|k| k.iter().filter(|&&b| b).count()).sum();
        let files_left = kept.iter().filter(|k| k.iter().any(|&b| b)).count();
        let mut s = format!(
            "Scan parquet {} ({} file(s), {files_left} read; row groups: {left} of {total} kept by statistics; {} partition(s)) columns [{}]",
            self.path,
            self.files.len(),
            self.layout.len(),
            columns.join(", ")
        );
        if let Some(p) = predicate {
            s.push_str(&format!(" filter {p} (applied in the read)"));
        }
        match self.strings {
            Strings::Native => {}
            Strings::Dictionary => s.push_str(" strings as dictionaries"),
            Strings::FileEncoding => s.push_str(" strings as the file encodes them"),
        }
        s
    }
}

/// A Parquet file, a directory of them (hive partitions become columns) or
/// a glob, as a dataframe.
pub fn read_parquet(path: &str, opts: &ParquetOptions) -> Result<DataFrame> {
    let source = Arc::new(ParquetSource::open(path, opts)?);
    let schema = source.schema().clone();
    let columns: Vec<String> = match &opts.columns {
        None => schema.fields().iter().map(|f| f.name().clone()).collect(),
        Some(cols) => {
            for c in cols {
                crate::expr::index_of(&schema, c)?;
            }
            cols.clone()
        }
    };
    for e in &opts.filters {
        let t = e.data_type(&schema)?;
        if t != DataType::Boolean {
            return Err(FrameError::ty(e.to_string(), "a filter must be boolean"));
        }
    }
    let scan = Scan {
        source: ScanSource::Parquet(source),
        columns,
        predicate: Expr::all(opts.filters.iter().cloned()),
    };
    Ok(DataFrame::from_plan(scan.into_plan()?))
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
