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
use crate::node::{new_node, Data, Hinted, NodeRef, TaskBody, TaskFailure, Value};
use crate::options::{RetryOn, TaskOptions};
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

    /// The same task, run again up to `n` more times if it fails (see
    /// [`TaskOptions`] for where each option applies).
    pub fn retries(self, n: u32) -> Self {
        self.hinted(|h| h.retries = n)
    }

    /// The same task, retrying only these kinds of failure.
    pub fn retry_on(self, kinds: RetryOn) -> Self {
        self.hinted(|h| h.retry_on = kinds)
    }

    /// The same task, retrying only failures `pred` accepts (in-process
    /// executors; processes and clusters refuse it, see [`TaskOptions`]).
    pub fn retry_if(
        self,
        pred: impl Fn(&crate::TaskError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.hinted(|h| h.retry_if = Some(Arc::new(pred)))
    }

    /// The same task, an attempt of which fails with `TimedOut` after `t`.
    pub fn timeout(self, t: std::time::Duration) -> Self {
        self.hinted(|h| h.timeout = Some(t))
    }

    /// The same task with priority `p` (higher runs first; default 0).
    pub fn priority(self, p: i32) -> Self {
        self.hinted(|h| h.priority = p)
    }

    /// The same task, never served from or stored into a result cache, nor
    /// anything that depends on it: for impure tasks (see
    /// [`ResultCache`](crate::ResultCache)).
    pub fn uncached(self) -> Self {
        self.hinted(|h| h.uncached = true)
    }

    /// The same task with these options (replacing any it had).
    pub fn with_options(self, opts: TaskOptions) -> Self {
        self.hinted(|h| *h = opts)
    }

    fn hinted(self, add: impl FnOnce(&mut TaskOptions)) -> Self {
        let mut hints = self.node.body.options().cloned().unwrap_or_default();
        add(&mut hints);
        Delayed::from_node(with_options(self.node, hints))
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

impl<T> Delayed<Vec<T>>
where
    T: Data + serde::Serialize + serde::de::DeserializeOwned,
{
    /// The first `n` items of this vector as `n` tasks (a multi-output
    /// task). In-process each part reads its item from the shared vector;
    /// on worker processes and clusters the worker that makes the vector
    /// keeps each item apart (when the vector is the result of a function
    /// registered with `#[rask::task]`), so a dependent fetches only its
    /// own item, never the whole vector. A part past the vector's end fails.
    pub fn split(&self, n: usize) -> Vec<Delayed<T>> {
        let codec = crate::remote::codec_of_type::<T>();
        (0..n as u32)
            .map(|index| {
                let mut deps = SmallVec::new();
                deps.push(self.node.clone());
                Delayed::from_node(new_node(
                    Key::anonymous("part"),
                    deps,
                    PartBody::<T> {
                        index,
                        codec,
                        _t: PhantomData,
                    },
                ))
            })
            .collect()
    }
}

/// Item `index` of its dependency's vector (see `Delayed::split`).
struct PartBody<T> {
    index: u32,
    codec: &'static Codec,
    _t: PhantomData<fn() -> T>,
}

impl<T: Data> TaskBody for PartBody<T> {
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        let v = inputs.take_shared::<Vec<T>>()?;
        let item = match Arc::try_unwrap(v) {
            // The last reader of the vector: its item is moved out.
            Ok(mut owned) if (self.index as usize) < owned.len() => {
                owned.swap_remove(self.index as usize)
            }
            Ok(owned) => return Err(too_short(self.index, owned.len())),
            Err(shared) => shared
                .get(self.index as usize)
                .cloned()
                .ok_or_else(|| too_short(self.index, shared.len()))?,
        };
        Ok(Arc::new(item))
    }

    fn remote(&self) -> Option<Remote> {
        Some(Remote::Part {
            index: self.index,
            codec: self.codec,
        })
    }
}

fn too_short(index: u32, len: usize) -> TaskFailure {
    TaskFailure::msg(format!(
        "part {index} of a vector of {len} items (split asked for more parts than it has)"
    ))
}

/// A node with the same key and inputs as `node` whose body runs `node`'s,
/// with `opts`.
fn with_options(node: NodeRef, opts: TaskOptions) -> NodeRef {
    new_node(
        node.key.clone(),
        node.deps.clone(),
        Hinted {
            inner: node,
            hints: opts,
        },
    )
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

/// A constant's body: hands out its value (also a result-cache hit's, `cache/plan.rs`).
pub(crate) struct ConstBody {
    pub(crate) value: Value,
    pub(crate) remote: Option<Remote>,
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

/// A node whose value comes from outside the graph (a future: see
/// [`External`](crate::External)), with key `key`.
pub fn external<T: Data>(key: Key, ext: Arc<dyn crate::External>) -> Delayed<T> {
    Delayed::from_node(new_node(key, SmallVec::new(), ExternalBody { ext }))
}

struct ExternalBody {
    ext: Arc<dyn crate::External>,
}

impl TaskBody for ExternalBody {
    fn run(&self, _: &mut Inputs<'_>) -> Result<Value, TaskFailure> {
        self.ext
            .value()
            .map_err(|e| TaskFailure::Error(e.to_string()))
    }

    fn external(&self) -> Option<&dyn crate::External> {
        Some(&*self.ext)
    }
}

/// Starts a task with a chosen key: `task(("load", 3)).delayed(load, ())`.
/// Keys chosen this way must be unique within a graph. Options go between:
/// `task("fetch").retries(3).timeout(d).delayed(fetch, (url,))`.
pub fn task(key: impl Into<Key>) -> TaskBuilder {
    TaskBuilder {
        key: key.into(),
        opts: None,
    }
}

/// A task with a chosen key and options, waiting for its function; see
/// [`task`].
#[derive(Debug)]
pub struct TaskBuilder {
    key: Key,
    opts: Option<TaskOptions>,
}

impl TaskBuilder {
    fn opts(&mut self) -> &mut TaskOptions {
        self.opts.get_or_insert_with(TaskOptions::default)
    }

    /// Runs the task again up to `n` more times if it fails.
    pub fn retries(mut self, n: u32) -> Self {
        self.opts().retries = n;
        self
    }

    /// Retries only these kinds of failure.
    pub fn retry_on(mut self, kinds: RetryOn) -> Self {
        self.opts().retry_on = kinds;
        self
    }

    /// Retries only failures `pred` accepts (in-process executors only).
    pub fn retry_if(
        mut self,
        pred: impl Fn(&crate::TaskError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.opts().retry_if = Some(Arc::new(pred));
        self
    }

    /// Fails an attempt that runs longer than `t`.
    pub fn timeout(mut self, t: std::time::Duration) -> Self {
        self.opts().timeout = Some(t);
        self
    }

    /// Higher priorities run first (default 0).
    pub fn priority(mut self, p: i32) -> Self {
        self.opts().priority = p;
        self
    }

    /// Never cached, nor anything downstream (an impure task).
    pub fn uncached(mut self) -> Self {
        self.opts().uncached = true;
        self
    }

    /// Named resources it holds while it runs on a cluster.
    pub fn resources(mut self, resources: &[(&str, f64)]) -> Self {
        self.opts()
            .resources
            .extend(resources.iter().map(|(r, q)| ((*r).to_owned(), *q)));
        self
    }

    /// Only cluster workers with these names run it.
    pub fn workers(mut self, names: &[&str]) -> Self {
        self.opts()
            .workers
            .extend(names.iter().map(|n| (*n).to_owned()));
        self
    }

    fn finish(self, node: NodeRef) -> NodeRef {
        match self.opts {
            Some(o) => with_options(node, o),
            None => node,
        }
    }

    /// As [`delayed`], with this key and options.
    pub fn delayed<F, A>(self, f: F, args: A) -> Delayed<F::Output>
    where
        A: Args,
        F: TaskFn<A::Values>,
        F::Output: Data,
    {
        let key = self.key.clone();
        Delayed::from_node(self.finish(build::<F, A, Plain>(key, f, args)))
    }

    /// As [`try_delayed`], with this key and options.
    pub fn try_delayed<F, A, T, E>(self, f: F, args: A) -> Delayed<T>
    where
        A: Args,
        F: TaskFn<A::Values, Output = std::result::Result<T, E>>,
        T: Data,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let key = self.key.clone();
        Delayed::from_node(self.finish(build::<F, A, Fallible<T, E>>(key, f, args)))
    }
}
