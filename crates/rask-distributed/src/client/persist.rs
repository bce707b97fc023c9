//! Runs whose outputs stay on the workers (`persist`): the graph kept on
//! the scheduler until the last handle of its outputs goes, and each
//! output fetched here only when asked for.

use super::*;

/// A run sent to the scheduler.
pub(super) struct Sent {
    pub(super) graph: GraphNo,
    pub(super) shipped: Shipped,
    pub(super) rx: std_mpsc::Receiver<ToClient>,
}

/// A persisted run on its way ([`Connection::persist`]).
pub struct Persisting {
    pub(super) conn: Arc<Connection>,
    pub(super) run: Arc<Run>,
    pub(super) sent: Option<Sent>,
}

impl std::fmt::Debug for Persisting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persisting").finish_non_exhaustive()
    }
}

impl Persisting {
    /// Waits for the run and settles it (its run is then complete).
    pub fn finish(self) {
        if let Some(sent) = self.sent {
            self.conn.finish(&self.run, sent, Some(&self.conn));
        }
    }
}

/// A run described for the scheduler, not yet sent ([`Connection::prepare`]).
pub struct Prepared {
    pub(super) graph: GraphNo,
    pub(super) shipped: Result<(FromClient, Shipped), Refusal>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

/// A persisted graph: released on the scheduler (and its constants held
/// here forgotten) when the last of its outputs' handles goes.
pub(super) struct Kept {
    pub(super) conn: Arc<Connection>,
    pub(super) graph: GraphNo,
    /// The graph's messages (its outputs announced again after a loss).
    pub(super) rx: Mutex<std_mpsc::Receiver<ToClient>>,
    /// Constants held here for it (lineage may need them again).
    pub(super) held: Vec<Gid>,
}

impl Drop for Kept {
    fn drop(&mut self) {
        lock(&self.conn.routes).remove(&self.graph);
        let _ = self.conn.send(FromClient::Release { graph: self.graph });
        self.conn.forget(&self.held);
    }
}

/// One persisted output: where it is, and its value once fetched here.
pub(super) struct RemoteOutput {
    pub(super) kept: Arc<Kept>,
    pub(super) task: u32,
    pub(super) codec: &'static rask_core::Codec,
    pub(super) located: Mutex<Located>,
    pub(super) decoded: std::sync::OnceLock<Value>,
}

impl RemoteOutput {
    pub(super) fn fetch(&self) -> Result<Value, String> {
        let conn = &self.kept.conn;
        for _ in 0..3 {
            let loc = lock(&self.located).clone();
            let got = match &loc {
                Located::Inline(b) => Some(b.clone()),
                Located::At { gid, addr } => {
                    match conn.rt.block_on(conn.peers.get(addr, vec![*gid])) {
                        Ok(mut v) => v.pop().flatten().map(|b| b.as_slice().to_vec()),
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "could not fetch a persisted value");
                            None
                        }
                    }
                }
            };
            if let Some(bytes) = got {
                return (self.codec.decode)(&bytes).map_err(|e| {
                    format!(
                        "a persisted value could not be read as a `{}`: {e}",
                        (self.codec.type_name)()
                    )
                });
            }
            // Lost with its worker: wait for the scheduler to make it again.
            let rx = lock(&self.kept.rx);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(ToClient::Finished {
                        task,
                        value: Some(v),
                        ..
                    }) if task == self.task => {
                        *lock(&self.located) = v;
                        break;
                    }
                    // Copied off a worker being retired.
                    Ok(ToClient::Moved { task, value, .. }) if task == self.task => {
                        *lock(&self.located) = value;
                        break;
                    }
                    Ok(ToClient::Erred { task, failure, .. }) if task == self.task => {
                        return Err(format!(
                            "a persisted value was lost and could not be made again: {failure:?}"
                        ));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(
                            "a persisted value was lost with its worker and not made again in time"
                                .to_owned(),
                        )
                    }
                }
            }
        }
        Err("a persisted value could not be fetched".to_owned())
    }
}

impl External for RemoteOutput {
    fn value(&self) -> Result<Value, Arc<TaskError>> {
        if let Some(v) = self.decoded.get() {
            return Ok(v.clone());
        }
        let v = self.fetch().map_err(|message| {
            Arc::new(TaskError {
                key: rask_core::Key::new("persisted"),
                kind: TaskErrorKind::Failed,
                message,
                backtrace: None,
                attempt: 1,
                cause: None,
            })
        })?;
        Ok(self.decoded.get_or_init(|| v).clone())
    }

    fn wait(&self) -> Result<(), Arc<TaskError>> {
        Ok(())
    }

    fn persisted(&self) -> Option<Persisted> {
        Some(Persisted {
            owner: self.kept.conn.id,
            graph: self.kept.graph,
            task: self.task,
        })
    }
}
