//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// warga — Indonesian public services on one platform: the BPJS ledger, JagaWarga city
/// reports, and population services.
#[derive(Debug, Parser)]
#[command(name = "warga", version, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file; `WARGA_…` environment variables override it.
    #[arg(long, short = 'c', global = true, env = "WARGA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform in one process on embedded defaults (SQLite under ./data,
    /// in-process event bus, self-signed HTTPS on 127.0.0.1:8443).
    Up(UpArgs),
    /// Run a subset of the services, e.g. `--services system` (for multi-process deployments).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect and replay dead-lettered events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// List the services this binary can run.
    Services,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on, overriding `http.listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Comma-separated services to run (see `warga services`).
    #[arg(long, value_delimiter = ',', required = true, value_name = "LIST")]
    pub services: Vec<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Do not run the outbox relay and event consumers here (a stateless gateway replica).
    #[arg(long)]
    pub no_workers: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List dead-lettered events, oldest first.
    DeadLetters {
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Give dead-lettered events back to their consumer with a fresh attempt budget.
    Replay {
        /// Only this consumer's dead letters.
        #[arg(long)]
        consumer: Option<String>,
        /// Only this event.
        #[arg(long = "event", value_name = "EVENT_ID")]
        event_id: Option<String>,
        /// Replay every dead letter (required when no filter is given).
        #[arg(long)]
        all: bool,
    },
}
