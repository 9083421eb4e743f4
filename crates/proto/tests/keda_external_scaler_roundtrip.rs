//! Loopback round trip of KEDA's `externalscaler.ExternalScaler`: the four RPCs KEDA
//! v2 calls (IsActive, StreamIsActive, GetMetricSpec, GetMetrics) plus the optional
//! StreamMetricSpec, served the way mlfleet's scalers answer them: depth from a
//! queue named in the trigger metadata, reported in both the int and float fields.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use common::{Recorder, serve};
use futures::stream::{self, BoxStream, StreamExt};
use mlfleet_proto::externalscaler::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
    external_scaler_client::ExternalScalerClient,
    external_scaler_server::{ExternalScaler, ExternalScalerServer},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Request, Response, Status, transport::Server};

const METRIC: &str = "stdf-pending-files";

#[derive(Clone)]
struct TestScaler {
    /// Pending items per queue name.
    depths: Arc<Mutex<HashMap<String, u64>>>,
    refs: Recorder<ScaledObjectRef>,
    metric_requests: Recorder<GetMetricsRequest>,
    /// Activity changes for the (single) StreamIsActive call.
    activity: Arc<Mutex<Option<mpsc::Receiver<bool>>>>,
}

impl TestScaler {
    fn new(depths: &[(&str, u64)], activity: mpsc::Receiver<bool>) -> Self {
        Self {
            depths: Arc::new(Mutex::new(
                depths.iter().map(|(q, d)| (q.to_string(), *d)).collect(),
            )),
            refs: Recorder::default(),
            metric_requests: Recorder::default(),
            activity: Arc::new(Mutex::new(Some(activity))),
        }
    }

    fn depth(&self, object: &ScaledObjectRef) -> Result<u64, Status> {
        let queue = object
            .scaler_metadata
            .get("queue")
            .ok_or_else(|| Status::invalid_argument("trigger metadata lacks `queue`"))?;
        self.depths
            .lock()
            .expect("depths lock")
            .get(queue)
            .copied()
            .ok_or_else(|| Status::not_found(format!("queue {queue} not found")))
    }

    /// Our own activation threshold (KEDA applies none to external scalers).
    fn active(&self, object: &ScaledObjectRef) -> Result<bool, Status> {
        let threshold: u64 = object
            .scaler_metadata
            .get("activationThreshold")
            .map_or(Ok(0), |v| v.parse())
            .map_err(|_| Status::invalid_argument("activationThreshold is not a number"))?;
        Ok(self.depth(object)? > threshold)
    }

    fn spec(object: &ScaledObjectRef) -> Result<GetMetricSpecResponse, Status> {
        let target: f64 = object
            .scaler_metadata
            .get("filesPerWorker")
            .map_or(Ok(1.0), |v| v.parse())
            .map_err(|_| Status::invalid_argument("filesPerWorker is not a number"))?;
        Ok(GetMetricSpecResponse {
            metric_specs: vec![MetricSpec {
                metric_name: METRIC.into(),
                target_size: target as i64,
                target_size_float: target,
            }],
        })
    }
}

#[tonic::async_trait]
impl ExternalScaler for TestScaler {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let object = request.into_inner();
        self.refs.push(object.clone());
        Ok(Response::new(IsActiveResponse {
            result: self.active(&object)?,
        }))
    }

    type StreamIsActiveStream = BoxStream<'static, Result<IsActiveResponse, Status>>;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let object = request.into_inner();
        self.refs.push(object.clone());
        let now = self.active(&object)?;
        let changes = self
            .activity
            .lock()
            .expect("activity lock")
            .take()
            .ok_or_else(|| Status::resource_exhausted("one stream per test server"))?;
        let current = stream::once(async move { now });
        Ok(Response::new(
            current
                .chain(ReceiverStream::new(changes))
                .map(|result| Ok(IsActiveResponse { result }))
                .boxed(),
        ))
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let object = request.into_inner();
        self.refs.push(object.clone());
        Ok(Response::new(Self::spec(&object)?))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let request = request.into_inner();
        self.metric_requests.push(request.clone());
        let object = request
            .scaled_object_ref
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("scaledObjectRef is required"))?;
        if request.metric_name != METRIC {
            return Err(Status::not_found(format!(
                "no metric {}",
                request.metric_name
            )));
        }
        let depth = self.depth(object)?;
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: METRIC.into(),
                metric_value: depth as i64,
                metric_value_float: depth as f64,
            }],
        }))
    }

    type StreamMetricSpecStream = BoxStream<'static, Result<GetMetricSpecResponse, Status>>;

    async fn stream_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        let object = request.into_inner();
        self.refs.push(object.clone());
        let spec = Self::spec(&object)?;
        Ok(Response::new(stream::iter([Ok(spec)]).boxed()))
    }
}

fn scaled_object(queue: &str, extra: &[(&str, &str)]) -> ScaledObjectRef {
    let mut scaler_metadata = HashMap::from([
        ("queue".to_string(), queue.to_string()),
        (
            "scalerAddress".to_string(),
            "stdf-ingest-scaler.fab:9090".to_string(),
        ),
    ]);
    scaler_metadata.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ScaledObjectRef {
        name: "lot-42-workers".into(),
        namespace: "fab".into(),
        scaler_metadata,
    }
}

async fn start(
    depths: &[(&str, u64)],
) -> (
    TestScaler,
    mpsc::Sender<bool>,
    ExternalScalerClient<tonic::transport::Channel>,
) {
    let (tx, rx) = mpsc::channel(4);
    let scaler = TestScaler::new(depths, rx);
    let url = serve(Server::builder().add_service(ExternalScalerServer::new(scaler.clone()))).await;
    let client = ExternalScalerClient::connect(url).await.expect("connect");
    (scaler, tx, client)
}

#[tokio::test]
async fn is_active_applies_the_activation_threshold() {
    let (scaler, _tx, mut client) = start(&[("fab/lot-42", 3), ("fab/idle", 0)]).await;

    let busy = scaled_object("fab/lot-42", &[("activationThreshold", "2")]);
    let active = client.is_active(busy.clone()).await.expect("IsActive");
    assert!(active.into_inner().result);

    let below = scaled_object("fab/lot-42", &[("activationThreshold", "3")]);
    assert!(
        !client
            .is_active(below.clone())
            .await
            .expect("IsActive")
            .into_inner()
            .result
    );

    let idle = scaled_object("fab/idle", &[]);
    assert!(
        !client
            .is_active(idle.clone())
            .await
            .expect("IsActive")
            .into_inner()
            .result
    );

    // Name, namespace and the whole metadata map arrived as sent.
    assert_eq!(scaler.refs.all(), vec![busy, below, idle]);

    let status = client
        .is_active(scaled_object("fab/unknown", &[]))
        .await
        .expect_err("unknown queue");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn stream_is_active_sends_current_then_changes() {
    let (scaler, tx, mut client) = start(&[("fab/lot-42", 0)]).await;

    let object = scaled_object("fab/lot-42", &[]);
    let mut stream = client
        .stream_is_active(object.clone())
        .await
        .expect("StreamIsActive")
        .into_inner();
    let first = stream.message().await.expect("first").expect("open");
    assert!(!first.result, "empty queue starts inactive");

    for change in [true, false, true] {
        tx.send(change).await.expect("push change");
        let got = stream.message().await.expect("change").expect("open");
        assert_eq!(got.result, change);
    }
    drop(tx);
    assert_eq!(stream.message().await.expect("clean end"), None);
    assert_eq!(scaler.refs.all(), vec![object]);
}

#[tokio::test]
async fn get_metric_spec_returns_the_per_worker_target() {
    let (_scaler, _tx, mut client) = start(&[("fab/lot-42", 9)]).await;

    let spec = client
        .get_metric_spec(scaled_object("fab/lot-42", &[("filesPerWorker", "4")]))
        .await
        .expect("GetMetricSpec")
        .into_inner();
    assert_eq!(
        spec.metric_specs,
        vec![MetricSpec {
            metric_name: METRIC.into(),
            target_size: 4,
            target_size_float: 4.0,
        }]
    );
}

#[tokio::test]
async fn get_metrics_reports_depth_in_int_and_float() {
    let (scaler, _tx, mut client) = start(&[("fab/lot-42", 37)]).await;

    let request = GetMetricsRequest {
        scaled_object_ref: Some(scaled_object("fab/lot-42", &[("filesPerWorker", "4")])),
        metric_name: METRIC.into(),
    };
    let values = client
        .get_metrics(request.clone())
        .await
        .expect("GetMetrics")
        .into_inner()
        .metric_values;
    assert_eq!(
        values,
        vec![MetricValue {
            metric_name: METRIC.into(),
            metric_value: 37,
            metric_value_float: 37.0,
        }]
    );
    assert_eq!(scaler.metric_requests.all(), vec![request]);

    let status = client
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: Some(scaled_object("fab/lot-42", &[])),
            metric_name: "other".into(),
        })
        .await
        .expect_err("unknown metric");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn stream_metric_spec_sends_the_current_spec() {
    let (_scaler, _tx, mut client) = start(&[("fab/lot-42", 1)]).await;

    let object = scaled_object("fab/lot-42", &[("filesPerWorker", "2.5")]);
    let mut stream = client
        .stream_metric_spec(object.clone())
        .await
        .expect("StreamMetricSpec")
        .into_inner();
    let first = stream.message().await.expect("first").expect("open");
    // The streamed spec equals what GetMetricSpec answers, as KEDA requires.
    let polled = client.get_metric_spec(object).await.expect("GetMetricSpec");
    assert_eq!(first, polled.into_inner());
    assert_eq!(first.metric_specs[0].target_size_float, 2.5);
    assert_eq!(stream.message().await.expect("clean end"), None);
}
