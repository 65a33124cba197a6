//! Logs, traces and metrics for every warga process.
//!
//! * Logs go to standard error through `tracing-subscriber`: human-friendly on a terminal,
//!   JSON lines otherwise (`telemetry.log_format` chooses); messages are lowercase with
//!   structured fields. `telemetry.log_level` is warga's level; dependencies log at `warn`
//!   unless `RUST_LOG` (or a directive with a target) says otherwise.
//! * Every span is an OpenTelemetry span, so it has a trace id whether or not an exporter is
//!   configured; with `telemetry.otlp_endpoint` spans are batched to an OTLP/gRPC collector.
//! * The W3C `traceparent` of the current span is captured into events
//!   ([`current_traceparent`]) and restored by consumers ([`set_parent_from_traceparent`]),
//!   so one trace spans request → outbox → bus → consumer.
//! * Metrics live in the process-wide Prometheus registry; [`render_metrics`] is what
//!   `/metrics` serves.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

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

/// Why logging and tracing could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.otlp_endpoint: {0}")]
    Exporter(String),
    #[error("telemetry.log_level: {0}")]
    Filter(String),
    #[error("a logger is already installed: {0}")]
    Installed(String),
}

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
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
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("warga");
    opentelemetry::global::set_tracer_provider(provider.clone());

    // The log filter applies to log output only: spans are traced (and carry trace ids into
    // events and problem documents) whatever the log level.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(directives(&config.log_level)))
        .map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel);
    let format = match config.log_format {
        LogFormat::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => LogFormat::Pretty,
        LogFormat::Auto => LogFormat::Json,
        other => other,
    };
    match format {
        LogFormat::Json | LogFormat::Auto => {
            let logs = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr)
                .with_filter(filter);
            registry
                .with(logs)
                .try_init()
                .map_err(|e| TelemetryError::Installed(e.to_string()))?
        }
        LogFormat::Pretty => {
            let logs = tracing_subscriber::fmt::layer()
                .compact()
                .with_writer(std::io::stderr)
                .with_filter(filter);
            registry
                .with(logs)
                .try_init()
                .map_err(|e| TelemetryError::Installed(e.to_string()))?
        }
    }
    Ok(TelemetryGuard { provider })
}

/// The filter of `telemetry.log_level`: a plain level applies to warga's own crates, while
/// dependencies (hyper, sqlx, …) log at `warn` and openraft — whose warnings are the
/// ordinary back-and-forth of an election — at `error`; anything with a target or a comma is
/// taken as written.
fn directives(log_level: &str) -> String {
    let level = log_level.trim();
    let plain = !level.contains(['=', ',']);
    let chattier_than_warn = matches!(level.to_ascii_lowercase().as_str(), "info" | "debug" | "trace");
    if plain && chattier_than_warn {
        format!("warn,openraft=error,warga={level}")
    } else {
        level.to_owned()
    }
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

/// When each certificate this process serves or signs with expires, by name (`https`, a
/// ledger node's `tls` or `msp` certificate), for the alert 30 days before.
static CERTIFICATE_NOT_AFTER: std::sync::LazyLock<prometheus::IntGaugeVec> = std::sync::LazyLock::new(|| {
    register(prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "warga_certificate_not_after_seconds",
            "When a certificate this process uses expires, seconds since the epoch.",
        ),
        &["certificate"],
    ))
});

/// Records when the certificate called `name` expires (seconds since the epoch).
pub fn certificate_not_after(name: &str, not_after_s: i64) {
    CERTIFICATE_NOT_AFTER.with_label_values(&[name]).set(not_after_s);
}

/// Registers a metric family (as its constructor returned it) in the process-wide
/// registry, tolerating a second registration of the same collector (tests build several
/// apps in one process).
#[allow(
    clippy::panic,
    reason = "an invalid metric definition is a programming error, found by the first test that starts"
)]
pub fn register<C: prometheus::core::Collector + Clone + 'static>(definition: prometheus::Result<C>) -> C {
    let collector = match definition {
        Ok(collector) => collector,
        Err(error) => panic!("metric definition is invalid: {error}"),
    };
    match prometheus::register(Box::new(collector.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => collector,
        Err(error) => panic!("metric definition is invalid: {error}"),
    }
}

#[cfg(test)]
mod filter_tests {
    #[test]
    fn a_plain_level_quiets_dependencies() {
        assert_eq!(super::directives("info"), "warn,openraft=error,warga=info");
        assert_eq!(super::directives("debug"), "warn,openraft=error,warga=debug");
        assert_eq!(super::directives("warn"), "warn");
        assert_eq!(super::directives("off"), "off");
        assert_eq!(
            super::directives("openraft=info,warga=debug"),
            "openraft=info,warga=debug"
        );
    }
}
