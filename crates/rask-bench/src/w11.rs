//! W11: a DAG of shell commands (`bench/refs/make_workflow.py`).
//! G groups of M leaf jobs (`echo g-i > leaf/g-i.txt`), a merge job per
//! group (`cat` of its leaves), one final job (`cat group/*.txt | wc -l`);
//! G*M + G + 1 jobs. The DAG is written as a workflow file in `rask run`'s
//! format and run through the same code as `rask run -j JOBS`
//! (`rask_workflow::run_local`): cold in an empty directory, then again
//! with everything up to date, where nothing may run.
//!
//! Each time covers what `make` does in its own: reading and expanding the
//! workflow file, the journal, starting the thread pool, running (or
//! checking) every job; the reference's times also include starting the
//! `make` process (about a millisecond).

use std::time::Instant;

use anyhow::{bail, Context};
use rask_workflow::{run_local, RunOptions, Workflow};
use serde_json::json;

use crate::{peak_rss_mib, round};

/// The workflow file for `groups` x `leaves`.
pub(crate) fn workflow_text(groups: u32, leaves: u32) -> String {
    format!(
        r#"# W11: {groups} groups of {leaves} leaves, a merge per group, one total.
[[job]]
name = "leaf-{{g}}-{{i}}"
for = {{ g = "0..{groups}", i = "0..{leaves}" }}
cmd = "echo {{g}}-{{i}} > {{output}}"
outputs = ["leaf/{{g}}-{{i}}.txt"]

[[job]]
name = "group-{{g}}"
for = {{ g = "0..{groups}" }}
cmd = "cat {{inputs}} > {{output}}"
inputs = ["leaf/{{g}}-*.txt"]
outputs = ["group/{{g}}.txt"]

[[job]]
name = "total"
cmd = "cat {{inputs}} | wc -l > {{output}}"
inputs = ["group/*.txt"]
outputs = ["total.txt"]
"#
    )
}

pub(crate) fn run(groups: u32, leaves: u32, jobs: usize) -> anyhow::Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("rask-w11-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("leaf"))?;
    std::fs::create_dir_all(dir.join("group"))?;
    let file = dir.join("workflow.toml");
    std::fs::write(&file, workflow_text(groups, leaves)).context("writing the workflow")?;
    let n = (groups * leaves + groups + 1) as usize;
    let opts = RunOptions {
        jobs,
        ..RunOptions::default()
    };
    let once = || -> anyhow::Result<(f64, rask_workflow::Summary)> {
        let t = Instant::now();
        let wf = Workflow::load(&file)?;
        let s = run_local(&wf, &opts)?;
        Ok((t.elapsed().as_secs_f64(), s))
    };
    let (cold, first) = once()?;
    if first.ran.len() != n || !first.success() {
        bail!("the cold run ran {} of {n} jobs:\n{first}", first.ran.len());
    }
    let (warm, second) = once()?;
    if !second.ran.is_empty() || second.up_to_date != n {
        bail!(
            "the up-to-date run ran {} jobs:\n{second}",
            second.ran.len()
        );
    }
    let total: u64 = std::fs::read_to_string(dir.join("total.txt"))?
        .trim()
        .parse()?;
    if total != u64::from(groups * leaves) {
        bail!("total.txt says {total}, expected {}", groups * leaves);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "workload": "W11",
        "system": "rask-threads",
        "threads": jobs,
        "jobs": n,
        "seconds": round(cold, 4),
        "up_to_date_s": round(warm, 4),
        "us_per_job": round(1e6 * cold / n as f64, 1),
        "peak_rss_mib": peak_rss_mib(),
    }))
}
