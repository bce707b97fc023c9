//! Waiting for a shipped run: live events as they come, the outputs
//! fetched at `GraphDone`, and the [`Run`] settled in task order.

use super::*;

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
            format!(
                "the connection to the scheduler at {} closed during the run",
                self.addr
            )
        };
        let mut at: HashMap<u32, (Gid, String)> = HashMap::new();
        let mut erred: HashMap<u32, (u32, Failure)> = HashMap::new();
        let mut values: HashMap<u32, Value> = HashMap::new();
        let mut located: HashMap<u32, Located> = HashMap::new();
        let mut started: HashMap<u32, Instant> = HashMap::new();
        let mut done = false;
        let events = run.events();
        loop {
            // Take everything that arrived; block only when nothing to do.
            let first = if done && at.is_empty() {
                break;
            } else if done {
                rx.recv_timeout(Duration::from_millis(0)).ok()
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
                        let now = Instant::now();
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
                            let finished = Instant::now();
                            let started = started.remove(&task).unwrap_or_else(|| {
                                finished
                                    .checked_sub(Duration::from_micros(micros))
                                    .unwrap_or(finished)
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
                            }
                            Some(Located::At { gid, addr }) if !values.contains_key(&task) => {
                                at.insert(task, (gid, addr));
                            }
                            Some(Located::At { .. }) | None => {}
                        }
                    }
                    ToClient::Retrying {
                        task,
                        attempt,
                        failure,
                        ..
                    } => {
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            let e = task_error(run, t, attempt, &failure);
                            ev.emit(&Event::TaskRetrying {
                                run: run.id(),
                                task: t,
                                error: &e,
                                worker: HERE,
                                at: Instant::now(),
                            });
                        }
                    }
                    ToClient::Erred {
                        task,
                        attempt,
                        failure,
                        ..
                    } => {
                        if let (Some(ev), Some(&t)) = (events, shipped.plan.get(task as usize)) {
                            let e = task_error(run, t, attempt, &failure);
                            ev.emit(&Event::TaskFailed {
                                run: run.id(),
                                task: t,
                                error: &e,
                                worker: HERE,
                                at: Instant::now(),
                            });
                        }
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
            if !done || at.is_empty() || !fetch {
                if done && !fetch {
                    break;
                }
                continue;
            }
            // Fetch what is known, by holder.
            let mut by_addr: HashMap<String, Vec<(u32, Gid)>> = HashMap::new();
            for (&task, (gid, addr)) in &at {
                by_addr.entry(addr.clone()).or_default().push((task, *gid));
            }
            let mut lost = false;
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
                                // Gone from that worker: announced again once recomputed.
                                None => lost = true,
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(%addr, error = %e, "could not fetch outputs; waiting for them to be recomputed");
                        for (task, _) in items {
                            at.remove(&task);
                        }
                        lost = true;
                    }
                }
            }
            if lost {
                // Wait for the scheduler to notice and announce them again.
                done = false;
                match rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(m) => {
                        if let ToClient::Finished {
                            task,
                            value: Some(Located::At { gid, addr }),
                            ..
                        }
                        | ToClient::Moved {
                            task,
                            value: Located::At { gid, addr },
                            ..
                        } = m
                        {
                            at.insert(task, (gid, addr));
                        } else if let ToClient::GraphDone { .. } = m {
                            done = true;
                        }
                    }
                    Err(_) => {
                        return Err(
                            "outputs were lost with their worker and not recomputed in time"
                                .to_owned(),
                        )
                    }
                }
            }
        }
        Ok((values, erred, located))
    }
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
