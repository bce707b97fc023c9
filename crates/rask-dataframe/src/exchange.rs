//! Where partitions trade rows: every shuffle (hash splits for joins,
//! group-by outputs and `shuffle`, range splits for sorts) hands its
//! per-partition splits to [`exchange`], which gives bucket `j` the `j`-th
//! piece of every split, in input order. A split is a multi-output task
//! (`Delayed::split`): in-process a piece is read from the split's vector;
//! on worker processes and clusters the worker that made the split keeps
//! each piece apart, so a piece moves alone to the task that needs it, never
//! the whole vector to each of the P^2 consumers.

use arrow::datatypes::SchemaRef;
use rask_core::Delayed;

use crate::partition::Partition;
use crate::tasks;

/// Bucket `j` of the result holds piece `j` of every split, in order.
pub(crate) fn exchange(
    splits: &[Delayed<Vec<Partition>>],
    n: usize,
) -> Vec<Vec<Delayed<Partition>>> {
    // Each split is a multi-output task: on workers its pieces are kept
    // apart, so piece j travels alone to the task that needs it.
    let pieces: Vec<Vec<Delayed<Partition>>> = splits.iter().map(|s| s.split(n)).collect();
    (0..n)
        .map(|j| pieces.iter().map(|p| p[j].clone()).collect())
        .collect()
}

/// The rows of `parts` moved into `n` partitions by a hash of `keys`
/// (equal keys land together, in input order).
pub(crate) fn hash_shuffle(
    parts: &[Delayed<Partition>],
    keys: &[String],
    n: usize,
    schema: &SchemaRef,
) -> Vec<Delayed<Partition>> {
    let n = n.max(1);
    let splits: Vec<_> = parts
        .iter()
        .map(|p| tasks::hash_split::delayed(p, keys.to_vec(), n))
        .collect();
    exchange(&splits, n)
        .into_iter()
        .map(|pieces| concat_pieces(&pieces, schema))
        .collect()
}

/// One partition of pieces (an empty one for none; a single piece as is).
pub(crate) fn concat_pieces(
    pieces: &[Delayed<Partition>],
    schema: &SchemaRef,
) -> Delayed<Partition> {
    match pieces {
        [] => tasks::identity::delayed(Partition::empty(schema.clone())),
        [one] => one.clone(),
        _ => tasks::concat::delayed(tasks::gather(pieces)),
    }
}

/// All partitions as one: columns concatenated in groups by parallel
/// tasks, then put side by side (no copy), since the concatenation is the
/// bulk of the work.
pub(crate) fn concat_all(parts: &[Delayed<Partition>], schema: &SchemaRef) -> Delayed<Partition> {
    let ncols = schema.fields().len();
    if parts.len() <= 1 || ncols < 2 {
        return concat_pieces(parts, schema);
    }
    let all = tasks::gather(parts);
    let groups = ncols.min(4);
    let pieces: Vec<Delayed<Partition>> = (0..groups)
        .map(|g| {
            let cols: Vec<usize> = (g * ncols / groups..(g + 1) * ncols / groups).collect();
            tasks::concat_columns::delayed(&all, cols)
        })
        .collect();
    tasks::side_by_side::delayed(tasks::gather(&pieces))
}
