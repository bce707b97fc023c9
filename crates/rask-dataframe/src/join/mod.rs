//! Joins on equal keys: inner, left, outer, semi and anti.
//!
//! Keys: one or more columns on each side (`left_on`, `right_on`, paired
//! in order), of any key type; a pair of different types is compared in
//! their common type (`Int32` with `Int64`, `Utf8` with a dictionary or a
//! view, decimals of different scales, a date with a timestamp). A null key
//! matches nothing (SQL).
//!
//! Output columns: every left column, then the right columns other than
//! the right keys; a right name already taken gets the suffix (default
//! `_right`, repeated until free). Semi and anti joins give the left
//! columns only: the left rows with at least one match (each once), or
//! with none. In an outer join the left key columns hold the right side's
//! keys for right-only rows. Rows: each left row followed by its matches
//! in right order; right-only rows of an outer join come last.
//!
//! The output column lists are part of the spec (`left_out`, `right_out`),
//! so the optimizer can drop columns nobody reads without changing the
//! names of the others.

mod kernel;
pub(crate) mod lower;

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

pub(crate) use kernel::join_batches;

use crate::error::{FrameError, Result};
use crate::expr::typing::cmp_type;
use crate::expr::{index_of, logical};
use crate::frame::DataFrame;
use crate::groupby::keys;
use crate::plan;

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JoinType {
    /// Rows whose keys are on both sides.
    Inner,
    /// Every left row; right columns null where nothing matches.
    Left,
    /// Every row of both sides.
    Outer,
    /// Left rows with a match (left columns only, each row once).
    Semi,
    /// Left rows without a match (left columns only).
    Anti,
}

/// How a join is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JoinStrategy {
    /// Broadcast when the right side has one partition; otherwise decided
    /// at run time: a right side of at most [`BROADCAST_ROWS`] rows goes
    /// whole to every left partition, a larger one is shuffled with the
    /// left by key hash. Outer joins always shuffle.
    Auto,
    /// The right side whole, to every left partition (not for outer joins).
    Broadcast,
    /// Both sides hash-partitioned by the keys.
    Shuffle,
}

/// Right sides up to this many rows are broadcast by [`JoinStrategy::Auto`].
pub const BROADCAST_ROWS: u64 = 1 << 18;

/// A join's keys, type and output columns (the argument of the join task).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinSpec {
    /// Left key columns.
    pub left_on: Vec<String>,
    /// Right key columns, paired with `left_on`.
    pub right_on: Vec<String>,
    /// The join type.
    pub how: JoinType,
    /// Left columns in the output (names kept), in order.
    pub left_out: Vec<String>,
    /// Right columns in the output: (right name, output name), in order.
    pub right_out: Vec<(String, String)>,
}

impl JoinSpec {
    /// The spec producing only the output columns in `needed`.
    pub(crate) fn narrowed(&self, needed: &HashSet<String>) -> JoinSpec {
        let mut s = self.clone();
        s.left_out.retain(|c| needed.contains(c));
        s.right_out.retain(|(_, o)| needed.contains(o));
        if s.left_out.is_empty() && s.right_out.is_empty() {
            // Keep one column for the row count.
            s.left_out = self.left_out.iter().take(1).cloned().collect();
        }
        s
    }
}

/// Options of [`DataFrame::join_by`].
#[derive(Clone, Debug)]
pub struct JoinOptions {
    left_on: Vec<String>,
    right_on: Vec<String>,
    how: JoinType,
    suffix: String,
    strategy: JoinStrategy,
}

impl JoinOptions {
    /// Keys named alike on both sides; an inner join.
    pub fn on(keys: &[&str]) -> Self {
        Self::left_right(keys, keys)
    }
    /// `left_on[i]` matches `right_on[i]`; an inner join.
    pub fn left_right(left_on: &[&str], right_on: &[&str]) -> Self {
        JoinOptions {
            left_on: left_on.iter().map(|s| s.to_string()).collect(),
            right_on: right_on.iter().map(|s| s.to_string()).collect(),
            how: JoinType::Inner,
            suffix: "_right".to_string(),
            strategy: JoinStrategy::Auto,
        }
    }
    /// The join type.
    pub fn how(mut self, how: JoinType) -> Self {
        self.how = how;
        self
    }
    /// What a right column's name gets when the left has it (default `_right`).
    pub fn suffix(mut self, suffix: &str) -> Self {
        self.suffix = suffix.to_string();
        self
    }
    /// How the join is computed.
    pub fn strategy(mut self, s: JoinStrategy) -> Self {
        self.strategy = s;
        self
    }
}

/// The common types of the key pairs, or an error naming a mismatch.
pub(crate) fn key_types(left: &Schema, right: &Schema, spec: &JoinSpec) -> Result<Vec<DataType>> {
    if spec.left_on.is_empty() {
        return Err(FrameError::Invalid("a join needs at least one key".into()));
    }
    if spec.left_on.len() != spec.right_on.len() {
        return Err(FrameError::Invalid(format!(
            "a join needs as many right keys as left keys ({:?} and {:?})",
            spec.left_on, spec.right_on
        )));
    }
    spec.left_on
        .iter()
        .zip(&spec.right_on)
        .map(|(l, r)| {
            let lt = logical(left.field(index_of(left, l)?).data_type());
            let rt = logical(right.field(index_of(right, r)?).data_type());
            if !keys::key_type_ok(&lt) {
                return Err(FrameError::ty(l, format!("a join key cannot be of type {lt}")));
            }
            if !keys::key_type_ok(&rt) {
                return Err(FrameError::ty(r, format!("a join key cannot be of type {rt}")));
            }
            if lt == rt {
                return Ok(lt);
            }
            match cmp_type(&lt, &rt) {
                Some(t)
                    if t != DataType::Null
                        && crate::expr::typing::is_str(&lt) == crate::expr::typing::is_str(&rt) =>
                {
                    Ok(t)
                }
                _ => Err(FrameError::ty(
                    l,
                    format!("join key is {lt} on the left and {rt} on the right (`{r}`): no common type"),
                )),
            }
        })
        .collect()
}

/// The output schema, or an error naming a missing or mistyped key.
pub(crate) fn join_schema(left: &Schema, right: &Schema, spec: &JoinSpec) -> Result<SchemaRef> {
    key_types(left, right, spec)?;
    let mut fields: Vec<Field> = Vec::new();
    for c in &spec.left_out {
        let f = left.field(index_of(left, c)?);
        let keep_null = spec.how == JoinType::Outer || f.is_nullable();
        fields.push(f.clone().with_nullable(keep_null));
    }
    for (c, out) in &spec.right_out {
        let f = right.field(index_of(right, c)?);
        if fields.iter().any(|g| g.name() == out) {
            return Err(FrameError::Invalid(format!(
                "two output columns named `{out}`"
            )));
        }
        let nullable = spec.how != JoinType::Inner || f.is_nullable();
        fields.push(Field::new(out, f.data_type().clone(), nullable));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The full output column lists for a join of two schemas.
fn output_columns(
    left: &Schema,
    right: &Schema,
    right_on: &[String],
    how: JoinType,
    suffix: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let left_out: Vec<String> = left.fields().iter().map(|f| f.name().clone()).collect();
    if matches!(how, JoinType::Semi | JoinType::Anti) {
        return (left_out, Vec::new());
    }
    let mut taken: HashSet<String> = left_out.iter().cloned().collect();
    let mut right_out = Vec::new();
    for f in right.fields() {
        if right_on.contains(f.name()) {
            continue;
        }
        let mut name = f.name().clone();
        while taken.contains(&name) {
            name.push_str(suffix);
        }
        taken.insert(name.clone());
        right_out.push((f.name().clone(), name));
    }
    (left_out, right_out)
}

impl DataFrame {
    /// Joins with `right` on key columns named alike on both sides.
    pub fn join(&self, right: &DataFrame, on: &[&str], how: JoinType) -> Result<DataFrame> {
        self.join_by(right, JoinOptions::on(on).how(how))
    }

    /// [`join`](Self::join) with a chosen strategy.
    pub fn join_with(
        &self,
        right: &DataFrame,
        on: &[&str],
        how: JoinType,
        strategy: JoinStrategy,
    ) -> Result<DataFrame> {
        self.join_by(right, JoinOptions::on(on).how(how).strategy(strategy))
    }

    /// Joins where `left_on[i]` of this table equals `right_on[i]` of `right`.
    pub fn join_on(
        &self,
        right: &DataFrame,
        left_on: &[&str],
        right_on: &[&str],
        how: JoinType,
    ) -> Result<DataFrame> {
        self.join_by(right, JoinOptions::left_right(left_on, right_on).how(how))
    }

    /// A join with every option (keys, type, suffix, strategy).
    pub fn join_by(&self, right: &DataFrame, opts: JoinOptions) -> Result<DataFrame> {
        if opts.strategy == JoinStrategy::Broadcast && opts.how == JoinType::Outer {
            return Err(FrameError::Invalid(
                "an outer join cannot broadcast (unmatched right rows): use Shuffle".into(),
            ));
        }
        let (left_out, right_out) = output_columns(
            self.schema(),
            right.schema(),
            &opts.right_on,
            opts.how,
            &opts.suffix,
        );
        let spec = JoinSpec {
            left_on: opts.left_on,
            right_on: opts.right_on,
            how: opts.how,
            left_out,
            right_out,
        };
        Ok(DataFrame::from_plan(plan::join(
            self.plan().clone(),
            right.plan().clone(),
            spec,
            opts.strategy,
        )?))
    }

    /// The rows moved into `n` partitions by a hash of `keys`: equal keys
    /// land in the same partition, in input order.
    pub fn shuffle(&self, keys: &[&str], n: usize) -> Result<DataFrame> {
        for k in keys {
            let t = self.schema().field(index_of(self.schema(), k)?).data_type();
            if !keys::key_type_ok(t) {
                return Err(FrameError::ty(
                    *k,
                    format!("cannot hash a column of type {t}"),
                ));
            }
        }
        let n = n.max(1);
        let input = self.plan().clone();
        let schema = input.schema.clone();
        Ok(DataFrame::from_plan(plan::Plan::new(
            plan::Node::Shuffle {
                input,
                keys: keys.iter().map(|s| s.to_string()).collect(),
                n,
            },
            schema,
            n,
        )))
    }
}
