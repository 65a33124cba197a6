//! Logs, traces and metrics for every warga process.
//!
//! * Logs are JSON lines (or human-friendly with `telemetry.log_format = "pretty"`) through
//!   `tracing-subscriber`; messages are lowercase with structured fields.
//! * Every span is an OpenTelemetry span, so it has a trace id whether or not an exporter is
//!   configured; with `telemetry.otlp_endpoint` spans are batched to an OTLP/gRPC collector.
//! * The W3C `traceparent` of the current span is captured into events
//!   ([`current_traceparent`]) and restored by consumers ([`set_parent_from_traceparent`]),
//!   so one trace spans request → outbox → bus → consumer.
//! * Metrics live in the process-wide Prometheus registry; [`render_metrics`] is what
//!   `/metrics` serves.

#![forbid(unsafe_code)]

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use warga_config::{LogFormat, TelemetryConfig};

/// Keeps the tracer provider alive; dropping it flushes spans still buffered for export.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("warga: flushing traces failed: {error}");
        }
    }
}

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(config.service_name.clone())
            .build(),
    );
    if let Some(endpoint) = &config.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("warga");
    opentelemetry::global::set_tracer_provider(provider.clone());

    // The log filter applies to log output only: spans are traced (and carry trace ids into
    // events and problem documents) whatever the log level.
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&config.log_level))?;
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel);
    match config.log_format {
        LogFormat::Json => {
            let logs = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr)
                .with_filter(filter);
            registry.with(logs).try_init()?
        }
        LogFormat::Pretty => {
            let logs = tracing_subscriber::fmt::layer()
                .compact()
                .with_writer(std::io::stderr)
                .with_filter(filter);
            registry.with(logs).try_init()?
        }
    }
    Ok(TelemetryGuard { provider })
}

/// Installs tracing for tests once per process: spans get trace ids as in production, and
/// log output appears only when `TEST_LOG` is set.
pub fn init_for_tests() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let config = TelemetryConfig {
            log_level: if std::env::var_os("TEST_LOG").is_some() {
                "debug".into()
            } else {
                "off".into()
            },
            log_format: LogFormat::Pretty,
            ..TelemetryConfig::default()
        };
        // A test binary keeps its tracer for its whole life.
        if let Ok(guard) = init(&config) {
            std::mem::forget(guard);
        }
    });
}

/// The W3C `traceparent` of the current span, if it belongs to a sampled trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the trace described by `traceparent` (when present and valid).
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled; then there is nothing to link.
        let _ = span.set_parent(parent);
    }
}

/// The trace id of the current span as 32 hex digits, for logs and problem documents.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// Everything in the process-wide registry, in the Prometheus text exposition format.
pub fn render_metrics() -> String {
    let encoder = prometheus::TextEncoder::new();
    encoder
        .encode_to_string(&prometheus::gather())
        .unwrap_or_else(|error| format!("# metrics encoding failed: {error}\n"))
}

/// Registers a metric family in the process-wide registry, tolerating a second
/// registration of the same collector (tests build several apps in one process).
pub fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    match prometheus::register(Box::new(collector.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => collector,
        Err(error) => panic!("metric definition is invalid: {error}"),
    }
}
