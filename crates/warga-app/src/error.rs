//! Why the platform could not start.

/// Why the platform could not start; `Usage` is the operator's to fix (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A setting or argument names something that is not there.
    #[error("{0}")]
    Usage(String),
    #[error("cannot open the database")]
    Database(#[source] warga_store::StoreError),
    #[error("cannot migrate the database")]
    Migrate(#[source] warga_store::StoreError),
    #[error("cannot connect the event bus")]
    Bus(#[source] warga_bus::BusError),
    #[error("cannot start event workers")]
    Workers(#[source] warga_bus::BusError),
    #[error("cannot set up authentication and rate limits")]
    Platform(#[source] warga_http::EdgeError),
    #[error("cannot serve HTTPS")]
    Http(#[source] warga_http::EdgeError),
    #[error("cannot bootstrap identity: {0}")]
    Identity(String),
    #[error("cannot start the ledger network: {0}")]
    Ledger(String),
    /// A backup or a restore could not be made; nothing was left half-written.
    #[error("{0}")]
    Backup(String),
}

impl AppError {
    /// Whether the operator's settings or arguments are at fault (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, AppError::Usage(_))
    }
}
