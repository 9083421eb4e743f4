//! The built binary's command line: help for every subcommand, and flag errors
//! caught by parsing before anything connects.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_training-operator");

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_lists_subcommands_and_run_flags() {
    let top = help(&["--help"]);
    for sub in ["run", "query", "report"] {
        assert!(top.contains(sub), "missing {sub} in:\n{top}");
    }
    let run = help(&["run", "--help"]);
    for flag in [
        "--admin-addr",
        "--grpc-addr",
        "--leader-elect",
        "--log-format",
        "--progress-interval-ms",
    ] {
        assert!(run.contains(flag), "missing {flag} in:\n{run}");
    }
    let query = help(&["query", "--help"]);
    for what in ["queues", "job", "gpus"] {
        assert!(query.contains(what), "missing {what} in:\n{query}");
    }
}

#[test]
fn a_malformed_flag_value_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["run", "--progress-interval-ms", "often"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--progress-interval-ms"), "{err}");
}
