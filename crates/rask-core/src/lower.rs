//! Lowering: from delayed nodes to a [`Plan`].
//!
//! Lowering walks the graph depth-first from the requested outputs, visiting
//! arguments left to right, and numbers each node when all of its
//! dependencies are numbered (post-order). What the outputs do not reach is
//! never visited: that is the cull. The numbering is the plan's topological
//! and priority order (see `plan.rs`).
//!
//! To keep lowering at a few nanoseconds per node, the "already numbered"
//! check does not use a hash map: each node has a `mark` word holding
//! `(epoch << 32) | id`, and every lowering takes a fresh epoch. Rules:
//! 1. `mark` is read and written only while `LOWER_LOCK` is held, so two
//!    lowerings never see each other's marks.
//! 2. A mark whose epoch is not the current one means "not visited yet";
//!    epochs start at 1 and the initial mark is 0.
//!
//! Delayed graphs cannot contain cycles or missing dependencies (a node holds
//! its dependencies); duplicate *user* keys are refused here, by one pass
//! over the user-keyed tasks once the plan is built (`unique.rs`).
//!
//! Priorities: once any node with a priority was made in this process, the
//! walk visits a node's arguments, and the outputs, in descending priority
//! (ties in argument order), so a task and its inputs get smaller ids than
//! its lower-priority siblings: in-process executors run by ascending id.
//! Until then the walk pays nothing for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::GraphError;
use crate::node::NodeRef;
use crate::plan::{Plan, PlanBuilder, PlanOptions};
use crate::unique::{self, Noted};
use crate::TaskId;

static LOWER_LOCK: Mutex<u32> = Mutex::new(0);

/// Some node has a priority (see the module docs).
static PRIORITIES: AtomicBool = AtomicBool::new(false);

/// A node with a priority was made.
pub(crate) fn note_priority() {
    PRIORITIES.store(true, Ordering::Relaxed);
}

/// The order in which to visit `nodes`: by descending priority, stable.
fn by_priority(nodes: &[NodeRef]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..nodes.len() as u32).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(nodes[i as usize].priority));
    order
}

/// Lowers the graph reachable from `outputs` (in that order) into a plan.
pub(crate) fn lower_nodes(outputs: &[NodeRef], opts: PlanOptions) -> Result<Plan, GraphError> {
    let mut epoch_guard = LOWER_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    *epoch_guard = epoch_guard.wrapping_add(1).max(1);
    let epoch = u64::from(*epoch_guard) << 32;
    let id_of = |n: &NodeRef| -> Option<TaskId> {
        let m = n.mark.load(Ordering::Relaxed);
        (m & !0xFFFF_FFFF == epoch).then_some(TaskId(m as u32))
    };

    let mut b = PlanBuilder::with_capacity(1024);
    let mut user_keys: Vec<Noted> = Vec::new();
    let prioritized = PRIORITIES.load(Ordering::Relaxed);
    // (node, next argument to visit, the visiting order if prioritized)
    let mut stack: Vec<(&NodeRef, usize, Option<Vec<u32>>)> = Vec::with_capacity(64);
    let visit = |n: &NodeRef| prioritized.then(|| by_priority(&n.deps));
    let out_order: Vec<usize> = if prioritized {
        by_priority(outputs)
            .into_iter()
            .map(|i| i as usize)
            .collect()
    } else {
        (0..outputs.len()).collect()
    };
    for &o in &out_order {
        let out = &outputs[o];
        if id_of(out).is_none() {
            stack.push((out, 0, visit(out)));
        }
        while let Some(&mut (node, ref mut next, ref order)) = stack.last_mut() {
            let at = match order {
                Some(order) => order.get(*next).map(|&i| i as usize),
                None => Some(*next),
            };
            if let Some(dep) = at.and_then(|i| node.deps.get(i)) {
                *next += 1;
                if id_of(dep).is_none() {
                    stack.push((dep, 0, visit(dep)));
                }
                continue;
            }
            // All dependencies are numbered: number this node.
            if b.len() >= u32::MAX as usize - 1 {
                return Err(GraphError::TooLarge {
                    tasks: b.len(),
                    max: u32::MAX as usize - 1,
                });
            }
            let deps = node
                .deps
                .iter()
                .map(|d| id_of(d).unwrap_or(TaskId(u32::MAX)));
            let id = b.push(node.clone(), deps);
            user_keys.extend(Noted::of(id, node.key.index()));
            node.mark.store(epoch | u64::from(id.0), Ordering::Relaxed);
            stack.pop();
        }
    }
    // Every output was numbered above.
    let out_ids = outputs
        .iter()
        .map(|out| id_of(out).unwrap_or(TaskId(u32::MAX)))
        .collect();
    drop(epoch_guard);
    let plan = b.finish(out_ids, opts)?;
    unique::check(&plan, &user_keys)?;
    Ok(plan)
}
