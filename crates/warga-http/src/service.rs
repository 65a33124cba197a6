//! What a warga service is, to the process that runs it.

use std::sync::Arc;

use warga_bus::{Bus, Handler};
use warga_config::Config;
use warga_store::{MigrationSet, Store};

/// Everything a service needs from the process: configuration, storage and the bus.
#[derive(Clone)]
pub struct Platform {
    pub config: Arc<Config>,
    pub store: Store,
    pub bus: Bus,
}

/// A warga service: a library that contributes routes, an OpenAPI document, event
/// handlers and migrations. `warga up` runs all of them; `warga serve --services` any subset.
pub trait Service: Send + Sync + 'static {
    /// The name used with `serve --services`.
    fn name(&self) -> &'static str;
    /// One line describing the service, for `--help` and logs.
    fn summary(&self) -> &'static str;
    /// The service's tables, for both engines.
    fn migrations(&self) -> MigrationSet;
    /// Routes, with absolute paths (`/api/v1/<service>/…`) and state already applied.
    fn router(&self, platform: &Platform) -> axum::Router;
    /// The OpenAPI description of [`Service::router`].
    fn openapi(&self) -> utoipa::openapi::OpenApi;
    /// Durable event consumers; they run where background workers are enabled.
    fn handlers(&self, platform: &Platform) -> Vec<Arc<dyn Handler>>;
}
