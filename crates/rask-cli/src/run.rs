//! `rask run FILE`: runs a workflow of shell commands (see
//! `docs/workflows.md`) on this machine's cores or on a cluster.

use std::path::PathBuf;

use anyhow::Context;
use rask_workflow::{dry_run, interrupt, run, run_local, RunOptions, Workflow};

/// `rask run`.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The workflow file (TOML).
    file: PathBuf,
    /// Jobs at once on this machine (default: one per core).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Run on the cluster whose scheduler is at ADDR (`host:port`; the
    /// secret comes from RASK_SECRET). Workers must see the same files.
    #[arg(long, value_name = "ADDR")]
    cluster: Option<String>,
    /// Say what would run, and why, without running anything.
    #[arg(long)]
    dry_run: bool,
    /// Run this job even if it is up to date (a name or a glob such as
    /// 'leaf*'; repeatable).
    #[arg(long, value_name = "JOB")]
    force: Vec<String>,
    /// The state directory: journal and logs (default: .rask beside FILE).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// A resource of this machine that jobs may ask for, `NAME=AMOUNT`
    /// (repeatable): `--resource gpu=2`.
    #[arg(long = "resource", value_name = "NAME=AMOUNT")]
    resources: Vec<String>,
    /// The memory jobs may ask for (default: the machine's): `16GiB`.
    #[arg(long)]
    memory: Option<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

/// Runs `rask run` and returns the exit status.
pub(crate) fn main(args: &RunArgs) -> anyhow::Result<i32> {
    let wf = Workflow::load(&args.file)?;
    let mut opts = RunOptions {
        jobs: args.jobs.unwrap_or(0),
        force: args.force.clone(),
        state_dir: args.state.clone(),
        progress: !args.quiet,
        resources: Vec::new(),
    };
    for r in &args.resources {
        opts.resources.push(crate::cluster::parse_resource(r)?);
    }
    if let Some(m) = &args.memory {
        opts.resources
            .push(("memory".into(), crate::cluster::parse_bytes(m)? as f64));
    }
    if args.dry_run {
        print!("{}", dry_run(&wf, &opts)?);
        return Ok(0);
    }
    interrupt::install().context("installing the Ctrl-C handler")?;
    let summary = match &args.cluster {
        Some(addr) => {
            let client = rask::Client::connect_with(addr, crate::tls::client_wire()?)
                .with_context(|| format!("connecting to the scheduler at {addr}"))?;
            run(&wf, &client, &opts)?
        }
        None => run_local(&wf, &opts)?,
    };
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&summary)?;
        std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    eprint!("{summary}");
    // The process ends now: freeing every job's description would only delay it.
    std::mem::forget(wf);
    Ok(summary.exit_code())
}
