//! Plans as text: `explain` prints one operation per line with its inputs
//! indented below; a node read by several operations gets a `#k` tag the
//! first time and is referred to by it afterwards. `own_key` describes a
//! node without its inputs (the optimizer's equality of sub-plans).

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;

use super::{Node, Plan, PlanRef};

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line for a node (without its inputs).
fn line(p: &Plan) -> String {
    let parts = p.nparts;
    match &p.node {
        Node::Source(v) => format!("Source: {} partition(s) made by tasks", v.len()),
        Node::Scan(s) => s.describe(),
        Node::Select { exprs, .. } => format!("Select [{}]", list(exprs)),
        Node::Filter { predicate, .. } => format!("Filter {predicate}"),
        Node::Aggregate {
            spec, split_out, ..
        } => {
            let aggs: Vec<String> = spec
                .aggs
                .iter()
                .map(|a| {
                    let input = if a.func == crate::groupby::AggFunc::Len {
                        String::new()
                    } else {
                        a.input.to_string()
                    };
                    format!("{}({input}) as {}", a.func.name(), a.output_name())
                })
                .collect();
            let split = match split_out {
                Some(n) => n.to_string(),
                None => "auto".to_string(),
            };
            format!(
                "Aggregate by [{}]: {} (split_out {split}, {parts} partition(s))",
                spec.keys.join(", "),
                aggs.join(", ")
            )
        }
        Node::Join { spec, strategy, .. } => format!(
            "Join {:?} on left [{}] = right [{}] ({strategy:?}; left columns [{}], right columns [{}]; {parts} partition(s))",
            spec.how,
            spec.left_on.join(", "),
            spec.right_on.join(", "),
            spec.left_out.join(", "),
            spec.right_out
                .iter()
                .map(|(i, o)| if i == o { i.clone() } else { format!("{i} as {o}") })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Node::Sort { spec, .. } => format!("Sort by {}", spec.describe()),
        Node::TopK { spec, k, .. } => format!("TopK {k} by {}", spec.describe()),
        Node::Head { n, .. } => format!("Head {n}"),
        Node::Shuffle { keys, n, .. } => format!("Shuffle by [{}] into {n}", keys.join(", ")),
        Node::Repartition { n, .. } => format!("Repartition into {n}"),
        Node::Dedupe { cols, .. } => format!("Distinct on [{}]", cols.join(", ")),
        Node::Unify { .. } => "UnifyDictionaries".to_string(),
        Node::Describe { cols, .. } => format!("Describe [{}]", cols.join(", ")),
        Node::Window { spec, .. } => format!("Window {}", spec.describe()),
    }
}

/// A node's own description, exact enough to tell unequal nodes apart.
pub(crate) fn own_key(p: &Plan) -> String {
    match &p.node {
        Node::Source(v) => format!("source {v:?}"),
        Node::Scan(s) => format!("scan {} {:?} {:?}", s.share_key(), s.columns, s.predicate),
        Node::Select { exprs, .. } => format!("select {exprs:?}"),
        Node::Filter { predicate, .. } => format!("filter {predicate:?}"),
        Node::Aggregate {
            spec,
            split_out,
            fan_in,
            ..
        } => format!("aggregate {spec:?} {split_out:?} {fan_in}"),
        Node::Join { spec, strategy, .. } => format!("join {spec:?} {strategy:?}"),
        Node::Sort { spec, .. } => format!("sort {spec:?}"),
        Node::TopK { spec, k, .. } => format!("topk {spec:?} {k}"),
        Node::Head { n, .. } => format!("head {n}"),
        Node::Shuffle { keys, n, .. } => format!("shuffle {keys:?} {n}"),
        Node::Repartition { n, .. } => format!("repartition {n}"),
        Node::Dedupe { cols, .. } => format!("dedupe {cols:?}"),
        Node::Unify { .. } => "unify".to_string(),
        Node::Describe { cols, .. } => format!("describe {cols:?}"),
        Node::Window { spec, .. } => format!("window {spec:?}"),
    }
}

/// The plan as indented text.
pub(crate) fn explain(root: &PlanRef) -> String {
    // Nodes read more than once get a tag.
    let mut readers: HashMap<*const Plan, usize> = HashMap::new();
    let mut seen: HashSet<*const Plan> = HashSet::new();
    let mut stack = vec![root.clone()];
    while let Some(p) = stack.pop() {
        if !seen.insert(Arc::as_ptr(&p)) {
            continue;
        }
        for i in p.inputs() {
            *readers.entry(Arc::as_ptr(i)).or_default() += 1;
            stack.push(i.clone());
        }
    }
    let mut tags: HashMap<*const Plan, usize> = HashMap::new();
    let mut out = String::new();
    // (node, depth), printed depth-first in input order.
    let mut stack = vec![(root.clone(), 0usize)];
    while let Some((p, depth)) = stack.pop() {
        let key = Arc::as_ptr(&p);
        let pad = "  ".repeat(depth);
        if let Some(t) = tags.get(&key) {
            let _ = writeln!(out, "{pad}-> #{t} (shared, computed once)");
            continue;
        }
        let tag = if readers.get(&key).copied().unwrap_or(0) > 1 {
            let t = tags.len() + 1;
            tags.insert(key, t);
            format!("#{t} ")
        } else {
            String::new()
        };
        let _ = writeln!(out, "{pad}{tag}{}", line(&p));
        for i in p.inputs().into_iter().rev() {
            stack.push((i.clone(), depth + 1));
        }
    }
    out
}
