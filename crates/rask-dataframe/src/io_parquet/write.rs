//! Writing Parquet: one file per partition, Snappy-compressed (PyArrow's
//! default), with page statistics and a page index so that later reads
//! can skip pages.

use std::fs::File;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::{FrameError, Result};
use crate::partition::Partition;

/// Writes one partition to `path`; returns its row count.
#[rask_macros::task(crate = rask_core)]
pub fn write_parquet_part(p: Partition, path: String) -> Result<u64> {
    let f = File::create(&path).map_err(|e| FrameError::io(&path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .build();
    let mut w = ArrowWriter::try_new(f, p.0.schema(), Some(props))?;
    w.write(&p.0)?;
    w.close()?;
    Ok(p.num_rows() as u64)
}

/// Writes one batch to a single Parquet file (Snappy).
pub fn write_parquet_file(batch: &RecordBatch, path: &str) -> Result<()> {
    write_parquet_part(Partition(batch.clone()), path.to_string()).map(|_| ())
}
