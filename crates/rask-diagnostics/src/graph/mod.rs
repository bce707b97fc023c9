//! Pictures of task graphs: DOT text and SVG.
//!
//! A [`GraphView`] is nodes (a label, a group, a state) and edges
//! (dependency -> dependent). It comes from a graph before it runs
//! ([`visualize`]), or from a [`Recorder`](crate::Recorder) after (or
//! during) a run, with each task coloured by its state.
//!
//! SVG is drawn by a small layered layout in pure Rust (`layout.rs`):
//! layers by longest path from the roots, left to right; order within a
//! layer by barycentre sweeps. Where Graphviz's `dot` is installed,
//! [`GraphView::svg`] uses it instead (`RASK_GRAPHVIZ=0` turns that off);
//! [`GraphView::svg_builtin`] always uses the built-in layout (the HTML
//! report does, so that reports look the same everywhere).
//!
//! Graphs with more than a few thousand tasks are unreadable as pictures:
//! [`GraphView::collapsed`] merges the tasks of each key prefix into one
//! node (with counts by state), which is what the report shows for them.

mod layout;
mod svg;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use rask_core::{Outputs, PlanOptions, TaskId};
use serde::Serialize;

use crate::state::TaskState;

/// A graph to draw.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GraphView {
    /// The nodes.
    pub nodes: Vec<GraphNode>,
    /// Edges `(dependency, dependent)`, as indexes into `nodes`.
    pub edges: Vec<(u32, u32)>,
}

/// One node of a [`GraphView`]: a task, or (collapsed) all tasks of a prefix.
#[derive(Clone, Debug, Serialize)]
pub struct GraphNode {
    /// The label (a task's key, or `load (64 tasks)`).
    pub key: String,
    /// The key prefix (nodes of a group share a colour before a run).
    pub group: String,
    /// The state, where known (after or during a run).
    pub state: Option<TaskState>,
}

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The graph could not be lowered (a cycle, a missing dependency).
    #[error("cannot draw the graph: {0}")]
    Lower(#[from] rask_core::Error),
    /// Graphviz's `dot` failed or is not installed.
    #[error("graphviz `dot` failed: {0}")]
    Graphviz(String),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The graph that computing `outputs` would run (culled, not fused), with
/// no states: `visualize(&total)?.write("graph.svg")`.
pub fn visualize<O: Outputs + ?Sized>(outputs: &O) -> Result<GraphView, GraphError> {
    let plan = rask_core::plan_outputs(outputs, PlanOptions { fuse: false })?;
    Ok(GraphView::from_plan(&plan))
}

impl GraphView {
    /// The graph of a plan, with no states.
    pub fn from_plan(plan: &rask_core::Plan) -> Self {
        let nodes = (0..plan.len())
            .map(|i| {
                let key = plan.key(TaskId(i as u32));
                GraphNode {
                    key: key.to_string(),
                    group: key.name().as_display().into_owned(),
                    state: None,
                }
            })
            .collect();
        let mut edges = Vec::new();
        for i in 0..plan.len() {
            for d in plan.deps(TaskId(i as u32)) {
                edges.push((d.0, i as u32));
            }
        }
        GraphView { nodes, edges }
    }

    /// The same graph with every task of a prefix merged into one node when
    /// it has more than `max_nodes` nodes; itself otherwise. A merged node's
    /// label counts its tasks by state; its state is the least advanced one
    /// among them (failed first).
    pub fn collapsed(&self, max_nodes: usize) -> GraphView {
        if self.nodes.len() <= max_nodes {
            return self.clone();
        }
        let mut group_of: HashMap<&str, u32> = HashMap::new();
        let mut groups: Vec<(&str, Vec<TaskState>, usize)> = Vec::new();
        let mut map = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let g = *group_of.entry(&n.group).or_insert_with(|| {
                groups.push((&n.group, Vec::new(), 0));
                groups.len() as u32 - 1
            });
            let e = &mut groups[g as usize];
            e.2 += 1;
            if let Some(s) = n.state {
                e.1.push(s);
            }
            map.push(g);
        }
        let nodes = groups
            .iter()
            .map(|(name, states, count)| {
                let mut label = format!("{name} ({count} tasks");
                let mut state = None;
                if !states.is_empty() {
                    for s in TaskState::ALL {
                        let c = states.iter().filter(|x| **x == s).count();
                        if c > 0 {
                            let _ = write!(label, ", {c} {s}");
                        }
                    }
                    state = [
                        TaskState::Failed,
                        TaskState::Skipped,
                        TaskState::Waiting,
                        TaskState::Ready,
                        TaskState::Running,
                        TaskState::Done,
                    ]
                    .into_iter()
                    .find(|s| states.contains(s));
                }
                label.push(')');
                GraphNode {
                    key: label,
                    group: (*name).to_owned(),
                    state,
                }
            })
            .collect();
        let mut edges: Vec<(u32, u32)> = self
            .edges
            .iter()
            .map(|&(a, b)| (map[a as usize], map[b as usize]))
            .collect();
        edges.sort_unstable();
        edges.dedup();
        GraphView { nodes, edges }
    }

    /// Graphviz DOT text (left to right; coloured by state where known, by
    /// group otherwise).
    pub fn dot(&self) -> String {
        let mut s = String::from(
            "digraph rask {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n  edge [color=\"#888888\"];\n",
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                s,
                "  n{i} [label=\"{}\", fillcolor=\"{}\"];",
                escape_dot(&n.key),
                self.colour(i)
            );
        }
        for (a, b) in &self.edges {
            if a != b {
                let _ = writeln!(s, "  n{a} -> n{b};");
            }
        }
        s.push_str("}\n");
        s
    }

    /// The fill colour of node `i`.
    pub(crate) fn colour(&self, i: usize) -> String {
        let n = &self.nodes[i];
        match n.state {
            Some(s) => s.colour().to_owned(),
            None => group_colour(&n.group),
        }
    }

    /// SVG: Graphviz's `dot` where installed (and `RASK_GRAPHVIZ` is not
    /// `0`), the built-in layout otherwise.
    pub fn svg(&self) -> String {
        let use_dot = std::env::var("RASK_GRAPHVIZ").map_or(true, |v| v != "0");
        if use_dot {
            if let Ok(s) = self.svg_graphviz() {
                return s;
            }
        }
        self.svg_builtin()
    }

    /// SVG from the built-in layered layout (no external program).
    pub fn svg_builtin(&self) -> String {
        svg::render(self, &layout::layout(self))
    }

    /// SVG from Graphviz's `dot` (an error if it is not installed or fails).
    pub fn svg_graphviz(&self) -> Result<String, GraphError> {
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| GraphError::Graphviz(format!("cannot start `dot`: {e}")))?;
        let dot = self.dot();
        if let Some(mut stdin) = child.stdin.take() {
            // Write on another thread: `dot` may fill its stdout pipe first.
            let writer = std::thread::spawn(move || stdin.write_all(dot.as_bytes()));
            let out = child
                .wait_with_output()
                .map_err(|e| GraphError::Graphviz(e.to_string()))?;
            let _ = writer.join();
            if !out.status.success() {
                return Err(GraphError::Graphviz(
                    String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                ));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            // Drop the XML prologue so that the SVG can be inlined in HTML.
            let start = text.find("<svg").unwrap_or(0);
            return Ok(text[start..].to_owned());
        }
        Err(GraphError::Graphviz("no stdin".to_owned()))
    }

    /// Writes DOT (`.dot`, `.gv`) or SVG (anything else) to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), GraphError> {
        let path = path.as_ref();
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("dot") | Some("gv") => self.dot(),
            _ => self.svg(),
        };
        std::fs::write(path, text).map_err(|source| GraphError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

/// A stable pastel colour per group name.
pub(crate) fn group_colour(name: &str) -> String {
    let h = name
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    format!("hsl({}, 55%, 65%)", h % 360)
}

fn escape_dot(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Escapes text for XML and HTML (`&`, `<`, `>`, quotes).
pub fn escape_xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diamond() -> GraphView {
        let n = |k: &str, g: &str| GraphNode {
            key: k.to_owned(),
            group: g.to_owned(),
            state: None,
        };
        GraphView {
            nodes: vec![
                n("a", "a"),
                n("b[0]", "b"),
                n("b[1]", "b"),
                n("c \"q\"", "c"),
            ],
            edges: vec![(0, 1), (0, 2), (1, 3), (2, 3)],
        }
    }

    #[test]
    fn dot_names_every_node_and_edge_and_escapes_labels() {
        let d = diamond().dot();
        assert!(d.starts_with("digraph rask {"));
        assert_eq!(d.matches(" -> ").count(), 4);
        assert!(d.contains(r#"label="c \"q\"""#));
    }

    #[test]
    fn collapsing_merges_prefixes_and_keeps_edges_between_them() {
        let mut g = diamond();
        g.nodes[1].state = Some(TaskState::Done);
        g.nodes[2].state = Some(TaskState::Failed);
        let c = g.collapsed(2);
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.nodes[1].key, "b (2 tasks, 1 done, 1 failed)");
        assert_eq!(c.nodes[1].state, Some(TaskState::Failed));
        assert_eq!(c.edges, vec![(0, 1), (1, 2)]);
        assert_eq!(g.collapsed(10).nodes.len(), 4);
    }

    #[test]
    fn the_builtin_svg_draws_every_node_and_edge() {
        let s = diamond().svg_builtin();
        assert!(s.starts_with("<svg"));
        assert_eq!(s.matches("<rect class=\"node\"").count(), 4);
        assert_eq!(s.matches("<path class=\"edge\"").count(), 4);
        assert!(s.contains("c &quot;q&quot;"));
    }
}
