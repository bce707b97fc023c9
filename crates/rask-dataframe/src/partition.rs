//! [`Partition`]: one Arrow record batch, the unit a task works on.
//!
//! In-process executors pass partitions by `Arc` (cloning a batch clones
//! column pointers, never data). Across processes a partition travels as an
//! Arrow IPC stream (schema message, one batch) in one byte string, so any
//! serde format that has byte strings carries it without per-value work.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

/// One partition of a dataframe: an Arrow record batch.
#[derive(Clone, Debug)]
pub struct Partition(pub RecordBatch);

/// A partition's size for the result cache: the memory its columns use.
impl rask_core::NBytes for Partition {
    fn nbytes(&self) -> usize {
        self.0.get_array_memory_size()
    }
}

rask_core::inventory::submit!(rask_core::SizeOf::of::<Partition>());

impl Partition {
    /// An empty partition of `schema`.
    pub fn empty(schema: Arc<Schema>) -> Self {
        Partition(RecordBatch::new_empty(schema))
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.0.num_rows()
    }

    /// The batch.
    pub fn batch(&self) -> &RecordBatch {
        &self.0
    }

    /// Encodes the batch as an Arrow IPC stream.
    pub fn to_ipc(&self) -> Result<Vec<u8>, arrow::error::ArrowError> {
        let mut buf = Vec::new();
        {
            let mut w = StreamWriter::try_new(&mut buf, &self.0.schema())?;
            w.write(&self.0)?;
            w.finish()?;
        }
        Ok(buf)
    }

    /// Decodes an Arrow IPC stream of one schema and zero or one batch.
    pub fn from_ipc(bytes: &[u8]) -> Result<Self, arrow::error::ArrowError> {
        let mut r = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
        let schema = r.schema();
        match r.next() {
            Some(b) => Ok(Partition(b?)),
            None => Ok(Partition::empty(schema)),
        }
    }
}

impl From<RecordBatch> for Partition {
    fn from(b: RecordBatch) -> Self {
        Partition(b)
    }
}

impl Serialize for Partition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_ipc().map_err(ser::Error::custom)?;
        s.serialize_bytes(&bytes)
    }
}

struct IpcVisitor;

impl<'de> Visitor<'de> for IpcVisitor {
    type Value = Partition;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Arrow IPC stream as bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Partition, E> {
        Partition::from_ipc(v).map_err(E::custom)
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Partition, E> {
        self.visit_bytes(&v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Partition, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        self.visit_bytes(&v)
    }
}

impl<'de> Deserialize<'de> for Partition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Partition, D::Error> {
        d.deserialize_byte_buf(IpcVisitor)
    }
}
