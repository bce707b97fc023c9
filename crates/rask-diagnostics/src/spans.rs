//! A `tracing` span per task, from the event stream.
//!
//! [`TaskSpans`] opens a span (target `rask::task`, level TRACE, fields
//! `key`, `run`, `worker`, `attempt`) when a task starts and closes it when
//! the task ends. On the in-process executors a task's events arrive on the
//! thread that runs it (event rule 1), so the span is *entered* there for
//! the whole body: whatever the task logs nests under it. On other
//! executors (and for eager tasks, which may move between threads) the
//! span is opened and closed without being entered.
//!
//! Cost: nothing unless attached, and [`TaskSpans::if_enabled`] attaches it
//! only when a `tracing` subscriber wants `rask::task` at TRACE
//! (`RUST_LOG=rask::task=trace`); a client without any event subscriber
//! does not even read the clock.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rask_core::{Event, RunId, Subscriber, TaskId};
use tracing::span::EnteredSpan;
use tracing::{Level, Span};

thread_local! {
    static ENTERED: RefCell<Vec<(usize, RunId, TaskId, EnteredSpan)>> = const { RefCell::new(Vec::new()) };
    static LAST_RUN: Cell<(usize, u64, bool)> = const { Cell::new((0, 0, false)) };
}

/// Opens a `tracing` span per task (see the module docs).
#[derive(Debug, Default)]
pub struct TaskSpans {
    in_process: Mutex<HashMap<RunId, bool>>,
    open: Mutex<HashMap<(RunId, TaskId), Span>>,
}

impl TaskSpans {
    /// A span source, whether or not spans are wanted.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A span source if the current `tracing` subscriber wants task spans
    /// (`rask::task` at TRACE); `None` otherwise, so that nothing is attached.
    pub fn if_enabled() -> Option<Arc<Self>> {
        tracing::enabled!(target: "rask::task", Level::TRACE).then(Self::new)
    }

    fn id(&self) -> usize {
        self as *const Self as usize
    }

    fn entered_here(&self, run: RunId) -> bool {
        if run == RunId(0) {
            return false;
        }
        let me = self.id();
        let (who, r, yes) = LAST_RUN.with(Cell::get);
        if who == me && r == run.0 {
            return yes;
        }
        let yes = self
            .in_process
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&run)
            .copied()
            .unwrap_or(false);
        LAST_RUN.with(|c| c.set((me, run.0, yes)));
        yes
    }

    fn close(&self, run: RunId, task: TaskId, failure: Option<&rask_core::TaskError>) {
        let me = self.id();
        let entered = ENTERED.with(|s| {
            let mut s = s.borrow_mut();
            let pos = s
                .iter()
                .rposition(|(who, r, t, _)| *who == me && *r == run && *t == task)?;
            Some(s.remove(pos).3)
        });
        let span = match entered {
            Some(e) => Some(e.exit()),
            None => self
                .open
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(run, task)),
        };
        if let (Some(span), Some(e)) = (span, failure) {
            tracing::event!(target: "rask::task", parent: &span, Level::WARN, error = %e, "task failed");
        }
    }
}

impl Subscriber for TaskSpans {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::RunStarted { run, executor, .. } => {
                let local = matches!(*executor, "threads" | "sync");
                self.in_process
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(*run, local);
            }
            Event::RunFinished { run, .. } => {
                self.in_process
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(run);
            }
            Event::TaskStarted {
                run,
                task,
                key,
                worker,
                attempt,
                ..
            } => {
                let span = tracing::span!(
                    target: "rask::task",
                    Level::TRACE,
                    "task",
                    key = %key,
                    run = run.0,
                    worker = worker.0,
                    attempt = *attempt
                );
                if span.is_disabled() {
                    return;
                }
                if self.entered_here(*run) {
                    let me = self.id();
                    ENTERED.with(|s| s.borrow_mut().push((me, *run, *task, span.entered())));
                } else {
                    self.open
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((*run, *task), span);
                }
            }
            Event::TaskFinished { run, task, .. } => self.close(*run, *task, None),
            Event::TaskFailed {
                run, task, error, ..
            }
            | Event::TaskRetrying {
                run, task, error, ..
            } => self.close(*run, *task, Some(error)),
            _ => {}
        }
    }
}
