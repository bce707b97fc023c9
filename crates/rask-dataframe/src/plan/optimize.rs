//! The optimizer: rewrites a plan into one that computes the same table
//! with less work. Passes, in order:
//!
//! 1. **Rewrites**: `head(n)` of a sort is a top-k (no full sort);
//!    a filter of a filter is one filter.
//! 2. **Predicate pushdown**: each term of a filter (`a & b & c`) moves
//!    down through selects that only rename, sorts, shuffles, the key
//!    columns of group-bys and distincts, and to the side of a join whose
//!    columns it reads (both sides of an inner join, the left of a left,
//!    semi or anti join), into the file scan, where it skips row groups and
//!    pages by their statistics and decodes the other columns only for
//!    matching rows.
//! 3. **Projection pushdown**: every node computes only the columns some
//!    reader needs (unread aggregations and join outputs are dropped), and
//!    a scan decodes only those. A node read by several parents keeps the
//!    union of what they need.
//! 4. **Common sub-plans**: scans of the same files with the same predicate
//!    become one scan of the union of their columns, and equal sub-plans
//!    become one node, so they are read and computed once.
//!
//! Rule 2 of `plan/mod.rs` holds after every pass: same root schema, same
//! rows, same partition counts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{filter, select, Node, Plan, PlanRef};
use crate::error::Result;
use crate::expr::{col, Expr};
use crate::join::JoinType;
use crate::scan::Scan;

type Ptr = *const Plan;

fn ptr(p: &PlanRef) -> Ptr {
    Arc::as_ptr(p)
}

/// The optimized plan.
pub(crate) fn optimize(root: &PlanRef) -> Result<PlanRef> {
    let p = rewrite(root)?;
    let p = Pushdown::default().run(&p, Vec::new())?;
    let p = prune(&p)?;
    let p = share_scans(&p)?;
    let p = HashCons::default().run(&p)?;
    // The root keeps its schema (a safety net: a select restores it).
    if p.schema.fields() != root.schema.fields() {
        let exprs = root.schema.fields().iter().map(|f| col(f.name())).collect();
        return select(p, exprs);
    }
    Ok(p)
}

/// Nodes in an order where every node comes after all its inputs.
fn post_order(root: &PlanRef) -> Vec<PlanRef> {
    let mut out = Vec::new();
    let mut seen: HashSet<Ptr> = HashSet::new();
    // (node, whether its inputs were pushed)
    let mut stack = vec![(root.clone(), false)];
    while let Some((p, expanded)) = stack.pop() {
        if expanded {
            out.push(p);
            continue;
        }
        if !seen.insert(ptr(&p)) {
            continue;
        }
        stack.push((p.clone(), true));
        for i in p.inputs().into_iter().rev() {
            if !seen.contains(&ptr(i)) {
                stack.push((i.clone(), false));
            }
        }
    }
    out
}

/// Rebuilds every node bottom-up with `f(node, new inputs)`, once per node.
fn rebuild(
    root: &PlanRef,
    mut f: impl FnMut(&PlanRef, Vec<PlanRef>) -> Result<PlanRef>,
) -> Result<PlanRef> {
    let mut done: HashMap<Ptr, PlanRef> = HashMap::new();
    for p in post_order(root) {
        let inputs: Vec<PlanRef> = p
            .inputs()
            .into_iter()
            .map(|i| done.get(&ptr(i)).cloned().unwrap_or_else(|| i.clone()))
            .collect();
        let new = f(&p, inputs)?;
        done.insert(ptr(&p), new);
    }
    Ok(done.remove(&ptr(root)).unwrap_or_else(|| root.clone()))
}

/// Rebuilds a node over new inputs, keeping it when they did not change.
fn same_or_new(p: &PlanRef, inputs: Vec<PlanRef>) -> Result<PlanRef> {
    let unchanged = p
        .inputs()
        .iter()
        .zip(&inputs)
        .all(|(a, b)| Arc::ptr_eq(a, b));
    if unchanged {
        Ok(p.clone())
    } else {
        p.with_inputs(inputs)
    }
}

/// Pass 1: local rewrites (see the module doc).
fn rewrite(root: &PlanRef) -> Result<PlanRef> {
    rebuild(root, |p, inputs| {
        let p = same_or_new(p, inputs)?;
        Ok(match &p.node {
            Node::Head { input, n } => match &input.node {
                Node::Sort { input: below, spec } => {
                    let schema = p.schema.clone();
                    Plan::new(
                        Node::TopK {
                            input: below.clone(),
                            spec: spec.clone(),
                            k: *n,
                        },
                        schema,
                        1,
                    )
                }
                _ => p,
            },
            Node::Filter { input, predicate } => match &input.node {
                Node::Filter {
                    input: below,
                    predicate: first,
                } => filter(below.clone(), first.clone().and(predicate.clone())),
                _ => p,
            },
            _ => p,
        })
    })
}

#[derive(Default)]
struct Pushdown {
    /// Nodes already rebuilt with nothing pushed into them.
    memo: HashMap<Ptr, PlanRef>,
}

/// A filter of the terms over `p` (`p` itself for none).
fn wrap(p: PlanRef, terms: Vec<Expr>) -> PlanRef {
    match Expr::all(terms) {
        None => p,
        Some(e) => filter(p, e),
    }
}

/// Whether every column `e` reads is in `names`.
fn reads_only(e: &Expr, names: &HashSet<String>) -> bool {
    e.column_list().iter().all(|c| names.contains(c))
}

impl Pushdown {
    /// `p` with the terms applied above or inside it.
    fn run(&mut self, p: &PlanRef, terms: Vec<Expr>) -> Result<PlanRef> {
        if terms.is_empty() {
            if let Some(done) = self.memo.get(&ptr(p)) {
                return Ok(done.clone());
            }
        }
        let out = self.node(p, terms.clone())?;
        if terms.is_empty() {
            self.memo.insert(ptr(p), out.clone());
        }
        Ok(out)
    }

    fn inputs_plain(&mut self, p: &PlanRef) -> Result<PlanRef> {
        let inputs = p
            .inputs()
            .into_iter()
            .map(|i| self.run(i, Vec::new()))
            .collect::<Result<Vec<_>>>()?;
        same_or_new(p, inputs)
    }

    fn node(&mut self, p: &PlanRef, terms: Vec<Expr>) -> Result<PlanRef> {
        match &p.node {
            Node::Filter { input, predicate } => {
                let mut all = predicate.conjuncts();
                all.extend(terms);
                self.run(input, all)
            }
            Node::Scan(scan) => {
                if terms.is_empty() {
                    return Ok(p.clone());
                }
                let mut all = scan
                    .predicate
                    .iter()
                    .flat_map(|e| e.conjuncts())
                    .collect::<Vec<_>>();
                all.extend(terms);
                let s = Scan {
                    predicate: Expr::all(all),
                    ..scan.clone()
                };
                Ok(Plan::new(Node::Scan(s), p.schema.clone(), p.nparts))
            }
            Node::Select { input, exprs } => {
                // Output name -> input column, for outputs that only rename.
                let renames: HashMap<String, String> = exprs
                    .iter()
                    .filter_map(|e| match e.unaliased() {
                        Expr::Col(c) => Some((e.name(), c.clone())),
                        _ => None,
                    })
                    .collect();
                let names: HashSet<String> = renames.keys().cloned().collect();
                let (down, keep): (Vec<Expr>, Vec<Expr>) =
                    terms.into_iter().partition(|t| reads_only(t, &names));
                let down = down
                    .iter()
                    .map(|t| t.rename(&|c| renames.get(c).cloned()))
                    .collect();
                let input = self.run(input, down)?;
                Ok(wrap(same_or_new(p, vec![input])?, keep))
            }
            Node::Sort { input, .. } | Node::Shuffle { input, .. } | Node::Unify { input } => {
                let input = self.run(input, terms)?;
                same_or_new(p, vec![input])
            }
            Node::Aggregate { input, spec, .. } => {
                let keys: HashSet<String> = spec.keys.iter().cloned().collect();
                let (down, keep): (Vec<Expr>, Vec<Expr>) =
                    terms.into_iter().partition(|t| reads_only(t, &keys));
                let input = self.run(input, down)?;
                Ok(wrap(same_or_new(p, vec![input])?, keep))
            }
            Node::Dedupe { input, cols } => {
                let keys: HashSet<String> = cols.iter().cloned().collect();
                let (down, keep): (Vec<Expr>, Vec<Expr>) =
                    terms.into_iter().partition(|t| reads_only(t, &keys));
                let input = self.run(input, down)?;
                Ok(wrap(same_or_new(p, vec![input])?, keep))
            }
            Node::Join {
                left, right, spec, ..
            } => {
                let left_names: HashSet<String> = spec.left_out.iter().cloned().collect();
                let right_names: HashMap<String, String> = spec
                    .right_out
                    .iter()
                    .map(|(i, o)| (o.clone(), i.clone()))
                    .collect();
                let right_set: HashSet<String> = right_names.keys().cloned().collect();
                let to_left = matches!(
                    spec.how,
                    JoinType::Inner | JoinType::Left | JoinType::Semi | JoinType::Anti
                );
                let to_right = spec.how == JoinType::Inner;
                let mut l = Vec::new();
                let mut r = Vec::new();
                let mut keep = Vec::new();
                for t in terms {
                    if to_left && reads_only(&t, &left_names) {
                        l.push(t);
                    } else if to_right && reads_only(&t, &right_set) {
                        r.push(t.rename(&|c| right_names.get(c).cloned()));
                    } else {
                        keep.push(t);
                    }
                }
                let left = self.run(left, l)?;
                let right = self.run(right, r)?;
                Ok(wrap(same_or_new(p, vec![left, right])?, keep))
            }
            _ => {
                let p = self.inputs_plain(p)?;
                Ok(wrap(p, terms))
            }
        }
    }
}

/// Projection pushdown over the whole DAG (see the module doc, pass 3).
fn prune(root: &PlanRef) -> Result<PlanRef> {
    let order = post_order(root);
    // Requirements flow from parents (later in post-order) to inputs.
    let mut need: HashMap<Ptr, HashSet<String>> = HashMap::new();
    need.insert(
        ptr(root),
        root.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
    );
    for p in order.iter().rev() {
        let r = need.get(&ptr(p)).cloned().unwrap_or_default();
        for (input, cols) in p.inputs().into_iter().zip(input_needs(p, &r)) {
            need.entry(ptr(input)).or_default().extend(cols);
        }
    }
    rebuild(root, |p, inputs| {
        let r = need.get(&ptr(p)).cloned().unwrap_or_default();
        narrow(p, inputs, &r)
    })
}

/// What each input of `p` must give for `p` to make the columns `r`.
fn input_needs(p: &PlanRef, r: &HashSet<String>) -> Vec<HashSet<String>> {
    let all = |q: &PlanRef| -> HashSet<String> {
        q.schema.fields().iter().map(|f| f.name().clone()).collect()
    };
    let with = |mut s: HashSet<String>, more: Vec<String>| {
        s.extend(more);
        s
    };
    match &p.node {
        Node::Source(_) | Node::Scan(_) => Vec::new(),
        Node::Select { exprs, .. } => {
            let mut s = HashSet::new();
            for e in kept_exprs(exprs, r) {
                s.extend(e.column_list());
            }
            vec![s]
        }
        Node::Filter { predicate, .. } => vec![with(r.clone(), predicate.column_list())],
        Node::Aggregate {
            spec,
            split_out,
            input,
            ..
        } => {
            let spec = kept_aggs(spec, *split_out, input.nparts, r);
            vec![spec.input_columns().into_iter().collect()]
        }
        Node::Join { spec, .. } => {
            let spec = spec.narrowed(r);
            let mut l: HashSet<String> = spec.left_on.iter().cloned().collect();
            l.extend(spec.left_out.iter().cloned());
            let mut rr: HashSet<String> = spec.right_on.iter().cloned().collect();
            rr.extend(spec.right_out.iter().map(|(i, _)| i.clone()));
            vec![l, rr]
        }
        Node::Sort { spec, .. } | Node::TopK { spec, .. } => {
            vec![with(r.clone(), spec.columns_named())]
        }
        Node::Head { .. } | Node::Repartition { .. } | Node::Unify { .. } => vec![r.clone()],
        Node::Shuffle { keys, .. } => vec![with(r.clone(), keys.clone())],
        Node::Dedupe { cols, .. } => vec![with(r.clone(), cols.clone())],
        Node::Describe { input, .. } | Node::Window { input, .. } => vec![all(input)],
    }
}

/// The expressions of a select that some reader needs (at least one, for
/// the row count).
fn kept_exprs<'a>(exprs: &'a [Expr], r: &HashSet<String>) -> Vec<&'a Expr> {
    let kept: Vec<&Expr> = exprs.iter().filter(|e| r.contains(&e.name())).collect();
    if kept.is_empty() {
        exprs.iter().take(1).collect()
    } else {
        kept
    }
}

/// A group-by without the aggregations nobody reads (when dropping them
/// keeps the partition count).
fn kept_aggs(
    spec: &crate::groupby::GroupSpec,
    split_out: Option<usize>,
    input_parts: usize,
    r: &HashSet<String>,
) -> crate::groupby::GroupSpec {
    use crate::groupby::lower::output_partitions;
    let mut aggs: Vec<_> = spec
        .aggs
        .iter()
        .filter(|a| r.contains(&a.output_name()))
        .cloned()
        .collect();
    if aggs.is_empty() && spec.keys.is_empty() {
        aggs = spec.aggs.iter().take(1).cloned().collect();
    }
    let narrowed = crate::groupby::GroupSpec {
        keys: spec.keys.clone(),
        aggs,
    };
    if output_partitions(&narrowed, split_out, input_parts)
        == output_partitions(spec, split_out, input_parts)
    {
        narrowed
    } else {
        spec.clone()
    }
}

/// `p` over its new inputs, computing only the columns in `r` where it can.
fn narrow(p: &PlanRef, inputs: Vec<PlanRef>, r: &HashSet<String>) -> Result<PlanRef> {
    match &p.node {
        Node::Scan(scan) => {
            let mut cols: Vec<String> = scan
                .columns
                .iter()
                .filter(|c| r.contains(*c))
                .cloned()
                .collect();
            if cols.is_empty() {
                cols = scan.columns.iter().take(1).cloned().collect();
            }
            if cols == scan.columns {
                return Ok(p.clone());
            }
            let s = Scan {
                columns: cols,
                ..scan.clone()
            };
            let schema = s.schema()?;
            Ok(Plan::new(Node::Scan(s), schema, p.nparts))
        }
        Node::Select { exprs, .. } => {
            let kept: Vec<Expr> = kept_exprs(exprs, r).into_iter().cloned().collect();
            let input = inputs.into_iter().next().unwrap_or_else(|| unreachable!());
            select(input, kept)
        }
        Node::Aggregate {
            spec,
            split_out,
            fan_in,
            input,
        } => {
            let spec = kept_aggs(spec, *split_out, input.nparts, r);
            let input = inputs.into_iter().next().unwrap_or_else(|| unreachable!());
            super::aggregate(input, spec, *split_out, *fan_in)
        }
        Node::Join { spec, strategy, .. } => {
            let mut it = inputs.into_iter();
            let (l, rt) = match (it.next(), it.next()) {
                (Some(l), Some(r)) => (l, r),
                _ => unreachable!("a join has two inputs"),
            };
            super::join(l, rt, spec.narrowed(r), *strategy)
        }
        _ => same_or_new(p, inputs),
    }
}

/// Scans of the same files with the same predicate become one (pass 4).
fn share_scans(root: &PlanRef) -> Result<PlanRef> {
    let order = post_order(root);
    let mut groups: HashMap<String, Vec<PlanRef>> = HashMap::new();
    for p in &order {
        if let Node::Scan(s) = &p.node {
            groups.entry(s.share_key()).or_default().push(p.clone());
        }
    }
    let mut replace: HashMap<Ptr, PlanRef> = HashMap::new();
    for members in groups.values().filter(|m| m.len() > 1) {
        let Node::Scan(first) = &members[0].node else {
            continue;
        };
        let wanted: HashSet<&String> = members
            .iter()
            .flat_map(|m| match &m.node {
                Node::Scan(s) => s.columns.iter().collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        let cols: Vec<String> = first
            .source
            .full_schema()
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|c| wanted.contains(c))
            .cloned()
            .collect();
        let shared = Scan {
            columns: cols.clone(),
            ..first.clone()
        };
        let schema = shared.schema()?;
        let shared = Plan::new(Node::Scan(shared), schema, members[0].nparts);
        for m in members {
            let Node::Scan(s) = &m.node else { continue };
            let node = if s.columns == cols {
                shared.clone()
            } else {
                select(shared.clone(), s.columns.iter().map(|c| col(c)).collect())?
            };
            replace.insert(ptr(m), node);
        }
    }
    if replace.is_empty() {
        return Ok(root.clone());
    }
    rebuild(root, |p, inputs| match replace.get(&ptr(p)) {
        Some(r) => Ok(r.clone()),
        None => same_or_new(p, inputs),
    })
}

/// Equal sub-plans become one node (pass 4): a node equals another when
/// its own description and its (already shared) inputs are equal.
#[derive(Default)]
struct HashCons {
    seen: HashMap<(String, Vec<Ptr>), PlanRef>,
}

impl HashCons {
    fn run(&mut self, root: &PlanRef) -> Result<PlanRef> {
        rebuild(root, |p, inputs| {
            let p = same_or_new(p, inputs)?;
            let key = (
                super::explain::own_key(&p),
                p.inputs().into_iter().map(ptr).collect(),
            );
            Ok(self.seen.entry(key).or_insert(p).clone())
        })
    }
}
