//! The built binary as a whole process: `--help`, then a real `run` (simulated
//! backend, no cluster) whose admin server answers `/healthz`, `/readyz` and
//! `/metrics`, and whose DCGM endpoint serves DCGM-named series.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gpu-node-agent");

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A plain HTTP/1.0 GET; returns (status code, body).
fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let code = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((code, body.to_string()))
}

/// Polls `path` until it answers `want` or the deadline passes.
fn wait_for_status(addr: &str, path: &str, want: u16, agent: &mut Kill) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(exit) = agent.0.try_wait().unwrap() {
            panic!("the agent exited early with {exit}");
        }
        match get(addr, path) {
            Ok((code, body)) if code == want => return (code, body),
            last if Instant::now() > deadline => panic!("{path} never answered {want}: {last:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn help_lists_the_subcommands_and_run_flags() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in ["run", "probe", "watch"] {
        assert!(text.contains(sub), "missing {sub} in:\n{text}");
    }
    let out = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--node-name",
        "--backend",
        "--admin-addr",
        "--grpc-addr",
        "--log-format",
    ] {
        assert!(text.contains(flag), "missing {flag} in:\n{text}");
    }
}

#[test]
fn a_bad_flag_is_refused_before_anything_starts() {
    let out = Command::new(BIN)
        .args(["run", "--node-name", "n", "--sample-interval", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap's usage error code");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--sample-interval"), "{err}");
}

#[test]
fn admin_server_of_the_running_binary_answers_health_ready_and_metrics() {
    let (admin, grpc, dcgm) = (free_addr(), free_addr(), free_addr());
    let mut agent = Kill(
        Command::new(BIN)
            .args(["run", "--node-name", "test-node", "--backend", "simulated"])
            .args([
                "--sim-gpus",
                "2",
                "--kube-sync=false",
                "--leader-elect=false",
            ])
            .args(["--admin-addr", &admin, "--grpc-addr", &grpc])
            .args(["--dcgm-metrics-addr", &dcgm, "--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let (_, body) = wait_for_status(&admin, "/healthz", 200, &mut agent);
    assert!(!body.is_empty());
    wait_for_status(&admin, "/readyz", 200, &mut agent);
    let (_, metrics) = wait_for_status(&admin, "/metrics", 200, &mut agent);
    assert!(
        metrics.contains("# TYPE") && metrics.trim_end().ends_with("# EOF"),
        "not OpenMetrics text:\n{metrics}"
    );
    let (code, _) = get(&admin, "/no-such-path").unwrap();
    assert_eq!(code, 404);

    // One DCGM series per simulated GPU once the first sample is in.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = wait_for_status(&dcgm, "/metrics", 200, &mut agent);
        let series = text
            .lines()
            .filter(|l| l.starts_with("DCGM_FI_DEV_FB_FREE{"))
            .count();
        if series == 2 {
            assert!(text.contains("Hostname=\"test-node\""), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "expected 2 GPU series:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
