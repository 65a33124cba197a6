//! `warga`: one binary, many roles.
//!
//! The binary is thin: it parses the command line ([`cli`]), loads configuration, and hands
//! each command to its system's module under `commands/` — platform, identity, population,
//! ledger, bench. What a command does lives in libraries: the composition of services in
//! `warga-app`, the ledger's nodes and clients in `warga-ledger-*`, the load generators in
//! `warga-bench`. Failures print as one line with an exit code ([`failure`]).

mod cli;
mod commands {
    pub mod bench;
    pub mod identity;
    pub mod ledger;
    pub mod platform;
    pub mod population;
}
mod failure;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigCommand, DataKeysCommand, RegistryCommand, StatsCommand};
use commands::{bench, identity, ledger, platform, population};
use failure::{Failure, load_config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One crypto provider for every rustls user in the process (HTTPS, PostgreSQL, NATS, gRPC).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warga: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the error and its causes.
            let line = format!("{error:#}").replace('\n', " ");
            eprintln!("warga: error: {line}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let config = || load_config(cli.config.as_deref(), cli.log_format);
    match cli.command {
        Command::Up(args) => platform::up(config()?, args).await,
        Command::Serve(args) => platform::serve(config()?, args).await,
        Command::Migrate => platform::migrate(config()?).await,
        Command::Config(ConfigCommand::Check) => {
            platform::config_check(&config()?);
            Ok(())
        }
        Command::Services => {
            platform::services();
            Ok(())
        }
        Command::Events(command) => platform::events(config()?, command).await,
        Command::Keys(DataKeysCommand::Rotate) => platform::rotate_data_keys(config()?).await,
        Command::Backup { to } => platform::backup(config()?, &to).await,
        Command::Restore { from } => platform::restore(config()?, &from),
        Command::Audit(command) => platform::audit(config()?, command).await,
        Command::Admin(command) => identity::admin(config()?, command).await,
        Command::Registry(RegistryCommand::Import { file, report }) => {
            population::import_residents(config()?, &file, &report).await
        }
        Command::Registry(RegistryCommand::Attest { nik, crypto }) => population::attest(config()?, &nik, crypto).await,
        Command::Stats(StatsCommand::Rebuild) => population::rebuild_stats(config()?).await,
        Command::Bench(command) => bench::bench(command).await,
        Command::Chaos(command) => bench::chaos(command).await,
        Command::Ledger(command) => ledger::run(config()?, command).await,
        Command::Ca(command) => ledger::ca(config()?, command).await,
        Command::Orderer(args) => ledger::orderer(args, config()?).await,
        Command::Peer(args) => ledger::peer(args, config()?).await,
    }
}
