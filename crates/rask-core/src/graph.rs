//! The keyed graph: tasks named by [`Key`] that name their dependencies by key,
//! like a Dask graph dictionary.
//!
//! Unlike [`delayed`](crate::delayed) graphs, a keyed graph can be wrong: two
//! tasks may share a key, a task may name a key that is not there, the
//! dependencies may form a cycle. [`Graph::plan`] and [`Graph::validate`]
//! refuse such graphs with a [`GraphError`] naming the keys, before anything
//! runs.

use std::collections::HashMap;

use smallvec::SmallVec;

use crate::compute::{run_plan, Executor};
use crate::error::GraphError;
use crate::inputs::Inputs;
use crate::node::{new_node, Data, NodeRef, TaskBody, TaskFailure, Value};
use crate::plan::{Plan, PlanBuilder, PlanOptions};
use crate::{Key, TaskId};

struct KeyedTask {
    node: NodeRef,
    deps: Vec<Key>,
}

/// A graph of tasks named by keys.
#[derive(Default)]
pub struct Graph {
    tasks: Vec<KeyedTask>,
    index: HashMap<Key, u32>,
    duplicate: Option<Key>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

struct KeyedBody<F>(F);

impl<F, R, E> TaskBody for KeyedBody<F>
where
    F: Fn(&mut Inputs<'_>) -> Result<R, E> + Send + Sync + 'static,
    R: Data,
    E: Into<TaskFailure>,
{
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        match (self.0)(inputs) {
            Ok(v) => Ok(std::sync::Arc::new(v)),
            Err(e) => Err(e.into()),
        }
    }
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a task. `f` reads its inputs with [`Inputs::take`], in the order
    /// of `deps`, and may fail with any error (`?` converts
    /// `std::error::Error`s and input errors into a [`TaskFailure`]). A
    /// duplicate key is remembered and refused at validation.
    pub fn insert<K, D, F, R, E>(&mut self, key: K, deps: D, f: F)
    where
        K: Into<Key>,
        D: IntoIterator,
        D::Item: Into<Key>,
        F: Fn(&mut Inputs<'_>) -> Result<R, E> + Send + Sync + 'static,
        R: Data,
        E: Into<TaskFailure>,
    {
        let key = key.into();
        let id = self.tasks.len() as u32;
        if self.index.insert(key.clone(), id).is_some() && self.duplicate.is_none() {
            self.duplicate = Some(key.clone());
        }
        let node = new_node(key, SmallVec::new(), KeyedBody(f));
        self.tasks.push(KeyedTask {
            node,
            deps: deps.into_iter().map(Into::into).collect(),
        });
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Checks the whole graph: duplicate keys, missing dependencies, cycles.
    pub fn validate(&self) -> Result<(), GraphError> {
        let deps = self.resolve()?;
        let all: Vec<u32> = (0..self.tasks.len() as u32).collect();
        post_order(&deps, &all, |i| self.tasks[i as usize].node.key.clone()).map(|_| ())
    }

    /// Validates the graph and lowers what `outputs` need into a [`Plan`]
    /// (culled, ordered, fused).
    pub fn plan(&self, outputs: &[Key], opts: PlanOptions) -> Result<Plan, GraphError> {
        let deps = self.resolve()?;
        let mut starts = Vec::with_capacity(outputs.len());
        for k in outputs {
            match self.index.get(k) {
                Some(&i) => starts.push(i),
                None => return Err(GraphError::UnknownOutput { key: k.clone() }),
            }
        }
        let key_of = |i: u32| self.tasks[i as usize].node.key.clone();
        let order = post_order(&deps, &starts, key_of)?;
        let mut new_id = vec![u32::MAX; self.tasks.len()];
        let mut b = PlanBuilder::with_capacity(order.len());
        for &old in &order {
            let ds = deps[old as usize]
                .iter()
                .map(|&d| TaskId(new_id[d as usize]));
            let id = b.push(self.tasks[old as usize].node.clone(), ds);
            new_id[old as usize] = id.0;
        }
        let outs = starts.iter().map(|&s| TaskId(new_id[s as usize])).collect();
        b.finish(outs, opts)
    }

    /// Runs what `output` needs on `executor` and returns its value.
    pub fn compute<T: Data, X: Executor + ?Sized>(
        &self,
        executor: &X,
        output: impl Into<Key>,
    ) -> crate::Result<T> {
        let plan = self.plan(&[output.into()], executor.plan_options())?;
        run_plan(executor, plan, |r| r.take())
    }

    /// Runs what `outputs` need and returns their values in order (the first
    /// error in output order if any failed).
    pub fn compute_many<T: Data, X: Executor + ?Sized>(
        &self,
        executor: &X,
        outputs: &[Key],
    ) -> crate::Result<Vec<T>> {
        let plan = self.plan(outputs, executor.plan_options())?;
        run_plan(executor, plan, |r| {
            let all: Vec<_> = outputs.iter().map(|_| r.take()).collect();
            all.into_iter().collect()
        })
    }

    /// Dependencies as indices; refuses duplicate keys and missing dependencies.
    fn resolve(&self) -> Result<Vec<SmallVec<[u32; 4]>>, GraphError> {
        if let Some(key) = &self.duplicate {
            return Err(GraphError::DuplicateKey { key: key.clone() });
        }
        self.tasks
            .iter()
            .map(|t| {
                t.deps
                    .iter()
                    .map(|d| {
                        self.index
                            .get(d)
                            .copied()
                            .ok_or_else(|| GraphError::MissingDependency {
                                task: t.node.key.clone(),
                                dependency: d.clone(),
                            })
                    })
                    .collect()
            })
            .collect()
    }
}

/// Depth-first post-order from `starts`; refuses cycles, naming the keys on it.
fn post_order(
    deps: &[SmallVec<[u32; 4]>],
    starts: &[u32],
    key_of: impl Fn(u32) -> Key,
) -> Result<Vec<u32>, GraphError> {
    const WHITE: u8 = 0;
    const GRAY: u8 = 1;
    let mut color = vec![WHITE; deps.len()];
    let mut order = Vec::new();
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for &s in starts {
        if color[s as usize] != WHITE {
            continue;
        }
        color[s as usize] = GRAY;
        stack.push((s, 0));
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&w) = deps[v as usize].get(*next) {
                *next += 1;
                match color[w as usize] {
                    WHITE => {
                        color[w as usize] = GRAY;
                        stack.push((w, 0));
                    }
                    GRAY => {
                        let pos = stack.iter().position(|&(u, _)| u == w).unwrap_or(0);
                        let keys = stack[pos..].iter().map(|&(u, _)| key_of(u)).collect();
                        return Err(GraphError::Cycle { keys });
                    }
                    _ => {}
                }
            } else {
                color[v as usize] = 2;
                order.push(v);
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &mut Inputs<'_>) -> Result<u64, TaskFailure> {
        Ok(1)
    }

    #[test]
    fn cycle_names_its_keys_in_order() {
        let mut g = Graph::new();
        g.insert("a", ["b"], ok);
        g.insert("b", ["c"], ok);
        g.insert("c", ["a"], ok);
        g.insert("d", Vec::<Key>::new(), ok);
        let e = g.plan(&["a".into()], PlanOptions::default()).unwrap_err();
        assert_eq!(
            e,
            GraphError::Cycle {
                keys: vec!["a".into(), "b".into(), "c".into()]
            }
        );
        assert_eq!(
            e.to_string(),
            "the graph has a cycle: `a` -> `b` -> `c` -> `a`"
        );
        assert!(matches!(g.validate(), Err(GraphError::Cycle { .. })));
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let mut g = Graph::new();
        g.insert(("x", 1u64), [("x", 1u64)], ok);
        let e = g.validate().unwrap_err();
        assert_eq!(
            e,
            GraphError::Cycle {
                keys: vec![("x", 1u64).into()]
            }
        );
    }

    #[test]
    fn missing_and_duplicate_and_unknown() {
        let mut g = Graph::new();
        g.insert("a", ["nope"], ok);
        assert_eq!(
            g.validate().unwrap_err(),
            GraphError::MissingDependency {
                task: "a".into(),
                dependency: "nope".into()
            }
        );
        let mut g = Graph::new();
        g.insert("a", Vec::<Key>::new(), ok);
        g.insert("a", Vec::<Key>::new(), ok);
        assert_eq!(
            g.validate().unwrap_err(),
            GraphError::DuplicateKey { key: "a".into() }
        );
        let mut g = Graph::new();
        g.insert("a", Vec::<Key>::new(), ok);
        assert_eq!(
            g.plan(&["zz".into()], PlanOptions::default()).unwrap_err(),
            GraphError::UnknownOutput { key: "zz".into() }
        );
    }

    #[test]
    fn plan_culls_orders_and_fuses() {
        let mut g = Graph::new();
        g.insert("unused", Vec::<Key>::new(), ok);
        g.insert("l1", Vec::<Key>::new(), ok);
        g.insert("l2", Vec::<Key>::new(), ok);
        g.insert("s1", ["l1"], ok);
        g.insert("s2", ["s1"], ok);
        g.insert("top", ["s2", "l2"], ok);
        let p = g.plan(&["top".into()], PlanOptions::default()).unwrap();
        let keys: Vec<String> = (0..p.len())
            .map(|i| p.key(TaskId(i as u32)).to_string())
            .collect();
        assert_eq!(keys, ["l1", "s1", "s2", "l2", "top"]);
        assert!(p.is_fused_into_next(TaskId(0)) && p.is_fused_into_next(TaskId(1)));
        assert!(!p.is_fused_into_next(TaskId(2)));
        assert_eq!(p.units(), 3);
        assert_eq!(p.roots(), &[TaskId(0), TaskId(3)]);
        let p = g
            .plan(&["top".into()], PlanOptions { fuse: false })
            .unwrap();
        assert_eq!(p.units(), 5);
    }
}
