//! serving-operator: model servers with canary rollout and autoscaling.
//!
//! The command line and runtime wiring are in place so the chart, images and docs can
//! treat every binary alike; the ModelServer controller itself is not implemented yet, and
//! `run` says so and exits non-zero instead of pretending to reconcile.

use clap::{Parser, Subcommand};
use mlfleet_runtime::CommonArgs;

const NAME: &str = "serving-operator";

/// model servers with canary rollout and autoscaling.
#[derive(Debug, Parser)]
#[command(name = NAME, version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ModelServer controller (not implemented yet: exits with status 2).
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    match Cli::parse().command {
        Command::Run(_args) => {
            eprintln!(
                "{NAME}: the ModelServer controller is not implemented yet; nothing was started"
            );
            std::process::exit(2);
        }
    }
}
