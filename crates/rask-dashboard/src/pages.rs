//! The HTML of the dashboard's pages: the shared stylesheet and scripts of
//! `rask-diagnostics`, inlined.

use rask_diagnostics::{escape_xml as escape, CSS, JS, LIVE_JS};

/// The main page.
pub(crate) fn index(title: &str) -> String {
    let title = escape(title);
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{CSS}</style></head>
<body class="rask-dashboard">
<header><h1><span id="live-dot" class="live-dot"></span>{title}</h1><div class="summary" id="summary">connecting…</div>
<nav><a href="metrics">metrics</a><a href="api/graph.svg">graph (SVG)</a><a href="api/graph.dot">graph (DOT)</a></nav></header>
<main>
<section><h2>Tasks</h2><div id="counts"></div>
<form id="find" style="margin-top:10px">Why is a task where it is? <input type="text" id="key" placeholder="load[3]"> <button>explain</button></form></section>
<section><h2>Task stream</h2><div class="hint">The last 10 seconds, following new tasks; wheel to zoom, drag to pan, double-click to follow again; click a task for its page.</div><div id="stream" class="stream"></div></section>
<div class="cols">
<section><h2>Progress per key prefix</h2><div id="progress"></div></section>
<section><h2>Time per key prefix</h2><div id="prefix-time"></div><h2 style="margin-top:14px">Time per function</h2><div id="function-time"></div></section>
</div>
<section><h2>Workers</h2><div id="workers"></div></section>
<section><h2>CPU and memory per worker</h2><div id="resources"></div></section>
<section><h2>Graph</h2><div class="hint">The latest run, coloured by state; click a task for its page.</div><div id="graph" class="graph"></div></section>
</main>
<script>{JS}</script><script>{LIVE_JS}</script><script>Rask.live();</script>
</body></html>
"#
    )
}

/// A task's page.
pub(crate) fn task(key: &str) -> String {
    let k = escape(key);
    let js_key = serde_json::to_string(key)
        .unwrap_or_else(|_| "\"\"".to_owned())
        .replace("</", "<\\/");
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{k} · Rask</title><style>{CSS}</style></head>
<body class="rask-task">
<header><h1>Task {k}</h1><nav><a href="./">dashboard</a></nav></header>
<main><section id="detail"><p class="muted">loading…</p></section></main>
<script>{JS}</script><script>{LIVE_JS}</script><script>Rask.task({js_key});</script>
</body></html>
"#
    )
}
