//! The lowered graph: what executors run.
//!
//! A [`Plan`] is a graph in dense arrays. Invariants, established by
//! [`PlanBuilder::finish`] and relied on by every executor:
//!
//! 1. Task ids are a topological order: every dependency of `t` is `< t`.
//! 2. Ids are also the static priority order. Lowering numbers tasks in
//!    depth-first post-order from the outputs, visiting arguments left to
//!    right, so running by ascending id finishes a sub-tree before it starts
//!    the next root and keeps few results alive at once.
//! 3. Every task is needed by some output (the plan was culled).
//! 4. Fusion: `t` is *fused into* `t + 1` when `t + 1` is `t`'s only
//!    dependent, `t` is `t + 1`'s only dependency, and `t` is not an output.
//!    A maximal run of fused tasks is a *chain* and is scheduled as one unit:
//!    only the chain's head has a dependency counter and is ever queued; the
//!    executor runs the members one after the other on the same thread.
//! 5. `consumers[t]` counts every later read of `t`'s value: one per
//!    dependency edge (an argument used twice counts twice) plus one per time
//!    `t` was requested as an output.

use std::collections::HashMap;

use crate::error::GraphError;
use crate::node::NodeRef;
use crate::{Key, TaskId};

const FUSED_NEXT: u8 = 1;
const OUTPUT: u8 = 2;

/// A culled, ordered and fused graph in dense arrays.
pub struct Plan {
    pub(crate) nodes: Vec<NodeRef>,
    dep_off: Vec<u32>,
    deps: Vec<TaskId>,
    dnt_off: Vec<u32>,
    dependents: Vec<TaskId>,
    pub(crate) consumers: Vec<u32>,
    flags: Vec<u8>,
    roots: Vec<TaskId>,
    outputs: Vec<TaskId>,
    output_tasks: u32,
    units: u32,
    /// Tasks that are constants.
    constants: usize,
    /// Per task, its name group (see [`Plan::name_groups`]).
    group: Vec<u32>,
    /// Per name group, its first task.
    group_first: Vec<TaskId>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("tasks", &self.len())
            .field("units", &self.units)
            .field("roots", &self.roots.len())
            .field("outputs", &self.outputs.len())
            .finish()
    }
}

/// Lowering options.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    /// Fuse linear chains into single scheduling units (default: on).
    pub fuse: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions { fuse: true }
    }
}

impl Plan {
    /// The node of task `t` (its key and body).
    pub fn node(&self, t: TaskId) -> &NodeRef {
        &self.nodes[t.index()]
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    /// Whether the plan has no tasks.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// The key of a task.
    pub fn key(&self, t: TaskId) -> &Key {
        &self.nodes[t.index()].key
    }
    /// The dependencies of a task, in argument order.
    #[inline]
    pub fn deps(&self, t: TaskId) -> &[TaskId] {
        let i = t.index();
        &self.deps[self.dep_off[i] as usize..self.dep_off[i + 1] as usize]
    }
    /// The dependents of a task, in ascending id (priority) order.
    #[inline]
    pub fn dependents(&self, t: TaskId) -> &[TaskId] {
        let i = t.index();
        &self.dependents[self.dnt_off[i] as usize..self.dnt_off[i + 1] as usize]
    }
    /// Chain heads with no dependencies, in priority order: where execution starts.
    pub fn roots(&self) -> &[TaskId] {
        &self.roots
    }
    /// The requested outputs, in the order they were requested (may repeat).
    pub fn outputs(&self) -> &[TaskId] {
        &self.outputs
    }
    /// Number of distinct output tasks.
    pub fn output_tasks(&self) -> u32 {
        self.output_tasks
    }
    /// Number of scheduling units (chains) after fusion.
    pub fn units(&self) -> u32 {
        self.units
    }
    /// Whether `t` runs immediately before `t + 1` in the same unit.
    #[inline]
    pub fn is_fused_into_next(&self, t: TaskId) -> bool {
        self.flags[t.index()] & FUSED_NEXT != 0
    }
    /// Whether `t` is a chain head (scheduled on its own).
    #[inline]
    pub fn is_head(&self, t: TaskId) -> bool {
        t.0 == 0 || !self.is_fused_into_next(TaskId(t.0 - 1))
    }
    /// Whether `t` is a constant (`value`, a literal argument): a task of
    /// the plan, but not the user's work.
    #[inline]
    pub fn is_constant(&self, t: TaskId) -> bool {
        self.nodes[t.index()].constant
    }

    /// How many tasks are constants: counted while lowering, where each
    /// node is at hand (counting later would touch every node again).
    #[inline]
    pub fn constants(&self) -> usize {
        self.constants
    }

    /// Whether `t` was requested as an output.
    #[inline]
    pub fn is_output(&self, t: TaskId) -> bool {
        self.flags[t.index()] & OUTPUT != 0
    }

    /// Per task, its *name group*: tasks whose keys hold the same name value
    /// share a group (numbered from 0 in task order). Made while lowering,
    /// when every key is at hand, so that a reader that wants counts per
    /// key prefix (the recorder, at every run's start) need not visit every
    /// task's node again. Two groups can show the same name (two copies of
    /// one runtime string): a reader merges them by name.
    pub fn name_groups(&self) -> &[u32] {
        &self.group
    }

    /// Per name group, its first task (whose key names the group).
    pub fn group_firsts(&self) -> &[TaskId] {
        &self.group_first
    }
}

/// Slots of the builder's cache of name groups (a power of two).
const GROUP_SLOTS: usize = 64;

/// Numbers the names of pushed tasks (see [`Plan::name_groups`]): a
/// direct-mapped cache by name identity, then a map.
struct Grouper {
    slots: [(usize, usize, u32); GROUP_SLOTS],
    map: HashMap<(usize, usize), u32>,
    group: Vec<u32>,
    first: Vec<TaskId>,
}

impl Grouper {
    fn new(n: usize) -> Self {
        Grouper {
            slots: [(0, usize::MAX, 0); GROUP_SLOTS],
            map: HashMap::new(),
            group: Vec::with_capacity(n),
            first: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, t: TaskId, name: &crate::Name) {
        let id = name.identity();
        let slot = ((id.0 >> 3) ^ (id.0 >> 11) ^ id.1) & (GROUP_SLOTS - 1);
        let e = self.slots[slot];
        let g = if (e.0, e.1) == id {
            e.2
        } else {
            let next = self.first.len() as u32;
            let g = *self.map.entry(id).or_insert(next);
            if g == next {
                self.first.push(t);
            }
            self.slots[slot] = (id.0, id.1, g);
            g
        };
        self.group.push(g);
    }
}

/// Accumulates a topologically ordered task list and turns it into a [`Plan`].
pub(crate) struct PlanBuilder {
    nodes: Vec<NodeRef>,
    dep_off: Vec<u32>,
    deps: Vec<TaskId>,
    groups: Grouper,
    constants: usize,
}

impl PlanBuilder {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut dep_off = Vec::with_capacity(n + 1);
        dep_off.push(0);
        PlanBuilder {
            nodes: Vec::with_capacity(n),
            dep_off,
            deps: Vec::with_capacity(n * 2),
            groups: Grouper::new(n),
            constants: 0,
        }
    }

    /// Adds the next task; every id in `deps` must already have been pushed.
    #[inline]
    pub(crate) fn push(&mut self, node: NodeRef, deps: impl IntoIterator<Item = TaskId>) -> TaskId {
        let id = TaskId(self.nodes.len() as u32);
        self.groups.push(id, node.key.name());
        self.constants += usize::from(node.constant);
        self.nodes.push(node);
        self.deps.extend(deps);
        self.dep_off.push(self.deps.len() as u32);
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn finish(
        self,
        outputs: Vec<TaskId>,
        opts: PlanOptions,
    ) -> Result<Plan, GraphError> {
        let n = self.nodes.len();
        if n >= u32::MAX as usize || self.deps.len() >= u32::MAX as usize {
            return Err(GraphError::TooLarge {
                tasks: n,
                max: u32::MAX as usize - 1,
            });
        }
        let PlanBuilder {
            nodes,
            dep_off,
            deps,
            groups,
            constants,
        } = self;

        // Dependents in CSR form, by counting sort; ascending dependent id
        // because we walk tasks in ascending order.
        let mut count = vec![0u32; n + 1];
        for d in &deps {
            debug_assert!(d.index() < n);
            count[d.index() + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let dnt_off = count.clone();
        let mut fill = count;
        let mut dependents = vec![TaskId(0); deps.len()];
        for t in 0..n {
            for d in &deps[dep_off[t] as usize..dep_off[t + 1] as usize] {
                debug_assert!(d.index() < t, "plan order must be topological");
                let slot = &mut fill[d.index()];
                dependents[*slot as usize] = TaskId(t as u32);
                *slot += 1;
            }
        }

        let mut consumers: Vec<u32> = (0..n).map(|i| dnt_off[i + 1] - dnt_off[i]).collect();
        let mut flags = vec![0u8; n];
        let mut output_tasks = 0;
        for o in &outputs {
            consumers[o.index()] += 1;
            if flags[o.index()] & OUTPUT == 0 {
                output_tasks += 1;
                flags[o.index()] |= OUTPUT;
            }
        }
        if opts.fuse {
            for t in 0..n.saturating_sub(1) {
                let next_deps = &deps[dep_off[t + 1] as usize..dep_off[t + 2] as usize];
                let my_dependents = &dependents[dnt_off[t] as usize..dnt_off[t + 1] as usize];
                if flags[t] & OUTPUT == 0
                    && next_deps.len() == 1
                    && next_deps[0].index() == t
                    && my_dependents.len() == 1
                {
                    flags[t] |= FUSED_NEXT;
                }
            }
        }
        let mut roots = Vec::new();
        let mut units = 0;
        for t in 0..n {
            let head = t == 0 || flags[t - 1] & FUSED_NEXT == 0;
            if head {
                units += 1;
                if dep_off[t] == dep_off[t + 1] {
                    roots.push(TaskId(t as u32));
                }
            }
        }
        Ok(Plan {
            nodes,
            dep_off,
            deps,
            dnt_off,
            dependents,
            consumers,
            flags,
            roots,
            outputs,
            output_tasks,
            units,
            constants,
            group: groups.group,
            group_first: groups.first,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{delayed, task, Key, PlanOptions};

    #[test]
    fn name_groups_number_each_name_once() {
        fn inc(x: u64) -> u64 {
            x + 1
        }
        fn add(a: u64, b: u64) -> u64 {
            a + b
        }
        fn load() -> u64 {
            1
        }
        // Two runtime copies of one name make two groups of the same name.
        let l1 = task(Key::indexed(String::from("load"), 0)).delayed(load, ());
        let l2 = task(Key::indexed(String::from("load"), 1)).delayed(load, ());
        let mut xs = vec![l1, l2];
        for _ in 0..3 {
            xs = xs.iter().map(|x| delayed(inc, (x,))).collect();
        }
        let total = delayed(add, (&xs[0], &xs[1]));
        let plan = total.plan(PlanOptions { fuse: false }).expect("a plan");
        let groups = plan.name_groups();
        assert_eq!(groups.len(), plan.len());
        let firsts = plan.group_firsts();
        assert_eq!(firsts.len(), 4, "load, load, inc, add");
        for (g, &t) in firsts.iter().enumerate() {
            assert_eq!(
                groups[t.index()] as usize,
                g,
                "a group's first task is in it"
            );
            assert!(groups[..t.index()].iter().all(|&h| (h as usize) < g));
        }
        for (i, &g) in groups.iter().enumerate() {
            let first = firsts[g as usize];
            assert_eq!(
                plan.key(crate::TaskId(i as u32)).name(),
                plan.key(first).name(),
                "task {i} is in the group of its name"
            );
        }
        let count = |name: &str| {
            groups
                .iter()
                .filter(|&&g| plan.key(firsts[g as usize]).name().as_display() == name)
                .count()
        };
        assert_eq!((count("load"), count("inc"), count("add")), (2, 6, 1));
    }
}
