//! Bus metrics in the process-wide Prometheus registry.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};
use warga_telemetry::register;

pub static OUTBOX_BACKLOG: LazyLock<IntGauge> = LazyLock::new(|| {
    register(IntGauge::new(
        "warga_outbox_backlog",
        "Outbox events not yet published to the bus.",
    ))
});

pub static RELAY_LAG_SECONDS: LazyLock<prometheus::Gauge> = LazyLock::new(|| {
    register(prometheus::Gauge::new(
        "warga_relay_lag_seconds",
        "Age of the oldest outbox event not yet published.",
    ))
});

pub static EVENTS_PUBLISHED: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new(
        "warga_events_published_total",
        "Outbox events handed to the bus.",
    ))
});

pub static RELAY_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new(
        "warga_relay_failures_total",
        "Relay rounds that failed to publish (broker or database down).",
    ))
});

pub static RELAY_PUBLISH_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register(Histogram::with_opts(HistogramOpts::new(
        "warga_relay_publish_seconds",
        "Time to publish one relay batch and record it as published.",
    )))
});

fn consumer_counter(name: &str, help: &str) -> IntCounterVec {
    register(IntCounterVec::new(Opts::new(name, help), &["consumer"]))
}

pub static CONSUMER_PROCESSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    consumer_counter(
        "warga_consumer_processed_total",
        "Events whose effect a consumer committed.",
    )
});

pub static CONSUMER_DUPLICATES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    consumer_counter(
        "warga_consumer_duplicates_total",
        "Redelivered events a consumer skipped as already processed.",
    )
});

pub static CONSUMER_FAILURES: LazyLock<IntCounterVec> =
    LazyLock::new(|| consumer_counter("warga_consumer_failures_total", "Failed attempts to handle an event."));

pub static CONSUMER_DEAD_LETTERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    consumer_counter(
        "warga_consumer_dead_lettered_total",
        "Events moved to the dead letters after the last attempt.",
    )
});

pub static CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new("warga_consumer_lag", "Events waiting for a consumer."),
        &["consumer"],
    ))
});

pub static CONSUMER_HANDLE_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(HistogramVec::new(
        HistogramOpts::new(
            "warga_consumer_handle_seconds",
            "Time to handle one event, commit included.",
        ),
        &["consumer"],
    ))
});

/// Gives every per-consumer series of `consumer` its zero, so dashboards and alerts see a
/// consumer that has not failed yet (Prometheus's advice for labelled metrics).
pub fn describe_consumer(consumer: &str) {
    for counter in [
        &CONSUMER_PROCESSED,
        &CONSUMER_DUPLICATES,
        &CONSUMER_FAILURES,
        &CONSUMER_DEAD_LETTERED,
    ] {
        counter.with_label_values(&[consumer]);
    }
    CONSUMER_LAG.with_label_values(&[consumer]);
}

/// Touches every metric so `/metrics` lists them before the first event.
pub fn describe() {
    LazyLock::force(&OUTBOX_BACKLOG);
    LazyLock::force(&RELAY_LAG_SECONDS);
    LazyLock::force(&EVENTS_PUBLISHED);
    LazyLock::force(&RELAY_FAILURES);
    LazyLock::force(&RELAY_PUBLISH_SECONDS);
    LazyLock::force(&CONSUMER_PROCESSED);
    LazyLock::force(&CONSUMER_DUPLICATES);
    LazyLock::force(&CONSUMER_FAILURES);
    LazyLock::force(&CONSUMER_DEAD_LETTERED);
    LazyLock::force(&CONSUMER_LAG);
    LazyLock::force(&CONSUMER_HANDLE_SECONDS);
}
