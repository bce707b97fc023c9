//! Per-task settings for eager tasks: retries, timeout, priority, key.

use std::sync::Arc;
use std::time::Duration;

use rask_core::{Key, TaskError};

type RetryIf = Arc<dyn Fn(&TaskError) -> bool + Send + Sync>;

/// Settings of one submitted task. Build with the methods of
/// [`Submitter`](crate::Submitter) (`client.task().retries(2)...`).
#[derive(Clone, Default)]
pub struct TaskOptions {
    pub(crate) retries: u32,
    pub(crate) retry_if: Option<RetryIf>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) priority: i64,
    pub(crate) key: Option<Key>,
}

impl std::fmt::Debug for TaskOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskOptions")
            .field("retries", &self.retries)
            .field("retry_if", &self.retry_if.is_some())
            .field("timeout", &self.timeout)
            .field("priority", &self.priority)
            .field("key", &self.key)
            .finish()
    }
}

impl TaskOptions {
    pub(crate) const DEFAULT: TaskOptions = TaskOptions {
        retries: 0,
        retry_if: None,
        timeout: None,
        priority: 0,
        key: None,
    };

    pub(crate) fn is_default(&self) -> bool {
        self.retries == 0
            && self.retry_if.is_none()
            && self.timeout.is_none()
            && self.priority == 0
            && self.key.is_none()
    }

    pub(crate) fn should_retry(&self, e: &TaskError) -> bool {
        self.retry_if.as_ref().is_none_or(|p| p(e))
    }
}
