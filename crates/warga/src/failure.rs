//! How a command fails: one line for the operator and an exit code (2 for bad usage or
//! configuration, 1 for everything else).

use std::fmt;

/// A command failure: a message for the operator and the exit code.
pub struct Failure {
    error: anyhow::Error,
    code: u8,
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// Bad configuration or usage: exit code 2.
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            error: error.into(),
            code: 2,
        }
    }

    /// Bad configuration or usage, as a message: exit code 2.
    pub fn usage_msg(message: impl fmt::Display) -> Self {
        Self::usage(anyhow::anyhow!("{message}"))
    }

    /// The platform could not start or open.
    pub fn app(error: warga_app::AppError) -> Self {
        if error.is_usage() {
            Self::usage(error)
        } else {
            Self::from(error)
        }
    }

    /// A ledger node could not start or run.
    pub fn node(error: warga_ledger_node::NodeError) -> Self {
        match error {
            warga_ledger_node::NodeError::Usage(_) => Self::usage(error),
            other => Self::from(other),
        }
    }

    /// A benchmark did not run to the end.
    pub fn bench(error: warga_bench::BenchError) -> Self {
        match error {
            warga_bench::BenchError::Usage(_) => Self::usage(error),
            warga_bench::BenchError::Failed(error) => Self::from(error),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            code: 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

/// The configuration file (or defaults) with `WARGA_…` variables, and the command line's
/// log format over it.
pub fn load_config(
    file: Option<&std::path::Path>,
    log_format: Option<crate::cli::LogFormatArg>,
) -> Result<warga_config::Config, Failure> {
    let mut config =
        warga_config::Config::load_with(file, &warga_app::services::config_sections()).map_err(Failure::usage)?;
    if let Some(format) = log_format {
        config.telemetry.log_format = match format {
            crate::cli::LogFormatArg::Auto => warga_config::LogFormat::Auto,
            crate::cli::LogFormatArg::Json => warga_config::LogFormat::Json,
            crate::cli::LogFormatArg::Pretty => warga_config::LogFormat::Pretty,
        };
    }
    Ok(config)
}

/// Installs logging for a long-running command; logs go to standard error.
pub fn start_logging(config: &warga_config::Config) -> Result<warga_telemetry::TelemetryGuard, Failure> {
    warga_telemetry::init(&config.telemetry)
        .map_err(|e| Failure::usage(anyhow::Error::new(e).context("cannot start logging")))
}
