//! Lazy, typed task handles.
//!
//! [`delayed`] wraps a function and its arguments into a [`Delayed<T>`]
//! without running anything; handles passed as arguments become
//! dependencies. A `Delayed` is an `Arc` to an immutable node, so a delayed
//! graph is acyclic and complete by construction, cheap to clone, and can be
//! computed any number of times on any executor.

use std::marker::PhantomData;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::args::{Arg, Args, Fetch, TaskFn};
use crate::compute::{compute, Executor};
use crate::inputs::Inputs;
use crate::lower::lower_nodes;
use crate::node::{new_node, Data, Hinted, Hints, NodeRef, TaskBody, TaskFailure, Value};
use crate::plan::{Plan, PlanOptions};
use crate::remote::{gather_registration, Codec, Registered, Remote};
use crate::{Key, Result};

/// A lazy value of type `T`: a task and everything it depends on.
pub struct Delayed<T> {
    pub(crate) node: NodeRef,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed {
            node: self.node.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Delayed({})", self.node.key)
    }
}

impl<T: Data> Delayed<T> {
    pub(crate) fn from_node(node: NodeRef) -> Self {
        Delayed {
            node,
            _t: PhantomData,
        }
    }

    /// The task's key.
    pub fn key(&self) -> &Key {
        &self.node.key
    }

    /// A task with a hand-written body, for language bindings (the Python
    /// package) whose tasks are not Rust functions: `deps` are its inputs
    /// in order (see [`Delayed::node`]), which `body` reads with
    /// [`Inputs::take`]. `body` must return a `T` (a value of another type
    /// is refused where it is read, as a type mismatch, like any wrong
    /// input); its [`TaskBody::remote`] says how it runs in other processes.
    pub fn from_body<B: TaskBody>(
        key: Key,
        deps: impl IntoIterator<Item = NodeRef>,
        body: B,
    ) -> Self {
        Delayed::from_node(new_node(key, deps.into_iter().collect(), body))
    }

    /// The task's node: a dependency for [`Delayed::from_body`].
    pub fn node(&self) -> &NodeRef {
        &self.node
    }

    /// The same task, needing these named resources while it runs on a
    /// cluster (`&[("gpu", 1.0)]`): only workers that declared them run it,
    /// no more at once than they have. Ignored by in-process executors.
    pub fn resources(self, resources: &[(&str, f64)]) -> Self {
        self.hinted(|h| {
            h.resources
                .extend(resources.iter().map(|(r, q)| ((*r).to_owned(), *q)))
        })
    }

    /// The same task, restricted on a cluster to the workers with these
    /// names. Ignored by in-process executors.
    pub fn workers(self, names: &[&str]) -> Self {
        self.hinted(|h| h.workers.extend(names.iter().map(|n| (*n).to_owned())))
    }

    fn hinted(self, add: impl FnOnce(&mut Hints)) -> Self {
        let mut hints = self.node.body.hints().cloned().unwrap_or_default();
        add(&mut hints);
        // A node with the same key and inputs whose body runs this one's.
        Delayed::from_node(new_node(
            self.node.key.clone(),
            self.node.deps.clone(),
            Hinted {
                inner: self.node.clone(),
                hints,
            },
        ))
    }

    /// Runs the graph on `executor` and returns the value.
    pub fn compute<E: Executor + ?Sized>(&self, executor: &E) -> Result<T> {
        compute(executor, self)
    }

    /// The lowered plan (culled, ordered, fused) that `compute` would run.
    pub fn plan(&self, opts: PlanOptions) -> Result<Plan> {
        Ok(lower_nodes(std::slice::from_ref(&self.node), opts)?)
    }

    /// A new task applying `f` to this value.
    pub fn map<U: Data, F>(&self, f: F) -> Delayed<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        delayed(f, (self.clone(),))
    }
}

struct FnBody<F, S, M> {
    f: F,
    shape: S,
    _m: PhantomData<fn() -> M>,
}

/// Marks a body whose function returns its value directly.
struct Plain;
/// Marks a body whose function returns `Result<T, E>`.
struct Fallible<T, E>(PhantomData<fn() -> (T, E)>);

impl<F, S> TaskBody for FnBody<F, S, Plain>
where
    S: Fetch,
    F: TaskFn<S::Values>,
    F::Output: Data,
{
    #[inline]
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        let values = self.shape.fetch(inputs)?;
        Ok(Arc::new(self.f.call(values)))
    }
}

impl<F, S, T, E> TaskBody for FnBody<F, S, Fallible<T, E>>
where
    S: Fetch,
    F: TaskFn<S::Values, Output = std::result::Result<T, E>>,
    T: Data,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    #[inline]
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        let values = self.shape.fetch(inputs)?;
        match self.f.call(values) {
            Ok(v) => Ok(Arc::new(v)),
            Err(e) => Err(TaskFailure::from_error(e)),
        }
    }
}

fn build<F, A, M>(key: Key, f: F, args: A) -> NodeRef
where
    A: Args,
    FnBody<F, A::Shape, M>: TaskBody,
{
    build_with(key, f, args, None)
}

fn build_with<F, A, M>(key: Key, f: F, args: A, remote: Option<Remote>) -> NodeRef
where
    A: Args,
    FnBody<F, A::Shape, M>: TaskBody,
{
    let mut deps = SmallVec::new();
    let shape = args.push_deps(&mut deps);
    let body = FnBody {
        f,
        shape,
        _m: PhantomData,
    };
    match remote {
        None => new_node(key, deps, body),
        Some(remote) => new_node(key, deps, RemoteBody { body, remote }),
    }
}

/// A body that can also run in another process.
struct RemoteBody<B> {
    body: B,
    remote: Remote,
}

impl<B: TaskBody> TaskBody for RemoteBody<B> {
    #[inline]
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        self.body.run(inputs)
    }

    fn remote(&self) -> Option<Remote> {
        Some(self.remote)
    }
}

/// A call of a registered function (what `f::delayed(..)` of a
/// `#[rask::task]` function makes): runs `f` in-process, or `reg` by name in
/// a worker process.
#[doc(hidden)]
pub fn registered_call<F, A>(reg: &'static Registered, f: F, args: A) -> Delayed<F::Output>
where
    A: Args,
    F: TaskFn<A::Values>,
    F::Output: Data,
{
    Delayed::from_node(build_with::<F, A, Plain>(
        Key::anonymous(reg.name),
        f,
        args,
        Some(Remote::Call(reg)),
    ))
}

/// As [`registered_call`], for a function that returns `Result<T, E>`.
#[doc(hidden)]
pub fn registered_try_call<F, A, T, E>(reg: &'static Registered, f: F, args: A) -> Delayed<T>
where
    A: Args,
    F: TaskFn<A::Values, Output = std::result::Result<T, E>>,
    T: Data,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    Delayed::from_node(build_with::<F, A, Fallible<T, E>>(
        Key::anonymous(reg.name),
        f,
        args,
        Some(Remote::Call(reg)),
    ))
}

/// A constant that can be sent to another process (its encoding).
#[doc(hidden)]
pub fn literal<T: Data>(v: T, codec: &'static Codec) -> Delayed<T> {
    constant(v, Some(Remote::Literal(codec)))
}

/// A node whose value is `v`, shared rather than copied: running it hands
/// out the same `Arc` (a consumer that needs its own `T` clones it then, as
/// for any result with other holders), and a process executor encodes it
/// from there.
fn constant<T: Data>(v: T, remote: Option<Remote>) -> Delayed<T> {
    Delayed::from_node(new_node(
        Key::anonymous("value"),
        SmallVec::new(),
        ConstBody {
            value: Arc::new(v),
            remote,
        },
    ))
}

struct ConstBody {
    value: Value,
    remote: Option<Remote>,
}

impl TaskBody for ConstBody {
    fn run(&self, _: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        Ok(self.value.clone())
    }

    fn remote(&self) -> Option<Remote> {
        self.remote
    }

    fn constant(&self) -> Option<&Value> {
        Some(&self.value)
    }
}

/// An argument of a registered function's `delayed`: a value, or a
/// `Delayed` of that type (owned or borrowed).
pub trait IntoInput<T> {
    /// The argument as a graph node (`codec` encodes a constant).
    fn into_input(self, codec: &'static Codec) -> Delayed<T>;
}

impl<T: Data> IntoInput<T> for T {
    fn into_input(self, codec: &'static Codec) -> Delayed<T> {
        literal(self, codec)
    }
}

impl<T: Data> IntoInput<T> for Delayed<T> {
    fn into_input(self, _: &'static Codec) -> Delayed<T> {
        self
    }
}

impl<T: Data> IntoInput<T> for &Delayed<T> {
    fn into_input(self, _: &'static Codec) -> Delayed<T> {
        self.clone()
    }
}

/// A list of delayed values as one delayed `Vec` that registered functions
/// can take: `codec` is the `Vec<T>`'s (see [`GATHER`](crate::remote::GATHER)).
fn gather<T: Data, A: Arg<Value = Vec<T>>>(items: A, codec: &'static Codec) -> Delayed<Vec<T>> {
    Delayed::from_node(build_with::<_, (A,), Plain>(
        Key::anonymous("gather"),
        |v: Vec<T>| v,
        (items,),
        Some(Remote::Call(gather_registration(codec))),
    ))
}

impl<T: Data> IntoInput<Vec<T>> for Vec<Delayed<T>> {
    fn into_input(self, codec: &'static Codec) -> Delayed<Vec<T>> {
        gather(self, codec)
    }
}

impl<T: Data> IntoInput<Vec<T>> for &[Delayed<T>] {
    fn into_input(self, codec: &'static Codec) -> Delayed<Vec<T>> {
        gather(self, codec)
    }
}

impl<T: Data> IntoInput<Vec<T>> for &Vec<Delayed<T>> {
    fn into_input(self, codec: &'static Codec) -> Delayed<Vec<T>> {
        gather(self.as_slice(), codec)
    }
}

/// A lazy call of `f` on `args` (`()` or a tuple of [`Arg`](crate::Arg)s).
///
/// ```
/// # use rask_core::{delayed, SyncExecutor};
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// let one = delayed(|| 1u64, ());
/// let two = delayed(add, (&one, &one));
/// assert_eq!(two.compute(&SyncExecutor::new()).unwrap(), 2);
/// ```
pub fn delayed<F, A>(f: F, args: A) -> Delayed<F::Output>
where
    A: Args,
    F: TaskFn<A::Values>,
    F::Output: Data,
{
    Delayed::from_node(build::<F, A, Plain>(
        Key::anonymous(std::any::type_name::<F>()),
        f,
        args,
    ))
}

/// Like [`delayed`], for a function that returns `Result<T, E>`: an `Err`
/// becomes a [`TaskError`](crate::TaskError) of kind `Failed`.
pub fn try_delayed<F, A, T, E>(f: F, args: A) -> Delayed<T>
where
    A: Args,
    F: TaskFn<A::Values, Output = std::result::Result<T, E>>,
    T: Data,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    Delayed::from_node(build::<F, A, Fallible<T, E>>(
        Key::anonymous(std::any::type_name::<F>()),
        f,
        args,
    ))
}

/// A delayed constant.
pub fn value<T: Data>(v: T) -> Delayed<T> {
    constant(v, None)
}

/// Starts a task with a chosen key: `task(("load", 3)).delayed(load, ())`.
/// Keys chosen this way must be unique within a graph.
pub fn task(key: impl Into<Key>) -> TaskBuilder {
    TaskBuilder { key: key.into() }
}

/// A task with a chosen key, waiting for its function; see [`task`].
#[derive(Debug)]
pub struct TaskBuilder {
    key: Key,
}

impl TaskBuilder {
    /// As [`delayed`], with this key.
    pub fn delayed<F, A>(self, f: F, args: A) -> Delayed<F::Output>
    where
        A: Args,
        F: TaskFn<A::Values>,
        F::Output: Data,
    {
        Delayed::from_node(build::<F, A, Plain>(self.key, f, args))
    }

    /// As [`try_delayed`], with this key.
    pub fn try_delayed<F, A, T, E>(self, f: F, args: A) -> Delayed<T>
    where
        A: Args,
        F: TaskFn<A::Values, Output = std::result::Result<T, E>>,
        T: Data,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        Delayed::from_node(build::<F, A, Fallible<T, E>>(self.key, f, args))
    }
}
