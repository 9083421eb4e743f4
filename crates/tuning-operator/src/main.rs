//! tuning-operator: Katib-style hyperparameter tuning with the in-process hpo library.
//!
//! The command line and runtime wiring are in place so the chart, images and docs can
//! treat every binary alike; the Experiment and Trial controller itself is not implemented yet, and
//! `run` says so and exits non-zero instead of pretending to reconcile.

use clap::{Parser, Subcommand};
use mlfleet_runtime::CommonArgs;

const NAME: &str = "tuning-operator";

/// Katib-style hyperparameter tuning with the in-process hpo library.
#[derive(Debug, Parser)]
#[command(name = NAME, version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Experiment and Trial controller (not implemented yet: exits with status 2).
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
                "{NAME}: the Experiment and Trial controller is not implemented yet; nothing was started"
            );
            std::process::exit(2);
        }
    }
}
