//! Loopback round trip of `mlfleet.queue.v1.QueueDepth`: the unary read and a watch
//! whose updates the test pushes while the stream is open.

mod common;

use std::sync::{Arc, Mutex};

use common::{Recorder, dur, serve, ts};
use futures::stream::{self, BoxStream, StreamExt};
use mlfleet_proto::queue::v1::{
    GetQueueDepthRequest, GetQueueDepthResponse, QueueDepthSample, WatchQueueDepthRequest,
    queue_depth_client::QueueDepthClient,
    queue_depth_server::{QueueDepth, QueueDepthServer},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, transport::Server};

const QUEUE: &str = "ingest/lot-42";

fn sample(pending: u64, in_progress: u64, second: i64) -> QueueDepthSample {
    QueueDepthSample {
        queue: QUEUE.into(),
        pending,
        in_progress,
        oldest_pending_age: (pending > 0).then(|| dur(second - 1_790_000_000, 500)),
        observed_time: Some(ts(second, 0)),
    }
}

#[derive(Clone)]
struct TestQueues {
    gets: Recorder<GetQueueDepthRequest>,
    watches: Recorder<WatchQueueDepthRequest>,
    /// Later samples for the (single) watch; taken by the first WatchQueueDepth.
    updates: Arc<Mutex<Option<mpsc::Receiver<QueueDepthSample>>>>,
}

impl TestQueues {
    fn new(updates: mpsc::Receiver<QueueDepthSample>) -> Self {
        Self {
            gets: Recorder::default(),
            watches: Recorder::default(),
            updates: Arc::new(Mutex::new(Some(updates))),
        }
    }

    fn known(queue: &str) -> Result<(), Status> {
        if queue == QUEUE {
            Ok(())
        } else {
            Err(Status::not_found(format!("queue {queue} not found")))
        }
    }
}

#[tonic::async_trait]
impl QueueDepth for TestQueues {
    async fn get_queue_depth(
        &self,
        request: Request<GetQueueDepthRequest>,
    ) -> Result<Response<GetQueueDepthResponse>, Status> {
        let request = request.into_inner();
        self.gets.push(request.clone());
        Self::known(&request.queue)?;
        Ok(Response::new(GetQueueDepthResponse {
            depth: Some(sample(17, 3, 1_790_000_010)),
        }))
    }

    type WatchQueueDepthStream = BoxStream<'static, Result<QueueDepthSample, Status>>;

    async fn watch_queue_depth(
        &self,
        request: Request<WatchQueueDepthRequest>,
    ) -> Result<Response<Self::WatchQueueDepthStream>, Status> {
        let request = request.into_inner();
        self.watches.push(request.clone());
        Self::known(&request.queue)?;
        let updates = self
            .updates
            .lock()
            .expect("updates lock")
            .take()
            .ok_or_else(|| Status::resource_exhausted("one watch per test server"))?;
        // Current depth first, then every pushed change until the sender is dropped.
        let current = stream::once(async { sample(17, 3, 1_790_000_010) });
        Ok(Response::new(
            current.chain(ReceiverStream::new(updates)).map(Ok).boxed(),
        ))
    }
}

#[tokio::test]
async fn get_queue_depth_returns_the_sample() {
    let (_tx, rx) = mpsc::channel(1);
    let queues = TestQueues::new(rx);
    let url = serve(Server::builder().add_service(QueueDepthServer::new(queues.clone()))).await;
    let mut client = QueueDepthClient::connect(url).await.expect("connect");

    let request = GetQueueDepthRequest {
        queue: QUEUE.into(),
    };
    let depth = client
        .get_queue_depth(request.clone())
        .await
        .expect("GetQueueDepth")
        .into_inner()
        .depth;
    assert_eq!(depth, Some(sample(17, 3, 1_790_000_010)));
    assert_eq!(queues.gets.all(), vec![request]);

    let status = client
        .get_queue_depth(GetQueueDepthRequest {
            queue: "nope".into(),
        })
        .await
        .expect_err("unknown queue");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn watch_queue_depth_sends_current_then_each_change() {
    let (tx, rx) = mpsc::channel(4);
    let queues = TestQueues::new(rx);
    let url = serve(Server::builder().add_service(QueueDepthServer::new(queues.clone()))).await;
    let mut client = QueueDepthClient::connect(url).await.expect("connect");

    let request = WatchQueueDepthRequest {
        queue: QUEUE.into(),
    };
    let mut stream = client
        .watch_queue_depth(request.clone())
        .await
        .expect("WatchQueueDepth")
        .into_inner();

    let first = stream.message().await.expect("first").expect("open");
    assert_eq!(first, sample(17, 3, 1_790_000_010));

    // Each change pushed while the stream is open arrives next, in order.
    for (pending, second) in [(12, 1_790_000_020), (0, 1_790_000_030)] {
        let update = sample(pending, 2, second);
        tx.send(update.clone()).await.expect("push update");
        let got = stream.message().await.expect("update").expect("open");
        assert_eq!(got, update);
    }
    drop(tx);
    assert_eq!(stream.message().await.expect("clean end"), None);
    assert_eq!(queues.watches.all(), vec![request]);
}
