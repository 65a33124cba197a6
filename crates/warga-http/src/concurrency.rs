//! The global limit on requests handled at once: past it, requests wait in line (until the
//! request timeout), and how many wait is visible — as `warga_http_requests_waiting` for
//! operators (saturation) and through [`ConcurrencyLimit::waiting`] for tests, which wait
//! for a request to be in line instead of sleeping.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::IntGauge;
use tokio::sync::Semaphore;

static WAITING: LazyLock<IntGauge> = LazyLock::new(|| {
    warga_telemetry::register(IntGauge::new(
        "warga_http_requests_waiting",
        "Requests waiting for a slot under http.concurrency_max.",
    ))
});

/// At most `max` requests in handlers at once, per application.
#[derive(Clone, Debug)]
pub struct ConcurrencyLimit {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl ConcurrencyLimit {
    pub fn new(max: usize) -> ConcurrencyLimit {
        LazyLock::force(&WAITING);
        ConcurrencyLimit {
            slots: Arc::new(Semaphore::new(max)),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Requests in line for a slot right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// Counts a request in line until it gets its slot or is dropped (timeout, disconnect).
struct InLine<'a>(&'a AtomicUsize);

impl<'a> InLine<'a> {
    fn enter(waiting: &'a AtomicUsize) -> InLine<'a> {
        waiting.fetch_add(1, Ordering::SeqCst);
        WAITING.inc();
        InLine(waiting)
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        WAITING.dec();
    }
}

pub(crate) async fn limit(State(limit): State<ConcurrencyLimit>, request: Request, next: Next) -> Response {
    let slot = match limit.slots.clone().try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            let _in_line = InLine::enter(&limit.waiting);
            match limit.slots.clone().acquire_owned().await {
                Ok(slot) => slot,
                // The semaphore is never closed; were it, the request would go on unlimited.
                Err(_) => return next.run(request).await,
            }
        }
    };
    let response = next.run(request).await;
    drop(slot);
    response
}
