//! `warga`: one binary, many roles.
//!
//! The binary is thin: it parses the command line, loads configuration, and composes the
//! service libraries (`services/*`) with the platform crates. `warga up` runs every service
//! in one process on embedded defaults; `warga serve --services …` runs a subset against
//! shared engines (PostgreSQL, NATS JetStream).

#![forbid(unsafe_code)]

mod bench;
mod bench_ledger;
mod cli;
mod commands;
mod ledger;
mod ledger_net;
mod run;
mod services;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warga: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the error and its causes.
            let line = format!("{error:#}").replace('\n', " ");
            eprintln!("warga: error: {line}");
            ExitCode::from(error.exit_code())
        }
    }
}
