//! `rask run --dry-run`: what a run would do, without running anything.
//!
//! Jobs are checked in order with the same signature and output checks as
//! the job task (`job.rs`). A job whose dependency would run cannot be
//! judged before that dependency's new outputs exist (if they come out the
//! same, it stays up to date): it is reported as waiting on it.

use std::fmt;

use crate::dag::{InputFrom, Workflow};
use crate::hash::ContentHash;
use crate::job::{outputs_unchanged, signature, SourceHash};
use crate::journal;
use crate::runner::{forced_jobs, hash_sources, job_sources, state_dir, RunOptions};
use crate::WorkflowError;

/// What a run would do with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing: up to date.
    UpToDate,
    /// Run it, for this reason.
    Run(String),
    /// Run it if job `.0`, which will run, changes its outputs.
    After(String),
    /// It cannot run: this reason (a missing input).
    Fail(String),
}

/// The plan for every job, in order.
#[derive(Debug, Clone, Default)]
pub struct DryRun {
    /// Each job and its plan.
    pub jobs: Vec<(String, Plan)>,
}

impl DryRun {
    /// How many jobs would certainly run.
    pub fn would_run(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| matches!(j.1, Plan::Run(_)))
            .count()
    }
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut run, mut after, mut fail, mut ok) = (0, 0, 0, 0);
        for (name, p) in &self.jobs {
            match p {
                Plan::UpToDate => ok += 1,
                Plan::Run(why) => {
                    run += 1;
                    writeln!(f, "would run   {name}  ({why})")?;
                }
                Plan::After(dep) => {
                    after += 1;
                    writeln!(f, "may run     {name}  (if `{dep}` changes its outputs)")?;
                }
                Plan::Fail(why) => {
                    fail += 1;
                    writeln!(f, "would fail  {name}  ({why})")?;
                }
            }
        }
        writeln!(
            f,
            "rask run --dry-run: {} jobs: {run} would run, {after} may run, {ok} up to date{}",
            self.jobs.len(),
            if fail > 0 {
                format!(", {fail} would fail")
            } else {
                String::new()
            }
        )
    }
}

/// Plans `wf` against its journal.
pub fn dry_run(wf: &Workflow, opts: &RunOptions) -> Result<DryRun, WorkflowError> {
    let state = state_dir(wf, opts);
    let (mut snap, _) = journal::load(&journal::dir(&state))?;
    let sources = hash_sources(wf, &mut snap);
    let forced = forced_jobs(wf, &opts.force)?;
    let mut hashes: Vec<Option<Vec<ContentHash>>> = Vec::with_capacity(wf.jobs.len());
    let mut out = DryRun::default();
    for (i, job) in wf.jobs.iter().enumerate() {
        let plan = (|| {
            if forced[i] {
                return (Plan::Run("forced".into()), None);
            }
            if let Some(&d) = wf.deps[i].iter().find(|&&d| hashes[d as usize].is_none()) {
                let dep = &wf.jobs[d as usize].name;
                return (Plan::After(dep.clone()), None);
            }
            let mut inputs: Vec<(&str, ContentHash)> = Vec::new();
            let mut srcs = job_sources(job, &sources).into_iter();
            for inp in &job.inputs {
                let h = match inp.from {
                    InputFrom::Dep { dep, output } => {
                        let d = wf.deps[i][dep as usize] as usize;
                        hashes[d]
                            .as_ref()
                            .and_then(|h| h.get(output as usize))
                            .copied()
                    }
                    InputFrom::Source(_) => match srcs.next() {
                        Some(SourceHash::Hash(h)) => Some(h),
                        Some(SourceHash::Missing(why)) => return (Plan::Fail(why), None),
                        None => None,
                    },
                };
                match h {
                    Some(h) => inputs.push((inp.path.as_str(), h)),
                    None => {
                        return (
                            Plan::Fail(format!("internal: no hash for `{}`", inp.path)),
                            None,
                        )
                    }
                }
            }
            let sig = signature(job, &inputs);
            let cmd = job.cmd_sig;
            let Some(prev) = snap.jobs.get(&job.name) else {
                return (Plan::Run("it has not run yet".into()), None);
            };
            if prev.cmd != cmd {
                return (
                    Plan::Run("its command, environment or outputs changed".into()),
                    None,
                );
            }
            if prev.sig != sig {
                let changed = inputs
                    .iter()
                    .find(|(p, h)| {
                        !prev
                            .inputs
                            .iter()
                            .any(|(q, g)| *q == crate::journal::PathKey::of(p) && g == h)
                    })
                    .map(|(p, _)| format!("input `{p}` changed"))
                    .unwrap_or_else(|| "an input was removed".into());
                return (Plan::Run(changed), None);
            }
            match outputs_unchanged(job, prev, &wf.base.to_string_lossy()) {
                Some((states, _)) => (
                    Plan::UpToDate,
                    Some(states.iter().map(|s| s.hash).collect()),
                ),
                None => (Plan::Run("an output is missing or changed".into()), None),
            }
        })();
        hashes.push(plan.1);
        out.jobs.push((job.name.clone(), plan.0));
    }
    Ok(out)
}
