//! What each command does.

use std::fmt;
use std::path::Path;

use warga_bus::{Bus, ReplayFilter};
use warga_config::Config;
use warga_store::Store;

use crate::cli::{
    AdminCommand, AuditCommand, BenchCommand, Cli, ClientCommand, Command, ConfigCommand, DataKeysCommand,
    DepartmentCommand, EventsCommand, KeysCommand, OfficerCommand, RegistryCommand, StatsCommand,
};
use crate::{run, services};

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

pub fn load_config(file: Option<&Path>) -> Result<Config, Failure> {
    Config::load(file).map_err(Failure::usage)
}

pub async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let file = cli.config.as_deref();
    match cli.command {
        Command::Up(args) => {
            let mut config = load_config(file)?;
            if let Some(listen) = args.listen.listen {
                config.http.listen = listen;
            }
            let mode = if args.demo { run::Mode::Demo } else { run::Mode::Up };
            run::run(config, services::all(), mode).await
        }
        Command::Serve(args) => {
            let mut config = load_config(file)?;
            if let Some(listen) = args.listen.listen {
                config.http.listen = listen;
            }
            if args.no_workers {
                config.workers.enabled = false;
            }
            let selected = services::select(&args.services).map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
            run::run(config, selected, run::Mode::Serve).await
        }
        Command::Migrate => {
            let config = load_config(file)?;
            let store = Store::connect(&config).await?;
            store.migrate(&services::migrations()).await?;
            println!(
                "skema basis data mutakhir / database schema is current ({})",
                store.backend().name()
            );
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            let config = load_config(file)?;
            print!("{}", config.to_redacted_toml());
            eprintln!("konfigurasi valid / configuration is valid");
            Ok(())
        }
        Command::Events(command) => events(load_config(file)?, command).await,
        Command::Admin(command) => admin(load_config(file)?, command).await,
        Command::Keys(DataKeysCommand::Rotate) => {
            let config = load_config(file)?;
            let store = Store::connect(&config).await?;
            store.migrate(&services::migrations()).await?;
            let master = std::sync::Arc::new(warga_auth::MasterKey::load_or_create(&config)?);
            let vault = warga_auth::Vault::open_or_init(store, master).await?;
            let (key, rewrapped) = vault.rotate().await?;
            println!("kunci data baru / new data key: {key}; {rewrapped} kunci dibungkus ulang / keys re-wrapped");
            Ok(())
        }
        Command::Registry(RegistryCommand::Import { file: csv_path, report }) => {
            import_residents(load_config(file)?, &csv_path, &report).await
        }
        Command::Bench(BenchCommand::Registry {
            postgres_url,
            count,
            concurrency,
            clients,
            pgbench_seconds,
        }) => {
            crate::bench::registry(crate::bench::RegistryBench {
                postgres_url,
                count,
                concurrency,
                clients,
                pgbench_seconds,
            })
            .await
        }
        Command::Bench(BenchCommand::Ledger {
            targets,
            workloads,
            rate,
            duration,
            ramp,
            workers,
        }) => {
            crate::bench_ledger::ledger(crate::bench_ledger::LedgerBench {
                targets,
                workloads,
                rate,
                duration: std::time::Duration::from_secs(duration),
                ramp: std::time::Duration::from_secs(ramp),
                workers,
            })
            .await
        }
        Command::Ledger(command) => crate::ledger::run(command).await,
        Command::Ca(command) => crate::ledger::ca(command).await,
        Command::Orderer(args) => crate::ledger::orderer(args, load_config(file)?.orderer).await,
        Command::Peer(args) => crate::ledger::peer(args, load_config(file)?.peer).await,
        Command::Stats(StatsCommand::Rebuild) => {
            let config = load_config(file)?;
            let store = Store::connect(&config).await?;
            store.migrate(&services::migrations()).await?;
            let rebuilt = warga_population::residents::rebuild_stats(&store).await?;
            let agreed = if rebuilt.rows_differing == 0 {
                "ya / yes"
            } else {
                "tidak / no"
            };
            println!(
                "{} penduduk / residents; hitungan langsung cocok / live counts agreed: {agreed}",
                rebuilt.residents
            );
            if rebuilt.rows_differing > 0 {
                println!("{} baris diperbaiki / rows corrected", rebuilt.rows_differing);
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Export {
            from_ms,
            to_ms,
            actor,
            action,
            out,
        }) => {
            let config = load_config(file)?;
            let store = Store::connect(&config).await?;
            store.migrate(&services::migrations()).await?;
            let mut writer: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let written = export_audit(&store, from_ms, to_ms, actor, action, &mut writer).await?;
            writer.flush()?;
            eprintln!("{written} catatan audit / audit records exported");
            Ok(())
        }
        Command::Services => {
            for service in services::all() {
                println!("{:<12} {}", service.name(), service.summary());
            }
            Ok(())
        }
    }
}

async fn events(config: Config, command: EventsCommand) -> Result<(), Failure> {
    let store = Store::connect(&config).await?;
    store.migrate(&services::migrations()).await?;
    let bus = Bus::connect(&config.bus, store).await?;
    match command {
        EventsCommand::DeadLetters { limit, json } => {
            let letters = bus.dead_letters(limit).await?;
            if json {
                for letter in &letters {
                    println!("{}", serde_json::to_string(letter)?);
                }
            } else if letters.is_empty() {
                println!("tidak ada dead letter / no dead letters");
            } else {
                println!(
                    "{:<28} {:<38} {:<32} {:>8}  last error",
                    "consumer", "event", "topic", "attempts"
                );
                for l in &letters {
                    println!(
                        "{:<28} {:<38} {:<32} {:>8}  {}",
                        l.consumer, l.event_id, l.topic, l.attempts, l.last_error
                    );
                }
            }
            Ok(())
        }
        EventsCommand::Replay {
            consumer,
            event_id,
            all,
        } => {
            if consumer.is_none() && event_id.is_none() && !all {
                return Err(Failure::usage(anyhow::anyhow!(
                    "name --consumer and/or --event, or pass --all"
                )));
            }
            let replayed = bus.replay(&ReplayFilter { consumer, event_id }).await?;
            println!("{replayed} dead letter(s) replayed");
            Ok(())
        }
    }
}

/// The actor of changes made from the command line, in the audit log.
const CLI_ACTOR: &str = "system:cli";

fn parse_roles(names: &[String]) -> Result<Vec<warga_core::identity::Role>, Failure> {
    names
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|e: warga_core::identity::UnknownRole| Failure::usage(anyhow::anyhow!("--role: {e}")))
        })
        .collect()
}

/// Turns an API error into a one-line CLI failure naming the field.
fn api_failure(error: warga_http::ApiError) -> Failure {
    match &error {
        warga_http::ApiError::Validation { field, detail } => Failure::usage(anyhow::anyhow!("{field}: {detail}")),
        _ => Failure::from(anyhow::anyhow!("{error}")),
    }
}

async fn admin(config: Config, command: AdminCommand) -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = Store::connect(&config).await?;
    store.migrate(&services::migrations()).await?;
    match command {
        AdminCommand::Department(DepartmentCommand::Create { id, name }) => {
            let mut tx = store.begin().await?;
            warga_identity::accounts::create_department(&mut tx, &id, &name, CLI_ACTOR)
                .await
                .map_err(api_failure)?;
            tx.commit().await?;
            println!("departemen dibuat / department created: {}", id.trim().to_lowercase());
        }
        AdminCommand::Officer(OfficerCommand::Create {
            username,
            display_name,
            department,
            level,
            roles,
            msp_id,
            email,
        }) => {
            let level = level
                .map(|l| l.parse::<warga_core::identity::OfficerLevel>())
                .transpose()
                .map_err(|e| Failure::usage(anyhow::anyhow!("--level: {e}")))?;
            let bus = Bus::connect(&config.bus, store.clone()).await?;
            let platform = warga_http::Platform::build(
                std::sync::Arc::new(config.clone()),
                store.clone(),
                bus,
                warga_http::server::public_url(&config, config.http.listen),
                std::sync::Arc::new(warga_core::time::SystemClock),
            )
            .await?;
            let created = warga_identity::create_officer_account(
                &platform,
                warga_identity::NewOfficer {
                    username,
                    display_name,
                    email,
                    password: None,
                    roles: parse_roles(&roles)?,
                    department,
                    level,
                    msp_id,
                },
                CLI_ACTOR,
            )
            .await
            .map_err(api_failure)?;
            println!(
                "petugas dibuat / officer created: {} ({})",
                created.account.username, created.account.id
            );
            if let Some(password) = created.one_time_password {
                println!("kata sandi sekali pakai / one-time password: {password}");
            }
        }
        AdminCommand::Client(ClientCommand::Create {
            client_id,
            name,
            confidential,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            service_roles,
        }) => {
            let mut tx = store.begin().await?;
            let registered = warga_identity::clients::create(
                &mut tx,
                warga_identity::clients::NewClient {
                    client_id,
                    name,
                    confidential,
                    redirect_uris,
                    post_logout_redirect_uris,
                    grant_types: grants,
                    service_roles: parse_roles(&service_roles)?,
                },
                CLI_ACTOR,
            )
            .await
            .map_err(api_failure)?;
            tx.commit().await?;
            println!("klien terdaftar / client registered: {}", registered.client_id);
            if let Some(secret) = registered.client_secret {
                println!("client secret (shown once): {secret}");
            }
        }
        AdminCommand::Keys(KeysCommand::Rotate) => {
            let bus = Bus::connect(&config.bus, store.clone()).await?;
            let platform = warga_http::Platform::build(
                std::sync::Arc::new(config.clone()),
                store.clone(),
                bus,
                warga_http::server::public_url(&config, config.http.listen),
                std::sync::Arc::new(warga_core::time::SystemClock),
            )
            .await?;
            let local = platform.auth.local.as_ref().ok_or_else(|| {
                Failure::usage(anyhow::anyhow!("tokens come from an external issuer (identity.issuer)"))
            })?;
            let kid = local.keyring.rotate().await?;
            println!("kunci baru / new signing key: {kid}");
        }
    }
    Ok(())
}

/// One CSV field, quoted when it needs to be (RFC 4180).
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

async fn export_audit(
    store: &Store,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    actor: Option<String>,
    action: Option<String>,
    out: &mut dyn std::io::Write,
) -> Result<u64, Failure> {
    use warga_store::audit::{AuditQuery, query};
    writeln!(out, "seq,id,at_ms,actor,action,target,outcome,trace_id,details")?;
    let mut after_seq = None;
    let mut written = 0u64;
    loop {
        let page = query(
            store,
            &AuditQuery {
                actor: actor.clone(),
                action: action.clone(),
                target: None,
                from_ms,
                to_ms,
                after_seq,
                limit: 1_000,
            },
        )
        .await?;
        for entry in &page {
            let details = entry.details.as_ref().map(|d| d.to_string()).unwrap_or_default();
            let fields = [
                entry.seq.to_string(),
                entry.id.clone(),
                entry.at_ms.to_string(),
                entry.actor.clone(),
                entry.action.clone(),
                entry.target.clone(),
                entry.outcome.clone(),
                entry.trace_id.clone().unwrap_or_default(),
                details,
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            writeln!(out, "{}", line.join(","))?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == 1_000 => after_seq = Some(last.seq),
            _ => break,
        }
    }
    Ok(written)
}

/// Imports residents from CSV: valid rows registered, known NIKs skipped, rejects reported.
async fn import_residents(config: Config, csv_path: &Path, report: &Path) -> Result<(), Failure> {
    use warga_population::residents::{NewResident, register};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut reader = csv::Reader::from_path(csv_path)
        .map_err(|e| Failure::usage(anyhow::anyhow!("cannot read {}: {e}", csv_path.display())))?;
    let rows: Vec<(u64, Result<NewResident, csv::Error>)> = reader
        .deserialize::<NewResident>()
        .enumerate()
        .map(|(i, row)| (i as u64 + 2, row))
        .collect();
    let store = Store::connect(&config).await?;
    store.migrate(&services::migrations()).await?;
    let bus = Bus::connect(&config.bus, store.clone()).await?;
    let platform = warga_http::Platform::build(
        std::sync::Arc::new(config.clone()),
        store,
        bus,
        warga_http::server::public_url(&config, config.http.listen),
        std::sync::Arc::new(warga_core::time::SystemClock),
    )
    .await?;
    let progress = indicatif::ProgressBar::new(rows.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} baris / rows, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut rejects =
        csv::Writer::from_path(report).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", report.display()))?;
    rejects
        .write_record(["line", "field", "reason"])
        .map_err(anyhow::Error::from)?;
    let (mut imported, mut known, mut rejected) = (0u64, 0u64, 0u64);
    for (line, row) in rows {
        let outcome = match row {
            Err(error) => Err(("row".to_owned(), error.to_string())),
            Ok(new) => match register(&platform, &new, "system:import").await {
                Ok(_) => Ok(true),
                Err(warga_http::ApiError::Conflict(_)) => Ok(false),
                Err(warga_http::ApiError::Validation { field, detail }) => Err((field, detail)),
                Err(warga_http::ApiError::Rule { field, detail, .. }) => Err((field.to_owned(), detail)),
                Err(other) => return Err(anyhow::anyhow!("line {line}: {other}").into()),
            },
        };
        match outcome {
            Ok(true) => imported += 1,
            Ok(false) => known += 1,
            Err((field, reason)) => {
                rejected += 1;
                rejects
                    .write_record([line.to_string(), field, reason])
                    .map_err(anyhow::Error::from)?;
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    rejects.flush()?;
    println!(
        "{imported} diimpor / imported, {known} sudah terdaftar / already registered, {rejected} ditolak / rejected (see {})",
        report.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("{\"reason\":\"x\"}"), "\"{\"\"reason\"\":\"\"x\"\"}\"");
    }
}
