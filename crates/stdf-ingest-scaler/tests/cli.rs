//! The built binary's command line: help for both roles, and flag errors caught
//! by parsing before anything connects.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_stdf-ingest-scaler");

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_lists_both_roles_and_their_flags() {
    let top = help(&["--help"]);
    for sub in ["run", "worker"] {
        assert!(top.contains(sub), "missing {sub} in:\n{top}");
    }
    let run = help(&["run", "--help"]);
    for flag in [
        "--admin-addr",
        "--grpc-addr",
        "--leader-elect",
        "--log-format",
    ] {
        assert!(run.contains(flag), "missing {flag} in:\n{run}");
    }
    let worker = help(&["worker", "--help"]);
    for flag in ["--scaler-addr", "--job", "--exit-when-done"] {
        assert!(worker.contains(flag), "missing {flag} in:\n{worker}");
    }
}

#[test]
fn a_malformed_address_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["run", "--admin-addr", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--admin-addr"), "{err}");
}
