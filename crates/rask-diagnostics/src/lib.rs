//! Subscribers to Rask's event stream: a terminal [`ProgressBar`] and
//! [`RunStats`] (counts and busy time, for summaries).
//!
//! Both keep the task path short: an event costs a few relaxed atomic adds;
//! drawing happens on a separate ticker thread that reads those counters.

mod progress;
mod stats;

pub use progress::ProgressBar;
pub use stats::{RunStats, StatsSnapshot};
