//! A run's side of the cache: identities, the lookup before the run, the
//! values stored as tasks finish.
//!
//! Identities are computed over the plan in id order (a topological
//! order, so a task's inputs come first): `hash128(key, inputs'
//! identities)`, or none for a task of rule 2 (module docs of `cache`).
//! The lookup walks the plan from the outputs down (descending ids, so
//! every dependent of a task is seen before it): a task the outputs still
//! need is looked up; a hit stops the walk there, a miss marks its inputs
//! as needed. With at least one hit the graph is rebuilt: each hit becomes
//! a constant node holding the cached value (its key kept), each task
//! above a hit a node with the same key, body and options over the new inputs, and
//! the result is lowered again, which culls what only hits needed.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use smallvec::SmallVec;

use super::ResultCache;
use crate::delayed::ConstBody;
use crate::error::GraphError;
use crate::lower::lower_nodes;
use crate::node::{new_node, Hinted, NodeRef, Value};
use crate::plan::{Plan, PlanOptions};
use crate::remote::Remote;
use crate::TaskId;

/// What a run stores into the cache as its tasks finish.
pub(crate) struct RunCache {
    pub(crate) cache: ResultCache,
    /// Per task, the identity to store its value under; 0: not stored.
    store: Box<[u128]>,
    /// This run's lookups.
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

impl RunCache {
    /// Stores the value of task `t` (node `node`) if it is to be stored.
    #[inline]
    pub(crate) fn offer(&self, t: TaskId, node: &NodeRef, value: &Value) {
        let id = self.store[t.index()];
        if id != 0 {
            let codec = node.body.remote().map(|r| r.output());
            let nbytes = super::estimate_nbytes(value, codec);
            self.cache.insert(id, &node.key, value, nbytes);
        }
    }
}

/// A 128-bit hash from two SipHash-1-3 states with different prefixes.
struct Hasher128(
    std::collections::hash_map::DefaultHasher,
    std::collections::hash_map::DefaultHasher,
);

impl Hasher128 {
    fn new() -> Self {
        let mut a = std::collections::hash_map::DefaultHasher::new();
        let mut b = std::collections::hash_map::DefaultHasher::new();
        a.write_u8(0x5a);
        b.write_u8(0xa5);
        Hasher128(a, b)
    }
    fn finish(&self) -> u128 {
        (u128::from(self.0.finish()) << 64 | u128::from(self.1.finish())).max(1)
    }
}

impl Hasher for Hasher128 {
    fn finish(&self) -> u64 {
        self.0.finish()
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
        self.1.write(bytes);
    }
}

fn uncached(node: &NodeRef) -> bool {
    node.body.external().is_some() || node.body.options().is_some_and(|o| o.uncached)
}

/// Identities of every task of `plan` (0: none, rule 2).
fn identities(plan: &Plan) -> Vec<u128> {
    let mut ids = vec![0u128; plan.len()];
    'tasks: for i in 0..plan.len() {
        let t = TaskId(i as u32);
        let node = plan.node(t);
        if uncached(node) {
            continue;
        }
        let mut h = Hasher128::new();
        node.key.hash(&mut h);
        for d in plan.deps(t) {
            let id = ids[d.index()];
            if id == 0 {
                continue 'tasks;
            }
            h.write_u128(id);
        }
        ids[i] = Hasher128::finish(&h);
    }
    ids
}

/// Whether task `t`'s value is looked up and stored (rules 2 and 3).
fn storable(plan: &Plan, t: TaskId, ids: &[u128]) -> bool {
    ids[t.index()] != 0 && !plan.is_constant(t)
}

/// Looks `plan`'s tasks up in `cache` and returns the plan to run (the same
/// one when nothing hit) and what the run stores.
pub(crate) fn prepare(
    cache: &ResultCache,
    plan: Plan,
    opts: PlanOptions,
) -> Result<(Plan, RunCache), GraphError> {
    let n = plan.len();
    let ids = identities(&plan);
    let mut needed = vec![false; n];
    for o in plan.outputs() {
        needed[o.index()] = true;
    }
    let mut hits: HashMap<u32, Value> = HashMap::new();
    let mut misses = 0;
    for i in (0..n).rev() {
        let t = TaskId(i as u32);
        if !needed[i] {
            continue;
        }
        if storable(&plan, t, &ids) {
            if let Some(v) = cache.get(ids[i], plan.key(t)) {
                hits.insert(i as u32, v);
                continue;
            }
            misses += 1;
        }
        for d in plan.deps(t) {
            needed[d.index()] = true;
        }
    }
    let hit_count = hits.len() as u64;
    if hits.is_empty() {
        let store = (0..n)
            .map(|i| {
                if storable(&plan, TaskId(i as u32), &ids) {
                    ids[i]
                } else {
                    0
                }
            })
            .collect();
        return Ok((
            plan,
            RunCache {
                cache: cache.clone(),
                store,
                hits: 0,
                misses,
            },
        ));
    }
    // Rebuild the needed part of the graph around the hits.
    let mut new: Vec<Option<NodeRef>> = vec![None; n];
    // The identity to store each rebuilt node's value under.
    let mut store_of: HashMap<usize, u128> = HashMap::new();
    for i in 0..n {
        if !needed[i] {
            continue;
        }
        let t = TaskId(i as u32);
        let node = plan.node(t);
        let made = if let Some(value) = hits.remove(&(i as u32)) {
            cached_node(node, value)
        } else {
            let deps: SmallVec<[NodeRef; 2]> = plan
                .deps(t)
                .iter()
                .map(|d| {
                    new[d.index()]
                        .clone()
                        .unwrap_or_else(|| plan.node(*d).clone())
                })
                .collect();
            let same = deps
                .iter()
                .zip(plan.deps(t))
                .all(|(a, d)| Arc::ptr_eq(a, plan.node(*d)));
            let made = if same {
                node.clone()
            } else {
                rewired(node, deps)
            };
            if storable(&plan, t, &ids) {
                store_of.insert(Arc::as_ptr(&made) as *const () as usize, ids[i]);
            }
            made
        };
        new[i] = Some(made);
    }
    let outputs: Vec<NodeRef> = plan
        .outputs()
        .iter()
        .map(|o| {
            new[o.index()]
                .clone()
                .unwrap_or_else(|| plan.node(*o).clone())
        })
        .collect();
    drop(new);
    let rebuilt = lower_nodes(&outputs, opts)?;
    let store = (0..rebuilt.len())
        .map(|i| {
            let p = Arc::as_ptr(rebuilt.node(TaskId(i as u32))) as *const () as usize;
            store_of.get(&p).copied().unwrap_or(0)
        })
        .collect();
    Ok((
        rebuilt,
        RunCache {
            cache: cache.clone(),
            store,
            hits: hit_count,
            misses,
        },
    ))
}

/// A hit: a constant holding the cached value, with the task's key; on
/// worker processes it travels as a literal in the task's result codec.
fn cached_node(node: &NodeRef, value: Value) -> NodeRef {
    let remote = node.body.remote().map(|r| Remote::Literal(r.output()));
    new_node(
        node.key.clone(),
        SmallVec::new(),
        ConstBody { value, remote },
    )
}

/// A task above a hit: the same key, body and options over rebuilt inputs.
fn rewired(node: &NodeRef, deps: SmallVec<[NodeRef; 2]>) -> NodeRef {
    let hints = node.body.options().cloned().unwrap_or_default();
    new_node(
        node.key.clone(),
        deps,
        Hinted {
            inner: node.clone(),
            hints,
        },
    )
}
