//! Waiting for a shipped run: live events as they come, the outputs
//! fetched at `GraphDone`, and the [`Run`] settled in task order.

use super::*;
use rask_core::Stamp;

pub(super) type Outcome = (
    HashMap<u32, Value>,
    HashMap<u32, (u32, Failure)>,
    HashMap<u32, Located>,
);

impl Connection {
    /// Drops the values kept here for a graph.
    pub(super) fn forget(&self, kept: &[Gid]) {
        if kept.is_empty() {
            return;
        }
        let mut held = lock(&self.held.values);
        for g in kept {
            held.remove(g);
        }
    }

    /// Waits for the graph's outcome (emitting its events as they come) and
    /// fetches its outputs.
    pub(super) fn collect(
        &self,
        run: &Run,
        shipped: &Shipped,
        rx: &std_mpsc::Receiver<ToClient>,
        fetch: bool,
    ) -> Result<Outcome, String> {
        let closed = || {
            if self.abandoned.load(Ordering::Acquire) {
                return super::ABANDONED.to_owned();
            }
            format!(
                "the connection to the scheduler at {} closed during the run",
                self.addr
            )
        };
        let mut at: HashMap<u32, (Gid, String)> = HashMap::new();
        let mut erred: HashMap<u32, (u32, Failure)> = HashMap::new();
        let mut values: HashMap<u32, Value> = HashMap::new();
        let mut located: HashMap<u32, Located> = HashMap::new();
        let mut started: HashMap<u32, Stamp> = HashMap::new();
        let mut done = false;
        // Outputs whose fetch failed after `GraphDone`: each is announced
        // again, by `Finished` once recomputed (its worker died) or by
        // `Moved` (copied off a retiring worker, which then left).
        let mut lost: Vec<u32> = Vec::new();
        let events = run.events();
        loop {
            // Take everything that arrived; block only when nothing to do.
            let first = if done && at.is_empty() && lost.is_empty() {
                break;
            } else if done && !at.is_empty() {
                rx.recv_timeout(Duration::from_millis(0)).ok()
            } else if done {
                Some(rx.recv_timeout(Duration::from_secs(60)).map_err(|_| {
                    "outputs were lost with their worker and not recomputed in time".to_owned()
                })?)
            } else {
                Some(rx.recv().map_err(|_| closed())?)
            };
            for m in first.into_iter().chain(rx.try_iter()) {
                match m {
                    ToClient::Started {
                        task,
                        worker,
                        thread,
                        attempt,
                        ..
                    } => {
                        let now = rask_core::clock::stamp();
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            started.insert(task, now);
                            ev.emit(&Event::TaskStarted {
                                run: run.id(),
                                task: t,
                                key: run.plan().key(t),
                                worker: WorkerId(worker),
                                thread,
                                attempt,
                                at: now,
                            });
                        }
                    }
                    ToClient::Finished {
                        task,
                        worker,
                        thread,
                        attempt,
                        micros,
                        nbytes,
                        value,
                        ..
                    } => {
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            let finished = rask_core::clock::stamp();
                            let started = started.remove(&task).unwrap_or_else(|| {
                                finished.saturating_sub(Duration::from_micros(micros))
                            });
                            ev.emit(&Event::TaskFinished {
                                run: run.id(),
                                task: t,
                                key: run.plan().key(t),
                                worker: WorkerId(worker),
                                thread,
                                attempt,
                                started,
                                finished,
                                nbytes: Some(nbytes),
                            });
                        }
                        match value {
                            Some(loc) if !fetch => {
                                located.insert(task, loc);
                            }
                            Some(Located::Inline(b)) => {
                                values.insert(task, decode(run, shipped, task, &b)?);
                                at.remove(&task);
                                lost.retain(|&t| t != task);
                            }
                            Some(Located::At { gid, addr }) if !values.contains_key(&task) => {
                                at.insert(task, (gid, addr));
                                lost.retain(|&t| t != task);
                            }
                            Some(Located::At { .. }) | None => {}
                        }
                    }
                    ToClient::Retrying {
                        task,
                        attempt,
                        failure,
                        ..
                    } => announce_failure(run, shipped, events, task, attempt, &failure, true),
                    ToClient::Erred {
                        task,
                        attempt,
                        failure,
                        ..
                    } => {
                        announce_failure(run, shipped, events, task, attempt, &failure, false);
                        erred.insert(task, (attempt, failure));
                    }
                    ToClient::GraphDone { .. } => done = true,
                    // Copied off a worker being retired: fetch it there.
                    ToClient::Moved { task, value, .. } => match value {
                        loc if !fetch => {
                            located.insert(task, loc);
                        }
                        Located::At { gid, addr } if !values.contains_key(&task) => {
                            at.insert(task, (gid, addr));
                            lost.retain(|&t| t != task);
                        }
                        _ => {}
                    },
                    ToClient::Refused { why, .. } => {
                        return Err(format!("the scheduler refused the graph: {why}"))
                    }
                    ToClient::Var { .. }
                    | ToClient::WorkerJoined { .. }
                    | ToClient::WorkerLost { .. }
                    | ToClient::WorkerSample { .. }
                    | ToClient::Coord(_) => {}
                }
            }
            // An output announced before its holder died and whose
            // recomputation then failed through an input is settled as
            // failed (the scheduler reports only the failed input), never
            // fetched or waited for: nothing will announce it again (found
            // by the simulator, `core/tests/sim.rs`, seed 3544).
            if done && fetch && !erred.is_empty() && !(at.is_empty() && lost.is_empty()) {
                let failed = failed_downstream(run, shipped, &erred);
                let settled = |task: u32| {
                    shipped
                        .plan
                        .get(task as usize)
                        .is_some_and(|t| failed[t.index()])
                };
                at.retain(|&task, _| !settled(task));
                lost.retain(|&task| !settled(task));
            }
            if !done || at.is_empty() || !fetch {
                if done && !fetch {
                    break;
                }
                continue;
            }
            // Fetch what is known, by holder; what is gone is waited for
            // (the loop's top) until announced again.
            let mut by_addr: HashMap<String, Vec<(u32, Gid)>> = HashMap::new();
            for (&task, (gid, addr)) in &at {
                by_addr.entry(addr.clone()).or_default().push((task, *gid));
            }
            for (addr, items) in by_addr {
                let gids: Vec<Gid> = items.iter().map(|x| x.1).collect();
                let got = self.rt.block_on(self.peers.get(&addr, gids));
                match got {
                    Ok(bytes) => {
                        for ((task, _), b) in items.into_iter().zip(bytes) {
                            at.remove(&task);
                            match b {
                                Some(b) => {
                                    values.insert(task, decode(run, shipped, task, b.as_slice())?);
                                }
                                // Gone from that worker.
                                None if !lost.contains(&task) => lost.push(task),
                                None => {}
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "could not fetch outputs; waiting for them to be announced again");
                        for (task, _) in items {
                            at.remove(&task);
                            if !lost.contains(&task) {
                                lost.push(task);
                            }
                        }
                    }
                }
            }
        }
        Ok((values, erred, located))
    }
}

/// Emits a failed attempt of shipped task `task`: `TaskRetrying` when it
/// will run again, else `TaskFailed`.
fn announce_failure(
    run: &Run,
    shipped: &Shipped,
    events: Option<&EventSink>,
    task: u32,
    attempt: u32,
    failure: &Failure,
    retrying: bool,
) {
    let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) else {
        return;
    };
    let error = &task_error(run, t, attempt, failure);
    let (run, at) = (run.id(), Instant::now());
    ev.emit(&if retrying {
        Event::TaskRetrying {
            run,
            task: t,
            error,
            worker: HERE,
            at,
        }
    } else {
        Event::TaskFailed {
            run,
            task: t,
            error,
            worker: HERE,
            at,
        }
    });
}

/// Per plan task: whether it or a task it depends on (transitively) was
/// reported failed.
fn failed_downstream(
    run: &Run,
    shipped: &Shipped,
    erred: &HashMap<u32, (u32, Failure)>,
) -> Vec<bool> {
    let plan = run.plan();
    let mut failed = vec![false; plan.len()];
    // Ascending ids are a topological order: inputs come first.
    for i in 0..plan.len() {
        let t = TaskId(i as u32);
        failed[i] =
            erred.contains_key(&shipped.local[i]) || plan.deps(t).iter().any(|d| failed[d.index()]);
    }
    failed
}

/// Decodes output `task` with the codec of its function's result.
pub(super) fn decode(
    run: &Run,
    shipped: &Shipped,
    task: u32,
    bytes: &[u8],
) -> Result<Value, String> {
    let t = *shipped
        .plan
        .get(task as usize)
        .ok_or_else(|| format!("the scheduler named task {task}, which this graph lacks"))?;
    let codec = run
        .plan()
        .node(t)
        .body()
        .remote()
        .map(|r| r.output())
        .ok_or("internal error: an output without a codec")?;
    (codec.decode)(bytes).map_err(|e| {
        format!(
            "output `{}` could not be read as a `{}`: {e}",
            run.plan().key(t),
            (codec.type_name)()
        )
    })
}

/// Settles the run in task order (see the module docs); the run is quiet,
/// so the failures of tasks whose dependency failed are emitted here (the
/// scheduler reports only the tasks that failed themselves).
pub(super) fn settle(
    run: &Run,
    shipped: &Shipped,
    mut values: HashMap<u32, Value>,
    erred: HashMap<u32, (u32, Failure)>,
) {
    let plan = run.plan();
    for i in 0..plan.len() {
        let t = TaskId(i as u32);
        let l = shipped.local[i];
        if l == u32::MAX {
            // A future's value that this run does not return: waited for,
            // not fetched here (its dependents used it where it lives).
            if let (Some(ext), false) = (plan.node(t).body().external(), plan.is_output(t)) {
                let r = ext
                    .wait()
                    .map(|()| Arc::new(()) as Value)
                    .map_err(|e| (*e).clone());
                // SAFETY: tasks in ascending (topological) order, each
                // once; an external node has no dependencies.
                unsafe {
                    let _ = run.take_inputs(t, HERE);
                    run.resolve(t, r, HERE, None, |_| {});
                }
                continue;
            }
            // SAFETY: tasks in ascending (topological) order, each once.
            unsafe { run.execute(t, HERE, |_| {}) };
            continue;
        }
        // SAFETY: as above.
        let result = match unsafe { run.take_inputs(t, HERE) } {
            Err(e) => {
                if let Some(ev) = run.events() {
                    ev.emit(&Event::TaskFailed {
                        run: run.id(),
                        task: t,
                        error: &e,
                        worker: HERE,
                        at: Instant::now(),
                    });
                }
                Err(e)
            }
            Ok(_) => match erred.get(&l) {
                Some((attempt, f)) => Err(task_error(run, t, *attempt, f)),
                None => match values.remove(&l) {
                    Some(v) => Ok(v),
                    None if plan.is_output(t) => Err(TaskError {
                        key: plan.key(t).clone(),
                        kind: TaskErrorKind::Failed,
                        message: "internal error: the scheduler finished without this output"
                            .to_owned(),
                        backtrace: None,
                        attempt: 1,
                        cause: None,
                    }),
                    None => Ok(Arc::new(()) as Value),
                },
            },
        };
        // SAFETY: `t`'s inputs were just taken; resolved once.
        unsafe { run.resolve(t, result, HERE, None, |_| {}) };
    }
}
