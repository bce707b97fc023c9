//! Joins on equal keys: inner, left and outer.
//!
//! The kernel (`join_batches`) codes the keys of both sides together
//! (the group-by coder over the concatenated key columns, so strings,
//! dictionaries and integers all become dense ids), buckets the right rows
//! by id, and walks the left rows in order: each left row is followed by
//! its matches in right order; unmatched right rows of an outer join come
//! last, in right order. A null key matches nothing (SQL).
//!
//! Output columns: every left column, then the right columns other than the
//! keys (a name already taken gets `_right`). In an outer join the key
//! columns hold the right side's keys for right-only rows.
//!
//! Plans: a *broadcast* join when the right side has one partition (and the
//! join is not outer): every left partition joins the whole right table;
//! otherwise a *shuffle* join: both sides are cut by a hash of the keys
//! into the same number of buckets and bucket `j` joins bucket `j`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{cast, concat, take};
use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};
use crate::expr::{index_of, logical};
use crate::frame::DataFrame;
use crate::groupby::keys;
use crate::partition::Partition;
use crate::tasks;

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinType {
    /// Rows whose keys are on both sides.
    Inner,
    /// Every left row; right columns null where nothing matches.
    Left,
    /// Every row of both sides.
    Outer,
}

/// How a join is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinStrategy {
    /// Broadcast when the right side has one partition and the join is not
    /// outer; shuffle otherwise.
    Auto,
    /// The right side whole, to every left partition (not for outer joins).
    Broadcast,
    /// Both sides hash-partitioned by the keys.
    Shuffle,
}

/// A join's keys and type (the argument of the join task).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinSpec {
    /// Key columns, named alike on both sides.
    pub on: Vec<String>,
    /// The join type.
    pub how: JoinType,
}

/// The output schema, or an error naming a missing or mistyped key.
pub(crate) fn join_schema(left: &Schema, right: &Schema, spec: &JoinSpec) -> Result<SchemaRef> {
    if spec.on.is_empty() {
        return Err(FrameError::Invalid("a join needs at least one key".into()));
    }
    for k in &spec.on {
        let lt = logical(left.field(index_of(left, k)?).data_type());
        let rt = logical(right.field(index_of(right, k)?).data_type());
        if lt != rt {
            return Err(FrameError::ty(
                k,
                format!("join key is {lt} on the left and {rt} on the right"),
            ));
        }
        if !keys::key_type_ok(&lt) {
            return Err(FrameError::ty(
                k,
                format!("a join key must be an integer, string or boolean column, not {lt}"),
            ));
        }
    }
    let mut fields: Vec<Field> = left
        .fields()
        .iter()
        .map(|f| {
            let keep_null = spec.how == JoinType::Outer || f.is_nullable();
            f.as_ref().clone().with_nullable(keep_null)
        })
        .collect();
    for f in right.fields() {
        if spec.on.contains(f.name()) {
            continue;
        }
        let mut name = f.name().clone();
        while fields.iter().any(|g| g.name() == &name) {
            name.push_str("_right");
        }
        let nullable = spec.how != JoinType::Inner || f.is_nullable();
        fields.push(Field::new(name, f.data_type().clone(), nullable));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// Joins two batches.
pub(crate) fn join_batches(
    left: &RecordBatch,
    right: &RecordBatch,
    spec: &JoinSpec,
) -> Result<RecordBatch> {
    let schema = join_schema(left.schema_ref(), right.schema_ref(), spec)?;
    let (nl, nr) = (left.num_rows(), right.num_rows());
    // Key columns of both sides, concatenated (same logical type).
    let mut both: Vec<ArrayRef> = Vec::with_capacity(spec.on.len());
    let mut has_null = vec![false; nl + nr];
    for k in &spec.on {
        let l = left.column(index_of(left.schema_ref(), k)?);
        let r = right.column(index_of(right.schema_ref(), k)?);
        let (l, r) = if l.data_type() == r.data_type() {
            (l.clone(), r.clone())
        } else {
            let t = logical(l.data_type());
            (cast(l, &t)?, cast(r, &t)?)
        };
        let c = concat(&[l.as_ref(), r.as_ref()])?;
        if c.null_count() > 0 {
            for (i, h) in has_null.iter_mut().enumerate() {
                *h |= c.is_null(i);
            }
        }
        both.push(c);
    }
    let g = keys::group_rows(&both, nl + nr)?;
    let ng = g.len();
    // Right rows bucketed by group (counting sort keeps right order).
    let mut start = vec![0u32; ng + 1];
    for r in 0..nr {
        if !has_null[nl + r] {
            start[g.gids[nl + r] as usize + 1] += 1;
        }
    }
    for i in 0..ng {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut bucket = vec![0u32; start[ng] as usize];
    for r in 0..nr {
        if !has_null[nl + r] {
            let s = &mut fill[g.gids[nl + r] as usize];
            bucket[*s as usize] = r as u32;
            *s += 1;
        }
    }
    let mut li: Vec<Option<u32>> = Vec::new();
    let mut ri: Vec<Option<u32>> = Vec::new();
    let mut matched = vec![false; if spec.how == JoinType::Outer { nr } else { 0 }];
    for (l, (&gid, &null)) in g.gids[..nl].iter().zip(&has_null[..nl]).enumerate() {
        let gid = gid as usize;
        let (s, e) = if null {
            (0, 0)
        } else {
            (start[gid] as usize, start[gid + 1] as usize)
        };
        if s == e {
            if spec.how != JoinType::Inner {
                li.push(Some(l as u32));
                ri.push(None);
            }
            continue;
        }
        for &r in &bucket[s..e] {
            li.push(Some(l as u32));
            ri.push(Some(r));
            if let Some(m) = matched.get_mut(r as usize) {
                *m = true;
            }
        }
    }
    let n_matched_rows = li.len();
    if spec.how == JoinType::Outer {
        for (r, m) in matched.iter().enumerate() {
            if !m {
                li.push(None);
                ri.push(Some(r as u32));
            }
        }
    }
    let lidx = UInt32Array::from(li);
    let ridx = UInt32Array::from(ri);
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, f) in left.schema().fields().iter().enumerate() {
        let c = take(left.column(i).as_ref(), &lidx, None)?;
        if spec.how == JoinType::Outer && spec.on.contains(f.name()) && lidx.len() > n_matched_rows
        {
            // Keys of right-only rows come from the right side.
            let k = spec.on.iter().position(|k| k == f.name()).unwrap_or(0);
            let key_idx: UInt32Array = (0..lidx.len())
                .map(|j| {
                    if j < n_matched_rows {
                        Some(lidx.value(j))
                    } else {
                        Some(nl as u32 + ridx.value(j))
                    }
                })
                .collect();
            let kc = take(both[k].as_ref(), &key_idx, None)?;
            let kc = if kc.data_type() == c.data_type() {
                kc
            } else {
                cast(&kc, c.data_type())?
            };
            cols.push(kc);
        } else {
            cols.push(c);
        }
    }
    for (i, f) in right.schema().fields().iter().enumerate() {
        if spec.on.contains(f.name()) {
            continue;
        }
        cols.push(take(right.column(i).as_ref(), &ridx, None)?);
    }
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(lidx.len()));
    Ok(RecordBatch::try_new_with_options(schema, cols, &opts)?)
}

impl DataFrame {
    /// Joins with `right` on key columns named alike on both sides.
    pub fn join(&self, right: &DataFrame, on: &[&str], how: JoinType) -> Result<DataFrame> {
        self.join_with(right, on, how, JoinStrategy::Auto)
    }

    /// [`join`](Self::join) with a chosen strategy.
    pub fn join_with(
        &self,
        right: &DataFrame,
        on: &[&str],
        how: JoinType,
        strategy: JoinStrategy,
    ) -> Result<DataFrame> {
        let spec = JoinSpec {
            on: on.iter().map(|s| s.to_string()).collect(),
            how,
        };
        let schema = join_schema(self.schema(), right.schema(), &spec)?;
        let broadcast = match strategy {
            JoinStrategy::Broadcast if how == JoinType::Outer => {
                return Err(FrameError::Invalid(
                    "an outer join cannot broadcast (unmatched right rows): use Shuffle".into(),
                ))
            }
            JoinStrategy::Broadcast => true,
            JoinStrategy::Shuffle => false,
            JoinStrategy::Auto => right.npartitions() <= 1 && how != JoinType::Outer,
        };
        let parts = if broadcast {
            let whole = right.to_delayed();
            self.partitions()
                .iter()
                .map(|l| tasks::join::delayed(l, &whole, spec.clone()))
                .collect()
        } else {
            let n = self.npartitions().max(right.npartitions()).max(1);
            let l = self.shuffle(on, n)?;
            let r = right.shuffle(on, n)?;
            l.partitions()
                .iter()
                .zip(r.partitions())
                .map(|(a, b)| tasks::join::delayed(a, b, spec.clone()))
                .collect()
        };
        Ok(DataFrame::from_partitions(schema, parts))
    }

    /// The rows moved into `n` partitions by a hash of `keys`: equal keys
    /// land in the same partition, in input order.
    pub fn shuffle(&self, keys: &[&str], n: usize) -> Result<DataFrame> {
        for k in keys {
            let t = self.schema().field(index_of(self.schema(), k)?).data_type();
            if !keys::key_type_ok(&logical(t)) && !logical(t).is_floating() {
                return Err(FrameError::ty(
                    *k,
                    format!("cannot hash a column of type {t}"),
                ));
            }
        }
        let n = n.max(1);
        let keys: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        let splits: Vec<_> = self
            .partitions()
            .iter()
            .map(|p| tasks::hash_split::delayed(p, keys.clone(), n))
            .collect();
        let parts = (0..n)
            .map(|j| {
                let pieces: Vec<_> = splits.iter().map(|s| tasks::pick::delayed(s, j)).collect();
                if pieces.is_empty() {
                    tasks::identity::delayed(Partition::empty(self.schema().clone()))
                } else {
                    tasks::concat::delayed(tasks::gather(&pieces))
                }
            })
            .collect();
        Ok(DataFrame::from_partitions(self.schema().clone(), parts))
    }
}
