//! Logs, traces and metrics for the process.
//!
//! Logs go to stdout as JSON (or text) through `tracing-subscriber`. When
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or a signal-specific `OTEL_EXPORTER_OTLP_*_ENDPOINT`) is
//! set, spans are also exported over OTLP/gRPC through a `tracing-opentelemetry` layer, and
//! a global OpenTelemetry meter provider pushes metrics over OTLP. All other standard
//! `OTEL_*` variables (headers, timeout, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, …)
//! are honoured by the exporters themselves. Keep the returned [`TelemetryGuard`] alive for
//! the life of the process: dropping it flushes and shuts the exporters down.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Errors while setting up logging and telemetry export.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The `--log-level` value is not valid EnvFilter syntax.
    #[error("invalid log filter {filter:?}: {source}")]
    InvalidFilter {
        /// The rejected filter text.
        filter: String,
        /// Parser error.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global tracing subscriber was already installed in this process.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInitialized,
    /// The OTLP span exporter could not be built.
    #[error("building the OTLP span exporter: {0}")]
    SpanExporter(#[source] opentelemetry_otlp::ExporterBuildError),
    /// The OTLP metric exporter could not be built.
    #[error("building the OTLP metric exporter: {0}")]
    MetricExporter(#[source] opentelemetry_otlp::ExporterBuildError),
}

/// Keeps the OTLP exporters alive; flushes and shuts them down when dropped.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Whether OTLP export is active.
    pub fn otlp_enabled(&self) -> bool {
        self.tracer_provider.is_some()
    }

    /// Flushes pending spans and metrics and shuts the exporters down.
    pub fn shutdown(mut self) {
        self.shutdown_inner();
    }

    fn shutdown_inner(&mut self) {
        if let Some(tp) = self.tracer_provider.take()
            && let Err(e) = tp.shutdown()
        {
            eprintln!("telemetry: shutting down the tracer provider: {e}");
        }
        if let Some(mp) = self.meter_provider.take()
            && let Err(e) = mp.shutdown()
        {
            eprintln!("telemetry: shutting down the meter provider: {e}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

/// Whether the standard environment asks for OTLP export (any `OTEL_EXPORTER_OTLP_*ENDPOINT`).
pub fn otlp_requested() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]
    .iter()
    .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()))
}

/// Builds the log filter from EnvFilter syntax (`info`, `info,kube=warn`, …).
pub fn parse_filter(filter: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(filter).map_err(|source| TelemetryError::InvalidFilter {
        filter: filter.to_string(),
        source,
    })
}

fn resource(service_name: &str) -> Resource {
    let builder = Resource::builder();
    // OTEL_SERVICE_NAME (read by the default detectors) wins over the binary name.
    if std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) {
        builder.build()
    } else {
        builder.with_service_name(service_name.to_string()).build()
    }
}

/// Installs the global tracing subscriber (and, when requested by the environment, OTLP
/// trace and metric export). Must be called inside a Tokio runtime when OTLP is enabled.
pub fn init(
    service_name: &str,
    format: LogFormat,
    filter: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    let filter = parse_filter(filter)?;
    let mut guard = TelemetryGuard::default();

    let otel_layer = if otlp_requested() {
        let resource = resource(service_name);
        let span_exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(TelemetryError::SpanExporter)?;
        let tracer_provider = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(span_exporter)
            .build();
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .map_err(TelemetryError::MetricExporter)?;
        let meter_provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_periodic_exporter(metric_exporter)
            .build();
        let tracer = tracer_provider.tracer(service_name.to_string());
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        opentelemetry::global::set_tracer_provider(tracer_provider.clone());
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        guard.tracer_provider = Some(tracer_provider);
        guard.meter_provider = Some(meter_provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    } else {
        None
    };

    let (json, text) = match format {
        LogFormat::Json => (
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            ),
            None,
        ),
        LogFormat::Text => (
            None,
            Some(tracing_subscriber::fmt::layer().with_ansi(false)),
        ),
    };

    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(text)
        .with(otel_layer)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialized)?;
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_syntax_is_validated() {
        assert!(parse_filter("info").is_ok());
        assert!(parse_filter("info,kube=warn,mlfleet_runtime=debug").is_ok());
        assert!(matches!(
            parse_filter("info,kube=notalevel"),
            Err(TelemetryError::InvalidFilter { .. })
        ));
    }
}
