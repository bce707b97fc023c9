//! One dictionary per column across partitions.
//!
//! The Parquet reader gives every batch its own dictionary. Concatenating
//! batches whose dictionaries differ makes Arrow merge them (hashing every
//! string again); batches that share one values array concatenate by their
//! keys alone. [`unify`] rewrites every `Dictionary(Int32, Utf8)` column so
//! that all partitions point at one values array holding each distinct
//! string once (in order of first appearance, partition by partition).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Int32Type};

use crate::error::{FrameError, Result};

/// The partitions with shared dictionaries (same schema, same rows).
pub(crate) fn unify(parts: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let Some(first) = parts.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let mut cols: Vec<Vec<ArrayRef>> = parts.iter().map(|b| b.columns().to_vec()).collect();
    for (ci, f) in schema.fields().iter().enumerate() {
        let is_dict = matches!(f.data_type(), DataType::Dictionary(k, v)
            if **k == DataType::Int32 && **v == DataType::Utf8);
        if !is_dict {
            continue;
        }
        let mut ids: HashMap<&str, i32> = HashMap::new();
        let mut values: Vec<&str> = Vec::new();
        let mut remaps: Vec<Vec<i32>> = Vec::with_capacity(parts.len());
        for b in parts {
            let d = b.column(ci).as_dictionary::<Int32Type>();
            let v = d.values().as_string::<i32>();
            let remap = (0..v.len())
                .map(|i| {
                    let s = v.value(i);
                    match ids.get(s) {
                        Some(&id) => Ok(id),
                        None => {
                            let id = i32::try_from(values.len()).map_err(|_| {
                                FrameError::Invalid(format!(
                                    "column `{}`: over 2^31 distinct strings",
                                    f.name()
                                ))
                            })?;
                            ids.insert(s, id);
                            values.push(s);
                            Ok(id)
                        }
                    }
                })
                .collect::<Result<Vec<i32>>>()?;
            remaps.push(remap);
        }
        let shared: ArrayRef = Arc::new(StringArray::from(values));
        for ((b, remap), out) in parts.iter().zip(&remaps).zip(cols.iter_mut()) {
            let d = b.column(ci).as_dictionary::<Int32Type>();
            let keys: Int32Array = d
                .keys()
                .iter()
                .map(|k| k.and_then(|k| remap.get(k as usize).copied()))
                .collect();
            out[ci] = Arc::new(DictionaryArray::<Int32Type>::try_new(keys, shared.clone())?);
        }
    }
    parts
        .iter()
        .zip(cols)
        .map(|(b, c)| Ok(RecordBatch::try_new(b.schema(), c)?))
        .collect()
}
