//! Cross-check against pystdf (an independent implementation from PyPI):
//! every record of both real sample files must have the same type and field
//! values. Needs python3 with venv and access to PyPI (first run only; the
//! environment is cached under ${MLFLEET_CACHE:-$HOME/.cache/mlfleet}/venv-stdf).

use std::path::PathBuf;
use std::process::Command;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

fn python() -> PathBuf {
    let out = Command::new("bash")
        .arg(script("setup_venv.sh"))
        .output()
        .expect("run setup_venv.sh");
    assert!(
        out.status.success(),
        "setup_venv.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("bin/python")
}

fn samples() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/stdf");
    ["demofile.stdf", "lot2.stdf"]
        .iter()
        .map(|n| {
            let p = dir.join(n);
            assert!(p.exists(), "{} missing", p.display());
            p.display().to_string()
        })
        .collect()
}

#[test]
fn every_record_of_both_samples_matches_pystdf() {
    let py = python();
    let out = Command::new(&py)
        .arg(script("pystdf_compare.py"))
        .arg(env!("CARGO_BIN_EXE_stdf2parquet"))
        .args(samples())
        .output()
        .expect("run pystdf_compare.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "comparison failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r["mismatches"], 0);
        let counts = &r["counts"];
        // The counts come from the record-by-record comparison.
        assert!(counts["PTR"].as_u64().unwrap() > 50_000, "{r}");
        assert_eq!(counts["PIR"], counts["PRR"], "{r}");
        let sum: u64 = counts
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(sum, r["records"].as_u64().unwrap());
    }
}

#[test]
fn comparison_detects_a_one_ulp_difference() {
    let py = python();
    let out = Command::new(&py)
        .arg(script("pystdf_compare.py"))
        .arg("--perturb")
        .arg(env!("CARGO_BIN_EXE_stdf2parquet"))
        .arg(&samples()[0])
        .output()
        .expect("run pystdf_compare.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "perturbed comparison passed:\n{stdout}"
    );
    assert!(
        stdout.contains("MISMATCH") && stdout.contains("PTR.RESULT"),
        "{stdout}"
    );
}
