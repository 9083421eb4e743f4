//! Starts the runtime's admin server on loopback and checks the three endpoints over HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use mlfleet_runtime::CommonArgs;
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

/// Minimal HTTP/1.1 GET; returns (status, headers+body text).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response within 10s")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    (status, text)
}

#[tokio::test]
async fn admin_endpoints_through_start() {
    let args = Cli::parse_from([
        "test",
        "--admin-addr",
        "127.0.0.1:0",
        "--log-format",
        "text",
        "--log-level",
        "warn",
    ])
    .common;
    let started = mlfleet_runtime::start("admin-test", &args).await.unwrap();
    let addr = started.admin_addr;
    assert_ne!(addr.port(), 0);

    let requests: Counter = Counter::default();
    started.registry.register(
        "test_requests",
        "Requests seen by the test",
        requests.clone(),
    );
    requests.inc_by(3);

    let (code, _) = get(addr, "/healthz").await;
    assert_eq!(code, 200);

    let (code, _) = get(addr, "/readyz").await;
    assert_eq!(code, 503, "not ready before caches sync");
    started.readiness.mark_ready();
    let (code, _) = get(addr, "/readyz").await;
    assert_eq!(code, 200);

    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        body.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE mlfleet_test_requests counter"),
        "{body}"
    );
    assert!(body.contains("mlfleet_test_requests_total 3"), "{body}");

    let (code, _) = get(addr, "/nope").await;
    assert_eq!(code, 404);

    // Graceful stop: finish returns once shutdown is triggered and the server drained.
    let shutdown = started.shutdown.clone();
    let readiness = started.readiness.clone();
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), started.finish())
        .await
        .expect("finish within 10s")
        .unwrap();
    assert!(!readiness.is_ready());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
