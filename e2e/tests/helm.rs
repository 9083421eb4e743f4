//! The umbrella chart lints and installs (server-side dry run) on the real API server.

use std::collections::BTreeSet;

use mlfleet_e2e::{Plane, TestNamespace, repo_root};

fn kinds(manifests: &str) -> BTreeSet<String> {
    manifests
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(|k| k.trim().to_string())
        .collect()
}

#[test]
fn umbrella_chart_lints_and_installs_with_server_dry_run() -> anyhow::Result<()> {
    let plane = Plane::ensure()?;
    let chart = repo_root().join("charts/mlfleet");
    assert!(
        chart.join("Chart.yaml").is_file(),
        "no chart at {}",
        chart.display()
    );
    let chart = chart.display().to_string();
    plane.apply_crds()?;

    let lint = plane.helm(&["lint", &chart])?;
    assert!(
        lint.stdout.contains("1 chart(s) linted, 0 chart(s) failed"),
        "{}",
        lint.stdout
    );

    let ns = TestNamespace::create_blocking(plane, "helm")?;
    let rendered = plane
        .helm(&["template", "mlfleet-e2e", &chart, "-n", ns.name()])?
        .stdout;
    let install = plane
        .helm(&[
            "install",
            "mlfleet-e2e",
            &chart,
            "-n",
            ns.name(),
            "--dry-run=server",
        ])?
        .stdout;
    assert!(install.contains("STATUS: pending-install"), "{install}");
    let want = kinds(&rendered);
    assert!(!want.is_empty(), "chart renders nothing");
    assert_eq!(
        kinds(&install),
        want,
        "server dry run rendered other kinds than the client"
    );

    // A dry run must not have created the release.
    let releases = plane.helm(&["list", "-n", ns.name(), "-q"])?.stdout;
    assert!(releases.trim().is_empty(), "{releases}");
    Ok(())
}
