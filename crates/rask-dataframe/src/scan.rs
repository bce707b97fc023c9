//! File scans in a plan: a source (Parquet, CSV or Arrow IPC files, opened
//! when the plan is built), the columns to produce and a predicate. The
//! optimizer narrows `columns` and moves filters into `predicate`; the
//! source decides how much of that it does while reading (Parquet: skips
//! row groups and pages and decodes filter columns first; CSV and IPC:
//! parse only the columns needed and filter in the same task).
//!
//! Invariant: `columns` is a non-empty list of the source's columns and
//! the scan's schema is the source schema projected to them, in order; the
//! predicate may read any of the source's columns.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use rask_core::Delayed;

use crate::error::Result;
use crate::expr::{index_of, Expr};
use crate::io_csv::CsvSource;
use crate::io_ipc::IpcSource;
use crate::io_parquet::ParquetSource;
use crate::partition::Partition;
use crate::plan::{Node, Plan, PlanRef};

/// Where a scan reads from.
#[derive(Clone, Debug)]
pub(crate) enum ScanSource {
    Parquet(Arc<ParquetSource>),
    Csv(Arc<CsvSource>),
    Ipc(Arc<IpcSource>),
}

impl ScanSource {
    pub(crate) fn full_schema(&self) -> &SchemaRef {
        match self {
            ScanSource::Parquet(s) => s.schema(),
            ScanSource::Csv(s) => s.schema(),
            ScanSource::Ipc(s) => s.schema(),
        }
    }

    fn nparts(&self) -> usize {
        match self {
            ScanSource::Parquet(s) => s.nparts(),
            ScanSource::Csv(s) => s.nparts(),
            ScanSource::Ipc(s) => s.nparts(),
        }
    }

    fn key(&self) -> String {
        match self {
            ScanSource::Parquet(s) => s.key(),
            ScanSource::Csv(s) => s.key(),
            ScanSource::Ipc(s) => s.key(),
        }
    }
}

/// A scan node's contents.
#[derive(Clone, Debug)]
pub(crate) struct Scan {
    pub(crate) source: ScanSource,
    pub(crate) columns: Vec<String>,
    pub(crate) predicate: Option<Expr>,
}

impl Scan {
    /// The scan's output schema.
    pub(crate) fn schema(&self) -> Result<SchemaRef> {
        let full = self.source.full_schema();
        let idx = self
            .columns
            .iter()
            .map(|c| index_of(full, c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(full.project(&idx)?))
    }

    /// The scan as a plan leaf.
    pub(crate) fn into_plan(self) -> Result<PlanRef> {
        let schema = self.schema()?;
        let n = self.source.nparts();
        Ok(Plan::new(Node::Scan(self), schema, n))
    }

    /// Scans with equal keys read the same rows (columns aside).
    pub(crate) fn share_key(&self) -> String {
        format!(
            "{} where {}",
            self.source.key(),
            self.predicate
                .as_ref()
                .map_or_else(String::new, |p| format!("{p:?}"))
        )
    }

    /// The read tasks.
    pub(crate) fn lower(&self) -> Result<Vec<Delayed<Partition>>> {
        let p = self.predicate.as_ref();
        match &self.source {
            ScanSource::Parquet(s) => s.lower(&self.columns, p),
            ScanSource::Csv(s) => s.lower(&self.columns, p),
            ScanSource::Ipc(s) => s.lower(&self.columns, p),
        }
    }

    /// One line for `explain`.
    pub(crate) fn describe(&self) -> String {
        let p = self.predicate.as_ref();
        match &self.source {
            ScanSource::Parquet(s) => s.describe(&self.columns, p),
            ScanSource::Csv(s) => s.describe(&self.columns, p),
            ScanSource::Ipc(s) => s.describe(&self.columns, p),
        }
    }
}

/// What a read of `columns` filtered by `predicate` parses: the columns of
/// both, as file indices in file order; and the output schema.
pub(crate) fn read_projection(
    schema: &SchemaRef,
    columns: &[String],
    predicate: Option<&Expr>,
) -> Result<(Vec<usize>, SchemaRef)> {
    let mut wanted: Vec<String> = columns.to_vec();
    if let Some(p) = predicate {
        for c in p.column_list() {
            if !wanted.contains(&c) {
                wanted.push(c);
            }
        }
    }
    let mut projection: Vec<usize> = wanted
        .iter()
        .map(|c| index_of(schema, c))
        .collect::<Result<_>>()?;
    projection.sort_unstable();
    let out = columns
        .iter()
        .map(|c| index_of(schema, c))
        .collect::<Result<Vec<_>>>()?;
    Ok((projection, Arc::new(schema.project(&out)?)))
}

/// A read batch filtered by the predicate, then its columns in the order
/// of `out` (the columns the predicate alone needed are dropped).
pub(crate) fn finish_read(
    batch: arrow::array::RecordBatch,
    predicate: Option<&Expr>,
    out: &SchemaRef,
) -> Result<arrow::array::RecordBatch> {
    let batch = match predicate {
        Some(p) => {
            let m = p.evaluate_mask(&batch)?;
            if m.true_count() < m.len() {
                arrow::compute::filter_record_batch(&batch, &m)?
            } else {
                batch
            }
        }
        None => batch,
    };
    let cols = out
        .fields()
        .iter()
        .map(|f| {
            Ok(batch
                .column(index_of(batch.schema_ref(), f.name())?)
                .clone())
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(arrow::array::RecordBatch::try_new_with_options(
        out.clone(),
        cols,
        &opts,
    )?)
}
