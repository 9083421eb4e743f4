//! Loopback plumbing shared by the round-trip tests: a tonic server on an
//! ephemeral 127.0.0.1 port and a recorder for the requests a test server saw.

use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::Router;

/// Binds 127.0.0.1:0, serves `router` on it in a background task and returns the
/// `http://` URL a generated client connects to. The listener is bound before this
/// returns, so a client can connect at once (no waiting for readiness).
pub async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback listener");
    let addr = listener.local_addr().expect("listener address");
    tokio::spawn(async move {
        router
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("loopback server failed");
    });
    format!("http://{addr}")
}

/// Builds a `google.protobuf.Timestamp`.
#[allow(dead_code)]
pub fn ts(seconds: i64, nanos: i32) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos }
}

/// Builds a `google.protobuf.Duration`.
#[allow(dead_code)]
pub fn dur(seconds: i64, nanos: i32) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos }
}

/// Requests a test server received, in arrival order, for asserting that what the
/// client sent arrived unchanged.
#[derive(Debug)]
pub struct Recorder<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T: Clone> Recorder<T> {
    /// Appends one received request.
    pub fn push(&self, item: T) {
        self.0.lock().expect("recorder lock").push(item);
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<T> {
        self.0.lock().expect("recorder lock").clone()
    }
}
