//! Graph nodes: a key, the dependencies and the task's body, in one allocation.
//!
//! A node is immutable once made, except for `mark`, which only the lowering
//! pass touches while it holds the global lowering lock (see `lower.rs`).
//! Nodes made by [`delayed`](crate::delayed) hold their dependencies as
//! `NodeRef`s, so a delayed graph can never contain a cycle or a missing
//! dependency; nodes of a keyed [`Graph`](crate::Graph) hold none and name
//! their dependencies by key instead.
//!
//! Dropping never recurses along the graph: a chain of a million nodes is
//! freed by the last handle to its tip. `NodeInner`'s `Drop` moves the
//! dependencies of every node it is the last owner of onto a work list
//! (and, through [`TaskBody::take_nodes`], the nodes a body holds), so each
//! node is freed with no dependencies left to drop. A dependency someone
//! else still holds is only decremented; if that other holder lets go at the
//! same moment, its own `Drop` takes over the walk from there.

use std::any::Any;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use smallvec::SmallVec;

use crate::inputs::Inputs;
use crate::options::TaskOptions;
use crate::remote::Remote;
use crate::Key;

/// A task's result, type-erased and shared between its consumers.
pub type Value = Arc<dyn Any + Send + Sync>;

/// Values that tasks can take and return: cloned only when a result has more
/// than one consumer left, moved otherwise.
pub trait Data: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Data for T {}

/// Why a task body did not produce a value (before it is given a key).
#[derive(Debug)]
pub enum TaskFailure {
    /// The body returned an error; the text includes the `source()` chain.
    Error(String),
    /// An input had the wrong type.
    TypeMismatch {
        /// Position of the input among the task's dependencies.
        position: usize,
        /// The type asked for.
        expected: &'static str,
    },
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskFailure {
    fn from(e: E) -> Self {
        TaskFailure::from_error(e)
    }
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskFailure::Error(m) => f.write_str(m),
            TaskFailure::TypeMismatch { position, expected } => {
                write!(f, "input {} is not a `{expected}`", position + 1)
            }
        }
    }
}

impl TaskFailure {
    /// A failure with this message.
    pub fn msg(m: impl std::fmt::Display) -> Self {
        TaskFailure::Error(m.to_string())
    }

    /// Turns any error into a failure, keeping its `source()` chain in the text.
    pub fn from_error<E>(e: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let e: Box<dyn std::error::Error + Send + Sync> = e.into();
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        TaskFailure::Error(msg)
    }
}

/// The code of one task: reads its inputs, returns its value.
pub trait TaskBody: Send + Sync + 'static {
    /// Runs the task. `inputs` yields the dependencies' values in order.
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure>;

    /// How the task runs in another process; `None` (a closure, an
    /// unregistered function) means in-process only.
    fn remote(&self) -> Option<Remote> {
        None
    }

    /// The value of a constant (`value`, or a literal argument), which an
    /// executor may read without running the task.
    fn constant(&self) -> Option<&Value> {
        None
    }

    /// The task's options (retries, timeout, priority, placement), where
    /// any differs from the defaults.
    fn options(&self) -> Option<&TaskOptions> {
        None
    }

    /// Where the value comes from, if from outside the graph (a future).
    fn external(&self) -> Option<&dyn crate::External> {
        None
    }

    /// Moves out the graph nodes the body holds besides the node's
    /// dependencies (a wrapper's inner node), so that dropping a deep graph
    /// walks them instead of recursing (see the module docs). Called only
    /// while the node is being dropped: the body never runs again.
    #[doc(hidden)]
    fn take_nodes(&mut self, _out: &mut Vec<NodeRef>) {}
}

/// A node's body with options added (`Delayed::retries`, `task(..).timeout(..)`).
pub(crate) struct Hinted {
    pub(crate) inner: NodeRef,
    pub(crate) hints: TaskOptions,
}

impl TaskBody for Hinted {
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        self.inner.body.run(inputs)
    }
    fn remote(&self) -> Option<Remote> {
        self.inner.body.remote()
    }
    fn constant(&self) -> Option<&Value> {
        self.inner.body.constant()
    }
    fn options(&self) -> Option<&TaskOptions> {
        Some(&self.hints)
    }
    fn external(&self) -> Option<&dyn crate::External> {
        self.inner.body.external()
    }

    fn take_nodes(&mut self, out: &mut Vec<NodeRef>) {
        out.push(std::mem::replace(&mut self.inner, released_node()));
    }
}

/// The body left in a wrapper whose inner node was taken while dropping.
struct Released;

impl TaskBody for Released {
    fn run(&self, _: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        Err(TaskFailure::msg(
            "internal error: a released node ran (a bug in rask)",
        ))
    }
}

/// One shared node that stands in for nodes taken out while dropping.
pub(crate) fn released_node() -> NodeRef {
    static RELEASED: OnceLock<NodeRef> = OnceLock::new();
    RELEASED
        .get_or_init(|| new_node(Key::new("released"), SmallVec::new(), Released))
        .clone()
}

/// The dependencies of a delayed node; most tasks have two or fewer.
pub(crate) type Deps = SmallVec<[NodeRef; 2]>;

/// One node of a graph; `B` is unsized (`dyn TaskBody`) once made.
///
/// Field order is fixed (`repr(C)`): what an executor reads per task (the
/// flags, then the key, which task events carry) is contiguous and next to
/// the body, so that a recorded task touches the cache lines its run
/// touches anyway; what only lowering reads comes first.
#[repr(C)]
pub struct NodeInner<B: ?Sized> {
    pub(crate) deps: Deps,
    /// Lowering scratch: `(epoch << 32) | id`; see `lower.rs`.
    pub(crate) mark: AtomicU64,
    /// Its priority (its options', kept here so that lowering reads it
    /// without a call).
    pub(crate) priority: i32,
    /// Running it involves retries or a timeout (its options say how).
    pub(crate) retried: bool,
    /// Its body is a constant (`TaskBody::constant`), kept here so that an
    /// executor asks without a call.
    pub(crate) constant: bool,
    pub(crate) key: Key,
    pub(crate) body: B,
}

/// A shared reference to a node.
pub type NodeRef = Arc<NodeInner<dyn TaskBody>>;

impl NodeInner<dyn TaskBody> {
    /// The node's key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The node's body.
    pub fn body(&self) -> &dyn TaskBody {
        &self.body
    }
}

impl std::fmt::Debug for NodeInner<dyn TaskBody> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("key", &self.key)
            .field("deps", &self.deps.len())
            .finish()
    }
}

impl<B: ?Sized> Drop for NodeInner<B> {
    /// Frees the sub-graph only this node holds without recursing (see the
    /// module docs). Costs nothing more than the decrements when every
    /// dependency is shared, as in a plan that holds every node.
    fn drop(&mut self) {
        let mut work: Vec<NodeRef> = Vec::new();
        for dep in self.deps.drain(..) {
            unlink(dep, &mut work);
        }
        while let Some(node) = work.pop() {
            unlink(node, &mut work);
        }
    }
}

/// Drops `node` after moving what it holds onto `work`, if this is the last
/// reference to it (so its own drop has nothing left to recurse into).
#[inline]
fn unlink(mut node: NodeRef, work: &mut Vec<NodeRef>) {
    if let Some(inner) = Arc::get_mut(&mut node) {
        work.extend(inner.deps.drain(..));
        inner.body.take_nodes(work);
    }
}

pub(crate) fn new_node<B: TaskBody>(key: Key, deps: Deps, body: B) -> NodeRef {
    let (priority, retried) = body
        .options()
        .map_or((0, false), |o| (o.priority, o.changes_running()));
    if priority != 0 {
        crate::lower::note_priority();
    }
    let constant = body.constant().is_some();
    Arc::new(NodeInner {
        key,
        deps,
        mark: AtomicU64::new(0),
        priority,
        retried,
        constant,
        body,
    })
}
