//! The binary's command line: help works, `run` refuses plainly.

use assert_cmd::Command;

#[test]
fn help_lists_run_and_common_flags() {
    let out = Command::cargo_bin("tuning-operator")
        .unwrap()
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--admin-addr",
        "--grpc-addr",
        "--leader-elect",
        "--log-format",
    ] {
        assert!(text.contains(flag), "missing {flag} in:\n{text}");
    }
}

#[test]
fn run_says_not_implemented_and_fails() {
    let out = Command::cargo_bin("tuning-operator")
        .unwrap()
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not implemented"), "{err}");
}
