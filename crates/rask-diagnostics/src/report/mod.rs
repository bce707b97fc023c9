//! The performance report: one self-contained HTML file.
//!
//! Everything is inline: the stylesheet, the script (`assets/rask.js`, no
//! libraries), the recording as a JSON block and the graph as SVG. The
//! file opens from disk with no network. It shows the task stream
//! (zoomable), progress and time per key prefix and per function, the
//! workers, CPU and memory per worker over time, the graph, and failures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::graph::escape_xml;
use crate::recorder::{Recorder, Snapshot};

/// The stylesheet shared by the report and the dashboard.
pub const CSS: &str = include_str!("../../assets/rask.css");
/// The script shared by the report and the dashboard (no network access).
pub const JS: &str = include_str!("../../assets/rask.js");
/// The dashboard's own script, on top of [`JS`] (reads the dashboard's API).
pub const LIVE_JS: &str = include_str!("../../assets/live.js");

/// Task records a report embeds at most (the most recent; the tables
/// still count every task). About 60 bytes of HTML each.
pub const REPORT_TASKS: usize = 200_000;

/// Graphs with more nodes than this are drawn with one node per key prefix.
pub const GRAPH_NODES: usize = 500;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be written.
    #[error("cannot write the report to {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The recording could not be encoded (a bug).
    #[error("cannot encode the recording: {0}")]
    Encode(#[from] serde_json::Error),
    /// The client records nothing.
    #[error(
        "this client records nothing: make it with `.with_recorder()` before it runs anything"
    )]
    NoRecorder,
}

/// JSON that is safe inside a `<script>` element.
pub(crate) fn script_json<T: serde::Serialize>(v: &T) -> Result<String, serde_json::Error> {
    Ok(serde_json::to_string(v)?
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--"))
}

/// The report's HTML for a snapshot.
pub fn report_html(snap: &Snapshot, title: &str) -> Result<String, ReportError> {
    let svg = match &snap.graph {
        Some(g) if !g.nodes.is_empty() => g.collapsed(GRAPH_NODES).svg_builtin(),
        _ => "<p class=\"muted\">No graph was kept (runs larger than the recorder's graph limit, or eager tasks only).</p>".to_owned(),
    };
    // The graph travels as SVG; the JSON does not repeat it.
    let data = serde_json::json!({
        "status": snap.status,
        "names": snap.names,
        "tasks": snap.tasks,
        "tasks_not_shown": snap.tasks_not_shown,
        "samples": snap.samples,
        "transfers": snap.transfers,
        "errors": snap.errors,
    });
    let json = script_json(&data)?;
    let mut h = String::with_capacity(json.len() + svg.len() + CSS.len() + JS.len() + 4096);
    let title = escape_xml(title);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{CSS}</style></head>
<body class="rask-report">
<header><h1>{title}</h1><div class="summary" id="summary"></div></header>
<main>
<section><h2>Task stream</h2><div class="hint">One row per worker thread; one bar per task, coloured by key prefix (failed tasks red). Wheel to zoom, drag to pan, double-click to reset; hover for the task.</div><div id="stream" class="stream"></div></section>
<div class="cols">
<section><h2>Progress per key prefix</h2><div id="progress"></div></section>
<section><h2>Time per key prefix</h2><div id="prefix-time"></div><h2 style="margin-top:14px">Time per function</h2><div id="function-time"></div><p class="hint">* the function is not known (a closure with a key of its own): its key prefix stands for it.</p></section>
</div>
<section><h2>Workers</h2><div id="workers"></div></section>
<section><h2>CPU and memory per worker over time</h2><div id="resources"></div></section>
<section><h2>Graph</h2><div class="hint">Coloured by state after the run. Wheel to zoom, drag to pan, double-click to fit; hover for the task.</div><div id="graph" class="graph">{svg}</div></section>
<section><h2>Failures</h2><div id="failures"></div></section>
</main>
<script type="application/json" id="rask-data">{json}</script>
<script>{JS}</script>
<script>Rask.report(JSON.parse(document.getElementById('rask-data').textContent));</script>
</body></html>
"#
    );
    Ok(h)
}

impl Recorder {
    /// Writes the performance report of everything recorded so far to `path`
    /// (one self-contained HTML file); returns the path.
    pub fn write_report(&self, path: impl AsRef<Path>) -> Result<PathBuf, ReportError> {
        let path = path.as_ref().to_path_buf();
        let html = report_html(&self.snapshot(REPORT_TASKS), "Rask performance report")?;
        std::fs::write(&path, html).map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Dask's `performance_report` shape: a guard that writes the report of
/// its recorder when dropped (or at [`PerformanceReport::finish`], which
/// returns the error, if any; a failure at drop is logged).
///
/// The report shows everything the recorder holds, including what it
/// recorded before the guard was made: give the guard a fresh recorder for
/// a report of one section of a program.
#[derive(Debug)]
pub struct PerformanceReport {
    recorder: Recorder,
    path: PathBuf,
    written: bool,
}

impl PerformanceReport {
    /// A report of `recorder` to be written to `path`.
    pub fn new(recorder: Recorder, path: impl Into<PathBuf>) -> Self {
        PerformanceReport {
            recorder,
            path: path.into(),
            written: false,
        }
    }

    /// Writes the report now; returns its path.
    pub fn finish(mut self) -> Result<PathBuf, ReportError> {
        self.written = true;
        self.recorder.write_report(&self.path)
    }
}

impl Drop for PerformanceReport {
    fn drop(&mut self) {
        if !self.written {
            if let Err(e) = self.recorder.write_report(&self.path) {
                tracing::error!("rask: the performance report was not written: {e}");
            }
        }
    }
}
