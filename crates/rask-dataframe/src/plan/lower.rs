//! A plan to tasks. Each node becomes its partitions' delayed values; a
//! node reachable along several paths is lowered once (memoized by node),
//! so its tasks run once and feed every reader.

use std::collections::HashMap;

use rask_core::Delayed;

use super::{Node, Plan, PlanRef};
use crate::error::Result;
use crate::exchange::{concat_all, hash_shuffle};
use crate::partition::Partition;
use crate::tasks;

/// The partitions of an (optimized) plan.
pub(crate) fn lower(plan: &PlanRef) -> Result<Vec<Delayed<Partition>>> {
    Lowering::default().parts(plan)
}

#[derive(Default)]
struct Lowering {
    memo: HashMap<*const Plan, Vec<Delayed<Partition>>>,
}

impl Lowering {
    fn parts(&mut self, plan: &PlanRef) -> Result<Vec<Delayed<Partition>>> {
        let key = std::sync::Arc::as_ptr(plan);
        if let Some(p) = self.memo.get(&key) {
            return Ok(p.clone());
        }
        let out = self.node(plan)?;
        debug_assert_eq!(out.len(), plan.nparts, "{:?}", plan.node);
        self.memo.insert(key, out.clone());
        Ok(out)
    }

    fn node(&mut self, plan: &PlanRef) -> Result<Vec<Delayed<Partition>>> {
        let per_part =
            |parts: Vec<Delayed<Partition>>,
             f: &dyn Fn(&Delayed<Partition>) -> Delayed<Partition>| {
                parts.iter().map(f).collect::<Vec<_>>()
            };
        Ok(match &plan.node {
            Node::Source(parts) => parts.clone(),
            Node::Scan(scan) => scan.lower()?,
            Node::Select { input, exprs } => {
                let parts = self.parts(input)?;
                per_part(parts, &|p| tasks::select::delayed(p, exprs.clone()))
            }
            Node::Filter { input, predicate } => {
                let parts = self.parts(input)?;
                per_part(parts, &|p| tasks::filter::delayed(p, predicate.clone()))
            }
            Node::Aggregate {
                input,
                spec,
                split_out,
                fan_in,
            } => {
                let parts = self.parts(input)?;
                crate::groupby::lower::lower(&parts, &input.schema, spec, *split_out, *fan_in)?
            }
            Node::Join {
                left,
                right,
                spec,
                strategy,
            } => {
                let l = self.parts(left)?;
                let r = self.parts(right)?;
                crate::join::lower::lower(&l, &left.schema, &r, &right.schema, spec, *strategy)?
            }
            Node::Sort { input, spec } => {
                let parts = self.parts(input)?;
                crate::sort::lower_sort(&parts, &input.schema, spec)
            }
            Node::TopK { input, spec, k } => {
                let parts = self.parts(input)?;
                vec![crate::sort::lower_top_k(&parts, &input.schema, spec, *k)]
            }
            Node::Head { input, n } => {
                let parts = self.parts(input)?;
                let heads: Vec<Delayed<Partition>> =
                    per_part(parts, &|p| tasks::head::delayed(p, *n));
                vec![tasks::head::delayed(concat_all(&heads, &input.schema), *n)]
            }
            Node::Shuffle { input, keys, n } => {
                let parts = self.parts(input)?;
                hash_shuffle(&parts, keys, *n, &input.schema)
            }
            Node::Repartition { input, n } => {
                let parts = self.parts(input)?;
                let all = concat_all(&parts, &input.schema);
                (0..*n)
                    .map(|k| tasks::slice::delayed(&all, k, *n))
                    .collect()
            }
            Node::Dedupe { input, cols } => {
                let parts = self.parts(input)?;
                let base = if parts.len() > 1 {
                    hash_shuffle(&parts, cols, parts.len(), &input.schema)
                } else {
                    parts
                };
                per_part(base, &|p| tasks::dedupe::delayed(p, cols.clone()))
            }
            Node::Unify { input } => {
                let parts = self.parts(input)?;
                let n = parts.len();
                let all = tasks::unify_dictionaries::delayed(tasks::gather(&parts));
                let splits = [all];
                crate::exchange::exchange(&splits, n)
                    .into_iter()
                    .map(|mut v| v.remove(0))
                    .collect()
            }
            Node::Describe { input, cols } => {
                let parts = self.parts(input)?;
                per_part(parts, &|p| tasks::describe::delayed(p, cols.clone()))
            }
            Node::Window { input, spec } => {
                let parts = self.parts(input)?;
                crate::window::lower(&parts, &input.schema, spec)?
            }
        })
    }
}
