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
        Command::Demo(args) => demo::run(&args),
        Command::Scheduler(args) => {
            logs();
            cluster::scheduler(&args)
        }
        Command::Worker(args) => {
            logs();
            cluster::worker(&args)
        }
    }
}

/// Log lines (joins, removals, refused peers) to stderr.
fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .try_init();
}
