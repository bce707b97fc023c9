//! Describing a run to the scheduler: every task of the plan as a
//! [`TaskSpec`] naming its registered function, constants inline or held
//! here, options checked; and the errors a run gets when it cannot go.

use super::*;

/// Why a run could not be shipped.
pub(super) enum Refusal {
    /// An option that cannot apply on workers (`NotSupported`).
    Unsupported(String),
    /// Anything else (a constant that does not encode, no data port).
    Failed(String),
}

impl From<String> for Refusal {
    fn from(s: String) -> Refusal {
        Refusal::Failed(s)
    }
}

/// How a run's tasks were described to the scheduler.
pub(super) struct Shipped {
    /// Plan task -> index in the submitted graph (`u32::MAX`: a constant,
    /// settled here).
    pub(super) local: Vec<u32>,
    /// Submitted index -> plan task.
    pub(super) plan: Vec<TaskId>,
    /// Values kept here for this graph.
    pub(super) kept: Vec<Gid>,
}

impl Connection {
    pub(super) fn ship(&self, run: &Run, graph: GraphNo) -> Result<(FromClient, Shipped), Refusal> {
        let plan = run.plan();
        let n = plan.len();
        let mut funcs: Vec<String> = Vec::new();
        let mut fidx: HashMap<&'static str, u32> = HashMap::new();
        let mut lits: Vec<Option<ArgSpec>> = (0..n).map(|_| None).collect();
        let mut local = vec![u32::MAX; n];
        let mut order = Vec::new();
        let mut tasks = Vec::new();
        let mut kept = Vec::new();
        for i in 0..n {
            let t = TaskId(i as u32);
            let body = plan.node(t).body();
            // A future's value: used where it lives when this connection
            // persisted it, else taken here and sent as a constant (or, if
            // the future failed, its dependents fail here).
            if let Some(ext) = body.external() {
                if let Some(p) = ext.persisted().filter(|p| p.owner == self.id) {
                    lits[i] = Some(ArgSpec::Ext {
                        graph: p.graph,
                        task: p.task,
                    });
                    continue;
                }
                lits[i] = Some(match ext.value() {
                    Ok(v) => {
                        let codec = rask_core::codec_of(&v).ok_or_else(|| {
                            format!(
                                "the value of future `{}` cannot be sent to workers: no \
                                 function registered with #[rask::task] takes its type",
                                plan.key(t)
                            )
                        })?;
                        self.literal(codec, &v, &mut kept)
                            .map_err(|e| format!("future `{}`: {e}", plan.key(t)))?
                    }
                    Err(e) => ArgSpec::Failed(e.to_string()),
                });
                continue;
            }
            // A constant: its codec, or the one registered for its type.
            if let Some(v) = body.constant() {
                let codec = match body.remote() {
                    Some(Remote::Literal(c)) => Some(c),
                    _ => rask_core::codec_of(v),
                };
                if let Some(codec) = codec {
                    lits[i] = Some(
                        self.literal(codec, v, &mut kept)
                            .map_err(|e| format!("constant `{}`: {e}", plan.key(t)))?,
                    );
                    continue;
                }
            }
            let func = match body.remote() {
                Some(Remote::Call(reg)) => *fidx.entry(reg.name).or_insert_with(|| {
                    funcs.push(reg.name.to_owned());
                    funcs.len() as u32 - 1
                }),
                _ => NO_FUNC,
            };
            let args = plan
                .deps(t)
                .iter()
                .map(|d| match &lits[d.index()] {
                    Some(a) => a.clone(),
                    None => ArgSpec::Dep(local[d.index()]),
                })
                .collect();
            local[i] = tasks.len() as u32;
            order.push(t);
            let opts = match body.options() {
                Some(o) if o.retry_if.is_some() => {
                    return Err(Refusal::Unsupported(format!(
                        "its `retry_if` is a closure, which cannot reach the scheduler; \
                         use `retry_on` with the kinds of failure to retry (task `{}`)",
                        plan.key(t)
                    )))
                }
                Some(o) if !o.is_default() => Some(Box::new(crate::proto::TaskOpts {
                    priority: o.priority,
                    retries: o.retries,
                    retry_on: o.retry_on.0,
                    timeout_ms: o.timeout.map_or(0, |d| (d.as_millis() as u64).max(1)),
                    resources: o.resources.clone(),
                    workers: o.workers.clone(),
                })),
                _ => None,
            };
            let part = match body.remote() {
                Some(Remote::Part { index, .. }) => {
                    let vector = plan.deps(t).first().copied();
                    if vector.is_none_or(|v| lits[v.index()].is_some()) {
                        return Err(Refusal::Unsupported(format!(
                            "part `{}` is of a vector that no worker makes (a constant): \
                             split the vector before making it a value",
                            plan.key(t)
                        )));
                    }
                    Some(index)
                }
                _ => None,
            };
            tasks.push(TaskSpec {
                func,
                args,
                opts,
                part,
            });
        }
        let mut outputs: Vec<u32> = plan
            .outputs()
            .iter()
            .map(|o| local[o.index()])
            .filter(|&l| l != u32::MAX)
            .collect();
        outputs.sort_unstable();
        outputs.dedup();
        Ok((
            FromClient::Submit {
                graph,
                funcs,
                tasks,
                outputs,
                events: run.events().is_some(),
            },
            Shipped {
                local,
                plan: order,
                kept,
            },
        ))
    }
}

pub(super) fn task_error(run: &Run, t: TaskId, attempt: u32, failure: &Failure) -> TaskError {
    failure.to_task_error(run.plan().key(t).clone(), attempt)
}

/// Settles every task of `run` with the same error (the graph could not run).
pub(super) fn fail_all(run: &Run, kind: TaskErrorKind, message: &str) {
    for i in 0..run.plan().len() {
        let t = TaskId(i as u32);
        // SAFETY: tasks in ascending (topological) order, each once: every
        // dependency is resolved before its dependent's inputs are taken.
        let e = match unsafe { run.take_inputs(t, HERE) } {
            Err(e) => e,
            Ok(_) => TaskError {
                key: run.plan().key(t).clone(),
                kind: kind.clone(),
                message: message.to_owned(),
                backtrace: None,
                attempt: 1,
                cause: None,
            },
        };
        // SAFETY: as above; `t`'s inputs were just taken.
        unsafe { run.resolve(t, Err(e), HERE, None, |_| {}) };
    }
}
