//! Starts the runtime's gRPC server on loopback and queries grpc.health.v1 over a real
//! connection with the tonic-health client.

use std::time::Duration;

use mlfleet_runtime::Shutdown;
use mlfleet_runtime::config::TlsFiles;
use mlfleet_runtime::grpc::{ClientOptions, GrpcError, GrpcServer, connect, connect_lazy};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as Wire;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_check_over_loopback_and_graceful_stop() {
    let server = GrpcServer::new();
    let health = server.health();
    health
        .set_service_status("mlfleet.test.v1.Thing", ServingStatus::NotServing)
        .await;
    let listener = GrpcServer::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(server.serve(listener, shutdown.clone()));

    let opts = ClientOptions {
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let channel = connect(&format!("http://{addr}"), &opts).await.unwrap();
    let mut client = HealthClient::new(channel);
    let check = |service: &str| HealthCheckRequest {
        service: service.to_string(),
    };

    let overall = client.check(check("")).await.unwrap().into_inner();
    assert_eq!(overall.status, Wire::Serving as i32);
    let thing = client
        .check(check("mlfleet.test.v1.Thing"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(thing.status, Wire::NotServing as i32);
    health
        .set_service_status("mlfleet.test.v1.Thing", ServingStatus::Serving)
        .await;
    let thing = client
        .check(check("mlfleet.test.v1.Thing"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(thing.status, Wire::Serving as i32);
    let unknown = client.check(check("no.such.Service")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("server stops after shutdown")
        .unwrap()
        .unwrap();
    assert!(connect(&format!("http://{addr}"), &opts).await.is_err());
}

#[tokio::test]
async fn bad_tls_files_and_endpoints_are_typed_errors() {
    let missing = TlsFiles {
        cert: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
        client_ca: None,
    };
    let err = GrpcServer::new()
        .with_tls(Some(&missing))
        .await
        .unwrap_err();
    assert!(matches!(err, GrpcError::ReadFile { .. }), "{err}");

    let dir = std::env::temp_dir().join(format!("mlfleet-grpc-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let garbage = TlsFiles {
        cert,
        key,
        client_ca: None,
    };
    let err = GrpcServer::new()
        .with_tls(Some(&garbage))
        .await
        .unwrap_err();
    assert!(matches!(err, GrpcError::Tls(_)), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();

    let err = connect_lazy("not a uri", &ClientOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, GrpcError::Endpoint { .. }), "{err}");
    // A lazy channel to an absent peer is created without blocking.
    assert!(
        connect_lazy("http://127.0.0.1:1", &ClientOptions::default())
            .await
            .is_ok()
    );
}
