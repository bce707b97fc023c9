//! The `rask` command: `rask demo`, `rask scheduler`, `rask worker ADDRESS`,
//! `rask run FILE` (workflows of shell commands), `rask submit`, `rask jobs`,
//! `rask wait` (ad hoc jobs on a cluster), `rask slurm` (workers as Slurm
//! jobs), `rask check` (a deployment's smoke test), `rask retire`.

mod cancel;
mod check;
mod cluster;
mod demo;
mod inspect;
mod jobs;
mod metrics;
mod pi;
mod retire;
mod run;
mod slurm;
mod submit;
mod tls;
mod wait;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rask",
    version,
    about = "Rask: parallel and distributed task graphs for Rust"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a small pipeline (a dataframe group-by, an array reduction, a graph of functions with one task retried) with a progress bar and a summary.
    Demo(demo::Args),
    /// Run a scheduler (the secret comes from RASK_SECRET, or it makes one and writes it to a private file).
    Scheduler(cluster::SchedulerArgs),
    /// Run a worker for the scheduler at ADDRESS (the secret comes from RASK_SECRET, or the scheduler's file on this machine).
    Worker(cluster::WorkerArgs),
    /// Run a workflow of shell commands (a TOML file) on every core or a cluster.
    Run(run::RunArgs),
    /// Run a command (or an array of them) on a running cluster, in the background.
    Submit(submit::SubmitArgs),
    /// List the submitted jobs.
    Jobs(jobs::JobsArgs),
    /// Wait for submitted jobs and say how they ended.
    Wait(wait::WaitArgs),
    /// Cancel submitted jobs.
    Cancel(cancel::CancelArgs),
    /// Run a scheduler here and workers as Slurm jobs, until stopped.
    Slurm(Box<slurm::SlurmArgs>),
    /// Check a cluster: compute a graph and an array on it and verify the answers.
    Check(check::CheckArgs),
    /// Retire workers gracefully (their values move to the others first).
    Retire(retire::RetireArgs),
    /// Print what a dashboard (`rask scheduler --dashboard ADDR`) shows: tasks by state, prefixes, workers.
    Status(inspect::StatusArgs),
    /// Say where a task is and why (`rask explain ADDR KEY`), from a dashboard.
    Explain(inspect::ExplainArgs),
    /// Print the token of a scheduler's dashboard and /metrics (from its secret).
    Token(inspect::TokenArgs),
    /// Drive a submitted job (started by `rask submit`).
    #[command(hide = true)]
    Drive(submit::DriveArgs),
}

fn main() -> anyhow::Result<()> {
    rask::init();
    match Cli::parse().command {
        Command::Demo(args) => {
            logs("warn");
            demo::run(&args)
        }
        Command::Scheduler(args) => {
            logs("info");
            cluster::scheduler(&args)
        }
        Command::Worker(args) => {
            logs("info");
            cluster::worker(&args)
        }
        Command::Run(args) => {
            warnings();
            exit_with(run::main(&args)?)
        }
        Command::Submit(args) => exit_with(submit::main(&args)?),
        Command::Jobs(args) => exit_with(jobs::main(&args)?),
        Command::Wait(args) => exit_with(wait::main(&args)?),
        Command::Cancel(args) => exit_with(cancel::main(&args)?),
        Command::Slurm(args) => {
            logs("info");
            exit_with(slurm::main(&args)?)
        }
        Command::Status(args) => exit_with(inspect::status(&args)?),
        Command::Explain(args) => exit_with(inspect::explain(&args)?),
        Command::Token(args) => exit_with(inspect::token(&args)?),
        Command::Check(args) => {
            warnings();
            exit_with(check::main(&args)?)
        }
        Command::Retire(args) => {
            warnings();
            exit_with(retire::main(&args)?)
        }
        Command::Drive(args) => {
            warnings();
            exit_with(submit::drive(&args))
        }
    }
}

/// Ends the process with `code` (after the summary is printed).
fn exit_with(code: i32) -> anyhow::Result<()> {
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// Warnings (an interrupted run, a journal that could not be written) to
/// stderr, unless `RUST_LOG` asks for more.
fn warnings() {
    logs("warn");
}

/// Log lines to stderr: what `RUST_LOG` asks for (`RUST_LOG=rask=debug`,
/// `RUST_LOG=rask::task=trace` for a span per task), else `default`.
fn logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}
