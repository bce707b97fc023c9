//! Running graphs: the [`Executor`] trait, requested [`Outputs`], [`compute`],
//! and the synchronous executor.

use std::sync::Arc;

use crate::delayed::Delayed;
use crate::event::EventSink;
use crate::lower::lower_nodes;
use crate::node::{Data, NodeRef, Value};
use crate::plan::PlanOptions;
use crate::run::{unwrap_value, Run};
use crate::{Error, Result, ResultCache, TaskId, WorkerId};

/// Something that runs a [`Run`] to completion.
pub trait Executor {
    /// A short name for events (`"sync"`, `"threads"`).
    fn name(&self) -> &'static str;
    /// How many tasks it can run at once.
    fn workers(&self) -> usize;
    /// Who listens to this executor's events.
    fn events(&self) -> Option<&EventSink> {
        None
    }
    /// Lowering options.
    fn plan_options(&self) -> PlanOptions {
        PlanOptions::default()
    }
    /// The result cache its runs use, if any (see [`ResultCache`]).
    fn cache(&self) -> Option<&ResultCache> {
        None
    }
    /// Executes every task of `run`; returns once `run.is_complete()`.
    fn execute(&self, run: &Arc<Run>);
}

impl<E: Executor + ?Sized> Executor for &E {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn workers(&self) -> usize {
        (**self).workers()
    }
    fn events(&self) -> Option<&EventSink> {
        (**self).events()
    }
    fn plan_options(&self) -> PlanOptions {
        (**self).plan_options()
    }
    fn cache(&self) -> Option<&ResultCache> {
        (**self).cache()
    }
    fn execute(&self, run: &Arc<Run>) {
        (**self).execute(run)
    }
}

/// Something that starts a graph now and hands back a handle to its result
/// (a client and its futures). `#[rask::task]`'s `f::submit(&client, ..)`
/// is written against it, so crates that register functions need no client.
pub trait Submit {
    /// The handle to a result of type `T`.
    type Handle<T: Data>;
    /// Starts computing `d` now.
    fn submit_delayed<T: Data>(&self, d: Delayed<T>) -> Self::Handle<T>;
}

/// Runs on the calling thread, one task at a time, in the plan's priority
/// order: deterministic, for debugging and as the reference answer.
#[derive(Clone, Debug, Default)]
pub struct SyncExecutor {
    events: Option<EventSink>,
    cache: Option<ResultCache>,
}

impl SyncExecutor {
    /// A synchronous executor with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }
    /// A synchronous executor that sends events to `events`.
    pub fn with_events(events: EventSink) -> Self {
        SyncExecutor {
            events: Some(events),
            cache: None,
        }
    }
    /// The same executor, reusing results through `cache`.
    pub fn with_cache(mut self, cache: ResultCache) -> Self {
        self.cache = Some(cache);
        self
    }
}

impl Executor for SyncExecutor {
    fn name(&self) -> &'static str {
        "sync"
    }
    fn workers(&self) -> usize {
        1
    }
    fn events(&self) -> Option<&EventSink> {
        self.events.as_ref()
    }
    fn cache(&self) -> Option<&ResultCache> {
        self.cache.as_ref()
    }
    fn execute(&self, run: &Arc<Run>) {
        let plan = run.plan();
        let prev = crate::set_thread_context(Some(crate::TaskContext {
            worker: "sync".into(),
            thread: 0,
            attempt: 1,
        }));
        for t in 0..plan.len() as u32 {
            if plan.is_head(TaskId(t)) {
                // SAFETY: heads in ascending id order, each once: ids are a
                // topological order (plan invariant 1), so every dependency
                // has resolved before its dependent runs.
                unsafe { run.execute(TaskId(t), WorkerId(0), |_| {}) };
            }
        }
        crate::set_thread_context(prev);
    }
}

/// Reads outputs back from a completed run, in request order.
#[derive(Debug)]
pub struct OutputReader<'a> {
    run: &'a Run,
    next: usize,
}

impl<'a> OutputReader<'a> {
    /// Made once per run by [`Run::output_reader`].
    pub(crate) fn new(run: &'a Run) -> Self {
        OutputReader { run, next: 0 }
    }

    /// The next output's value as it is (not downcast).
    pub fn take_value(&mut self) -> Result<Value> {
        let Some(&t) = self.run.plan().outputs().get(self.next) else {
            return Err(Error::Executor(
                "more outputs were read than were requested".to_owned(),
            ));
        };
        self.next += 1;
        self.run.take_output(t).map_err(Error::Task)
    }

    pub(crate) fn take<T: Data>(&mut self) -> Result<T> {
        let Some(&t) = self.run.plan().outputs().get(self.next) else {
            return Err(Error::Executor(
                "more outputs were read than were requested".to_owned(),
            ));
        };
        self.next += 1;
        let v = self.run.take_output(t).map_err(Error::Task)?;
        unwrap_value(v).map_err(|_| Error::OutputType {
            key: self.run.plan().key(t).clone(),
            expected: std::any::type_name::<T>(),
        })
    }
}

/// What `compute` can return: a `Delayed<T>`, a slice or `Vec` of them, or a
/// tuple of up to eight outputs. Sub-graphs they share are computed once.
pub trait Outputs {
    /// The computed values.
    type Values;
    /// Appends the output nodes in order.
    fn nodes(&self, out: &mut Vec<NodeRef>);
    /// Reads the values back in the same order.
    fn read(&self, r: &mut OutputReader<'_>) -> Result<Self::Values>;
}

impl<T: Data> Outputs for Delayed<T> {
    type Values = T;
    fn nodes(&self, out: &mut Vec<NodeRef>) {
        out.push(self.node.clone());
    }
    fn read(&self, r: &mut OutputReader<'_>) -> Result<T> {
        r.take()
    }
}

impl<O: Outputs + ?Sized> Outputs for &O {
    type Values = O::Values;
    fn nodes(&self, out: &mut Vec<NodeRef>) {
        (**self).nodes(out)
    }
    fn read(&self, r: &mut OutputReader<'_>) -> Result<O::Values> {
        (**self).read(r)
    }
}

impl<T: Data> Outputs for [Delayed<T>] {
    type Values = Vec<T>;
    fn nodes(&self, out: &mut Vec<NodeRef>) {
        out.extend(self.iter().map(|d| d.node.clone()));
    }
    fn read(&self, r: &mut OutputReader<'_>) -> Result<Vec<T>> {
        // Read every output even after an error, so all are released; report the first error.
        let mut first_err = None;
        let mut vals = Vec::with_capacity(self.len());
        for _ in self {
            match r.take() {
                Ok(v) => vals.push(v),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(vals), Err)
    }
}

impl<T: Data> Outputs for Vec<Delayed<T>> {
    type Values = Vec<T>;
    fn nodes(&self, out: &mut Vec<NodeRef>) {
        self.as_slice().nodes(out)
    }
    fn read(&self, r: &mut OutputReader<'_>) -> Result<Vec<T>> {
        self.as_slice().read(r)
    }
}

macro_rules! output_tuples {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Outputs),+> Outputs for ($($name,)+) {
            type Values = ($($name::Values,)+);
            fn nodes(&self, out: &mut Vec<NodeRef>) {
                $(self.$idx.nodes(out);)+
            }
            #[allow(non_snake_case)]
            fn read(&self, r: &mut OutputReader<'_>) -> Result<Self::Values> {
                $(let $name = self.$idx.read(r);)+
                Ok(($($name?,)+))
            }
        }
    };
}
output_tuples!(A 0);
output_tuples!(A 0, B 1);
output_tuples!(A 0, B 1, C 2);
output_tuples!(A 0, B 1, C 2, D 3);
output_tuples!(A 0, B 1, C 2, D 3, E 4);
output_tuples!(A 0, B 1, C 2, D 3, E 4, F 5);
output_tuples!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
output_tuples!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Computes several outputs at once on `executor`; shared sub-graphs run once.
///
/// Returns the first error in output order if any requested task failed;
/// every task that did not depend on a failure still ran.
pub fn compute<E: Executor + ?Sized, O: Outputs + ?Sized>(
    executor: &E,
    outputs: &O,
) -> Result<O::Values> {
    let plan = plan_outputs(outputs, executor.plan_options())?;
    run_plan(executor, plan, |r| outputs.read(r))
}

/// Lowers what `outputs` need into a plan (for executors that start runs
/// themselves).
pub fn plan_outputs<O: Outputs + ?Sized>(outputs: &O, opts: PlanOptions) -> Result<crate::Plan> {
    let mut nodes = Vec::new();
    outputs.nodes(&mut nodes);
    Ok(lower_nodes(&nodes, opts)?)
}

/// Runs a lowered plan and reads its outputs with `read`.
pub fn run_plan<E: Executor + ?Sized, R>(
    executor: &E,
    plan: crate::Plan,
    read: impl FnOnce(&mut OutputReader<'_>) -> Result<R>,
) -> Result<R> {
    let run = Arc::new(new_run(executor, plan)?);
    run.emit_started(executor.name(), executor.workers());
    if !run.plan().is_empty() {
        executor.execute(&run);
    }
    run.emit_finished();
    if !run.is_complete() && !run.plan().is_empty() {
        return Err(Error::Executor(format!(
            "{} returned before the run completed",
            executor.name()
        )));
    }
    read(&mut run.output_reader()?)
}

/// The run of `plan` on `executor`, with its events and, when the executor
/// has a result cache, the cache's hits already in the plan (see
/// [`ResultCache`]): what [`run_plan`] runs, for executors that start runs
/// themselves.
pub fn new_run<E: Executor + ?Sized>(executor: &E, plan: crate::Plan) -> Result<Run> {
    let events = executor.events().cloned();
    Ok(match executor.cache() {
        None => Run::new(plan, events),
        Some(cache) => {
            let (plan, stores) = crate::cache::prepare(cache, plan, executor.plan_options())?;
            Run::new(plan, events).with_cache(stores)
        }
    })
}
