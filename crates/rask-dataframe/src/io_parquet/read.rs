//! One read task: some rows of some row groups of one file.
//!
//! Order of work: the row ranges of the partition, narrowed by the page
//! index where the filter's terms have page statistics; then the filter's
//! terms one by one, each decoding only its own columns and only for the
//! rows still selected (Arrow's `RowFilter`); then the output columns,
//! decoded only for the rows that passed; then hive partition columns as
//! constants, and terms that mix them with file columns.

use std::fs::File;
use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions, RecordBatchReader};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions,
    ParquetRecordBatchReaderBuilder, RowFilter, RowSelection, RowSelector,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::PageIndexPolicy;
use serde::{Deserialize, Serialize};

use super::prune;
use crate::error::{FrameError, Result};
use crate::expr::{index_of, Expr, Scalar};
use crate::partition::Partition;

/// What one read task reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReadSpec {
    /// The file.
    pub path: String,
    /// `(row group, rows skipped at its start, rows read after them)`,
    /// row groups ascending.
    pub groups: Vec<(usize, usize, usize)>,
    /// The output's schema (an empty partition).
    pub output: Partition,
    /// Terms over the file's columns: decoded first, the rest only where
    /// they hold.
    pub predicate: Option<Expr>,
    /// Terms that also read hive partition columns.
    pub post: Option<Expr>,
    /// Hive partition columns of this file and their values.
    pub hive: Vec<(String, Scalar)>,
    /// The file's columns with the types to read them as (an empty
    /// partition; the plan decides, so every task agrees).
    pub read_as: Partition,
}

/// A term estimated to keep at least this share of rows is evaluated
/// after decoding rather than first. Even at 60% decoding the other
/// columns for the selected rows only saves memory traffic (measured on
/// W12's e1: fewer page faults, the same CPU); near 100% the selection is
/// pure overhead.
const LATE_MATERIALIZE_BELOW: f64 = 0.75;

fn to_arrow(e: FrameError) -> ArrowError {
    ArrowError::ComputeError(e.to_string())
}

/// Reads one partition (or a piece of one) of a Parquet file.
#[rask_macros::task(crate = rask_core)]
pub fn read_parquet_part(spec: ReadSpec) -> Result<Partition> {
    let out_schema = spec.output.0.schema();
    let io = |e| FrameError::io(&spec.path, e);
    let f = File::open(&spec.path).map_err(io)?;
    let terms = prune::terms(spec.predicate.as_ref());
    let native = ArrowReaderMetadata::load(&f, Default::default())
        .map_err(|e| FrameError::Invalid(format!("{}: {e}", spec.path)))?;
    let mut opts = ArrowReaderOptions::new().with_schema(spec.read_as.0.schema());
    if !terms.is_empty() {
        opts = opts.with_page_index_policy(PageIndexPolicy::Optional);
    }
    let meta = if terms.is_empty() {
        ArrowReaderMetadata::try_new(native.metadata().clone(), opts)?
    } else {
        ArrowReaderMetadata::load(&f, opts)?
    };
    let file_schema = meta.schema().clone();
    let is_hive = |c: &str| spec.hive.iter().any(|(h, _)| h == c);
    // Terms that keep most rows are evaluated after decoding (selecting
    // scattered rows costs more than it saves); the others decode their
    // own columns first and the rest only for matching rows.
    let groups: Vec<usize> = spec.groups.iter().map(|g| g.0).collect();
    let (early, late): (Vec<Expr>, Vec<Expr>) = spec
        .predicate
        .iter()
        .flat_map(|p| p.conjuncts())
        .partition(|t| {
            prune::selectivity(native.metadata(), native.schema(), t, &groups)
                .is_none_or(|s| s < LATE_MATERIALIZE_BELOW)
        });
    let post = Expr::all(late.into_iter().chain(spec.post.iter().cloned()));
    let early = Expr::all(early);
    // File columns to decode for the output and the later terms.
    let mut read_cols: Vec<String> = out_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|c| !is_hive(c))
        .collect();
    if let Some(p) = &post {
        for c in p.column_list() {
            if !is_hive(&c) && !read_cols.contains(&c) {
                read_cols.push(c);
            }
        }
    }
    let placeholder = read_cols.is_empty();
    if placeholder {
        // Row counts only: decode the first column and drop it.
        if let Some(f) = file_schema.fields().first() {
            read_cols.push(f.name().clone());
        }
    }
    let idx = read_cols
        .iter()
        .map(|c| index_of(&file_schema, c))
        .collect::<Result<Vec<_>>>()?;
    let descr = meta.metadata().file_metadata().schema_descr_ptr();
    let mask = ProjectionMask::roots(&descr, idx.iter().copied());

    // Rows: the ranges, narrowed by pages.
    let pages = if terms.is_empty() {
        None
    } else {
        prune::pages(meta.metadata(), native.schema(), &terms, &groups)
    };
    // One reader per row group, one batch each: a batch never spans two
    // column chunks, so a dictionary-encoded column keeps its chunk's
    // dictionary (spanning two makes the reader rebuild one by hashing).
    let mut batches = Vec::with_capacity(spec.groups.len());
    let mut read_schema = None;
    for (k, &(g, skip, take)) in spec.groups.iter().enumerate() {
        let total = meta.metadata().row_group(g).num_rows() as usize;
        let mut r = vec![RowSelector::skip(skip), RowSelector::select(take)];
        if total > skip + take {
            r.push(RowSelector::skip(total - skip - take));
        }
        let mut sel = RowSelection::from(r);
        if let Some(p) = &pages {
            sel = sel.intersection(&p[k]);
        }
        let file = f.try_clone().map_err(io)?;
        let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
            .with_row_groups(vec![g])
            .with_projection(mask.clone())
            .with_row_selection(sel)
            .with_batch_size(take.clamp(1, 1 << 21));
        if let Some(p) = &early {
            b = b.with_row_filter(row_filter(p, &file_schema, &descr)?);
        }
        let reader = b.build()?;
        read_schema.get_or_insert_with(|| reader.schema());
        for batch in reader {
            batches.push(batch?);
        }
    }
    let read_schema = match read_schema {
        Some(s) => s,
        None => Arc::new(file_schema.project(&idx)?),
    };
    let mut batch = match batches.len() {
        1 => batches.into_iter().next().unwrap_or_else(|| unreachable!()),
        _ => concat_batches(&read_schema, &batches)?,
    };
    // Hive columns as constants, then the mixed terms.
    if !spec.hive.is_empty() {
        let n = batch.num_rows();
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        for (name, v) in &spec.hive {
            let t = out_schema
                .field_with_name(name)
                .map(|f| f.data_type().clone())
                .unwrap_or_else(|_| v.data_type());
            let one = cast(&v.to_array()?, &t)?;
            let col = if one.is_null(0) {
                new_null_array(&t, n)
            } else {
                let idx = arrow::array::UInt32Array::from(vec![0u32; n]);
                arrow::compute::take(one.as_ref(), &idx, None)?
            };
            fields.push(Field::new(name, t, true));
            cols.push(col);
        }
        let opts = RecordBatchOptions::new().with_row_count(Some(n));
        batch = RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), cols, &opts)?;
    }
    Ok(Partition(crate::scan::finish_read(
        batch,
        post.as_ref(),
        &out_schema,
    )?))
}

/// The predicate's terms as Arrow predicates, evaluated in order, each
/// decoding only its own columns for the rows still selected.
fn row_filter(
    p: &Expr,
    file_schema: &SchemaRef,
    descr: &Arc<parquet::schema::types::SchemaDescriptor>,
) -> Result<RowFilter> {
    let mut preds: Vec<Box<dyn ArrowPredicate>> = Vec::new();
    for t in p.conjuncts() {
        let cols = t
            .column_list()
            .iter()
            .map(|c| index_of(file_schema, c))
            .collect::<Result<Vec<_>>>()?;
        let m = ProjectionMask::roots(descr, cols);
        preds.push(Box::new(ArrowPredicateFn::new(
            m,
            move |batch: RecordBatch| t.evaluate_mask(&batch).map_err(to_arrow),
        )));
    }
    Ok(RowFilter::new(preds))
}
