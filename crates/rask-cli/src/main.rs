//! The `rask` command. For now: `rask demo`.

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Demo(args) => demo::run(&args),
    }
}
