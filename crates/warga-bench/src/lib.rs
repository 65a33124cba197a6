//! warga's load generators, run by `warga bench …`:
//!
//! - [`registry`]: the population seed's load test — concurrent registrations through
//!   HTTPS with real tokens against a `warga up` started for the run, consistency checked
//!   in the database, throughput compared with pgbench on the same server;
//! - [`reports`]: JagaWarga's flood — citizens' reports through HTTPS at fixed and maximum
//!   rates, with and without photos, until every department has been told;
//! - [`ledger`]: Caliper-style rate-controlled load on the BPJS network (as processes and
//!   inside `warga up`), TPS and latency against the machine's signature-verification
//!   ceiling;
//! - [`config_update`]: how long a channel configuration update takes to apply on every
//!   peer of the network as processes, against an ordinary transaction in the same run;
//! - [`soak`]: a long mixed load (registrations, sign-ins, ledger submits and queries) on
//!   one `warga up`, memory, open files and latency recorded over time, plotted as SVG;
//! - [`chaos`]: the fault suite — `warga up` killed, its broker killed, under a registration
//!   load, ending in a check that nothing acknowledged was lost or applied twice.
//!
//! Each drives a child `warga` process (the executable running them) and print Markdown for
//! BENCHMARKS.md. Like the binary, they report failures with `anyhow`: they are drivers,
//! called by nothing but the `warga bench` command.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod channels;
pub mod chaos;
mod child;
pub mod config_update;
pub mod ledger;
pub mod registry;
pub mod reports;
pub mod soak;

/// Why a benchmark did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The arguments cannot describe a run (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}
