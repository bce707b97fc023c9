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
//! its dependencies); duplicate *user* keys are refused here.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::error::GraphError;
use crate::node::NodeRef;
use crate::plan::{Plan, PlanBuilder, PlanOptions};
use crate::TaskId;

static LOWER_LOCK: Mutex<u32> = Mutex::new(0);

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
    let mut user_keys: HashSet<crate::Key> = HashSet::new();
    let mut stack: Vec<(&NodeRef, usize)> = Vec::with_capacity(64);
    let mut out_ids = Vec::with_capacity(outputs.len());
    for out in outputs {
        if id_of(out).is_none() {
            stack.push((out, 0));
        }
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(dep) = node.deps.get(*next) {
                *next += 1;
                if id_of(dep).is_none() {
                    stack.push((dep, 0));
                }
                continue;
            }
            // All dependencies are numbered: number this node.
            if node.key.is_user_key() && !user_keys.insert(node.key.clone()) {
                return Err(GraphError::DuplicateKey {
                    key: node.key.clone(),
                });
            }
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
            node.mark.store(epoch | u64::from(id.0), Ordering::Relaxed);
            stack.pop();
        }
        // `out` was numbered above or by an earlier output.
        out_ids.push(id_of(out).unwrap_or(TaskId(u32::MAX)));
    }
    drop(epoch_guard);
    b.finish(out_ids, opts)
}
