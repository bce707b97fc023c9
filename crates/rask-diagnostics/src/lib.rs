//! Seeing inside a running computation. Everything here is a [`Subscriber`]
//! to Rask's event stream, or reads what one recorded:
//!
//! - [`ProgressBar`] and [`RunStats`]: a terminal bar and a summary;
//! - [`Recorder`]: the task stream (each task's prefix, worker and thread,
//!   start, end, result bytes), transfers, resource samples of this process
//!   (CPU, memory, every 100 ms) and of remote workers, and the graphs of
//!   recent runs, in bounded memory (see `recorder` for the budget);
//! - the performance report ([`Recorder::write_report`],
//!   [`PerformanceReport`]): one self-contained HTML file;
//! - a Chrome / Perfetto trace ([`Recorder::write_trace`]);
//! - graph pictures ([`visualize`], [`GraphView`]): DOT and SVG;
//! - [`ClusterState`]: what a live dashboard asks of a running system,
//!   implemented by [`Recorder`] for in-process clients; [`prometheus`]
//!   renders it as metrics text;
//! - [`TaskSpans`]: a `tracing` span per task.
//!
//! The task path stays short: subscribers take a lock that only one thread
//! uses (the recorder's shard for that worker) or bump atomic counters;
//! drawing and sampling happen on their own threads.
//!
//! [`Subscriber`]: rask_core::Subscriber

#![warn(missing_docs)]

mod graph;
mod metrics;
mod progress;
mod recorder;
mod report;
mod spans;
mod state;
mod stats;
mod trace;

pub use graph::{escape_xml, visualize, GraphError, GraphNode, GraphView};
pub use metrics::prometheus;
pub use progress::ProgressBar;
pub use recorder::{Cursor, Recorder, RecorderOptions, Snapshot, TaskColumns, RECORD_BYTES};
pub use report::{
    report_html, PerformanceReport, ReportError, CSS, GRAPH_NODES, JS, LIVE_JS, REPORT_TASKS,
};
pub use spans::TaskSpans;
pub use state::{
    CacheStatus, ClusterState, DepDetail, ExplainError, FunctionStatus, PrefixStatus, RunInfo,
    SampleColumns, StateCounts, Status, StreamUpdate, TaskDetail, TaskState, TransferColumns,
    WorkerStatus,
};
pub use stats::{RunStats, StatsSnapshot};
pub use trace::write_trace;
