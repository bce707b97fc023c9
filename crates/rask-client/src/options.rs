//! Per-task settings for eager tasks: the task options every task has
//! ([`rask_core::TaskOptions`]) and a key.

use rask_core::Key;

/// Settings of one submitted task. Build with the methods of
/// [`Submitter`](crate::Submitter) (`client.task().retries(2)...`).
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskOptions {
    pub(crate) task: rask_core::TaskOptions,
    pub(crate) key: Option<Key>,
}

impl TaskOptions {
    pub(crate) const DEFAULT: TaskOptions = TaskOptions {
        task: rask_core::TaskOptions::DEFAULT,
        key: None,
    };

    pub(crate) fn is_default(&self) -> bool {
        self.task.is_default() && self.key.is_none()
    }
}
