//! The `rask` command: `rask demo`, `rask scheduler`, `rask worker ADDRESS`.

mod cluster;
mod demo;

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
    /// Estimate pi with a few thousand tasks on the thread pool, with a progress bar and a summary.
    Demo(demo::Args),
    /// Run a scheduler (the secret comes from RASK_SECRET).
    Scheduler(cluster::SchedulerArgs),
    /// Run a worker for the scheduler at ADDRESS (the secret comes from RASK_SECRET).
    Worker(cluster::WorkerArgs),
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
    }
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
