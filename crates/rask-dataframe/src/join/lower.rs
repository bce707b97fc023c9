//! A join as tasks.
//!
//! * **Broadcast**: the right side concatenated once and joined with every
//!   left partition (output partitions: the left's).
//! * **Shuffle**: both sides cut by a hash of their keys (cast to the common
//!   key types first, so equal keys hash alike) into `n = max(left, right)`
//!   buckets; bucket `j` joins bucket `j`.
//! * **Auto**: broadcast when the right side has one partition; otherwise
//!   decided at run time from the right side's row count (one small task
//!   sums the counts): each left partition either stays where it is
//!   (bucket `i` gets left partition `i`, and every bucket gets every right
//!   partition) or is split by hash like the right side. Both choices have
//!   the same graph, so the plan is static and the data decides.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use rask_core::Delayed;

use super::{key_types, JoinSpec, JoinStrategy, JoinType, BROADCAST_ROWS};
use crate::error::Result;
use crate::exchange::{concat_all, concat_pieces, exchange};
use crate::frame::sum_all;
use crate::partition::Partition;
use crate::tasks;

/// How many partitions a join makes.
pub(crate) fn output_partitions(
    spec: &JoinSpec,
    strategy: JoinStrategy,
    nl: usize,
    nr: usize,
) -> usize {
    if broadcast(spec, strategy, nr) {
        nl
    } else {
        nl.max(nr).max(1)
    }
}

fn broadcast(spec: &JoinSpec, strategy: JoinStrategy, nr: usize) -> bool {
    match strategy {
        JoinStrategy::Broadcast => true,
        JoinStrategy::Shuffle => false,
        JoinStrategy::Auto => nr <= 1 && spec.how != JoinType::Outer,
    }
}

/// The key columns' common types, as an empty partition (a task argument).
fn key_schema(left: &SchemaRef, right: &SchemaRef, spec: &JoinSpec) -> Result<Partition> {
    let types = key_types(left, right, spec)?;
    let fields: Vec<Field> = spec
        .left_on
        .iter()
        .zip(types)
        .map(|(k, t)| Field::new(k, t, true))
        .collect();
    Ok(Partition::empty(Arc::new(Schema::new(fields))))
}

/// The join's tasks.
pub(crate) fn lower(
    left: &[Delayed<Partition>],
    left_schema: &SchemaRef,
    right: &[Delayed<Partition>],
    right_schema: &SchemaRef,
    spec: &JoinSpec,
    strategy: JoinStrategy,
) -> Result<Vec<Delayed<Partition>>> {
    let join =
        |l: &Delayed<Partition>, r: &Delayed<Partition>| tasks::join::delayed(l, r, spec.clone());
    if broadcast(spec, strategy, right.len()) {
        let whole = concat_all(right, right_schema);
        return Ok(left.iter().map(|l| join(l, &whole)).collect());
    }
    let n = left.len().max(right.len()).max(1);
    let types = key_schema(left_schema, right_schema, spec)?;
    let spec_of = |keys: &[String]| tasks::KeySplit {
        keys: keys.to_vec(),
        types: types.clone(),
        n,
    };
    let split = |parts: &[Delayed<Partition>], keys: &[String]| -> Vec<Delayed<Vec<Partition>>> {
        parts
            .iter()
            .map(|p| tasks::hash_split_keys::delayed(p, spec_of(keys)))
            .collect()
    };
    let (ls, rs) = if strategy == JoinStrategy::Shuffle || spec.how == JoinType::Outer {
        (split(left, &spec.left_on), split(right, &spec.right_on))
    } else {
        // Decided at run time by the right side's size.
        let counts: Vec<Delayed<u64>> = right.iter().map(tasks::num_rows::delayed).collect();
        let total = sum_all(&counts);
        let ls = left
            .iter()
            .enumerate()
            .map(|(i, p)| {
                tasks::route_left::delayed(p, i, spec_of(&spec.left_on), &total, BROADCAST_ROWS)
            })
            .collect();
        let rs = right
            .iter()
            .map(|p| {
                tasks::route_right::delayed(p, spec_of(&spec.right_on), &total, BROADCAST_ROWS)
            })
            .collect();
        (ls, rs)
    };
    let lb = exchange(&ls, n);
    let rb = exchange(&rs, n);
    Ok(lb
        .iter()
        .zip(&rb)
        .map(|(l, r)| {
            join(
                &concat_pieces(l, left_schema),
                &concat_pieces(r, right_schema),
            )
        })
        .collect())
}
