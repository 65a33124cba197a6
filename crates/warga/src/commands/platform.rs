//! The platform's commands: `up`, `serve`, `migrate`, `config check`, `services`,
//! `events …`, `keys rotate` and `audit export`.

use std::io::Write as _;
use std::time::Duration;

use warga_app::{Launch, Mode, Running};
use warga_bus::{Bus, ReplayFilter};
use warga_config::Config;
use warga_store::Store;

use crate::cli::{AuditCommand, EventsCommand, ListenArgs, ServeArgs, UpArgs};
use crate::failure::{Failure, start_logging};

/// `warga up [--demo]`: every service, the embedded ledger, in one process.
pub async fn up(mut config: Config, args: UpArgs) -> Result<(), Failure> {
    listen_on(&mut config, &args.listen);
    let mode = if args.demo { Mode::Demo } else { Mode::Up };
    run(config, warga_app::services::all(), mode).await
}

/// `warga serve --services …`: the named services, optionally without workers.
pub async fn serve(mut config: Config, args: ServeArgs) -> Result<(), Failure> {
    listen_on(&mut config, &args.listen);
    if args.no_workers {
        config.workers.enabled = false;
    }
    let selected = warga_app::services::select(&args.services).map_err(Failure::app)?;
    run(config, selected, Mode::Serve).await
}

fn listen_on(config: &mut Config, args: &ListenArgs) {
    if let Some(listen) = args.listen {
        config.http.listen = listen;
    }
}

/// Starts, prints the banner (last, on standard output; logs go to standard error), and
/// stops on SIGINT or SIGTERM.
async fn run(
    config: Config,
    services: Vec<std::sync::Arc<dyn warga_http::Service>>,
    mode: Mode,
) -> Result<(), Failure> {
    let _logging = start_logging(&config)?;
    let grace = Duration::from_millis(config.http.shutdown_grace_ms);
    let running = Launch::new(config, services, mode)
        .start()
        .await
        .map_err(Failure::app)?;
    print_banner(&running, mode);
    warga_app::shutdown_signal().await;
    running.shutdown(grace).await.map_err(Failure::app)
}

fn print_banner(running: &Running, mode: Mode) {
    let config = &running.platform.config;
    let url = &running.url;
    let what = match mode {
        Mode::Up | Mode::Demo => "seluruh platform / the whole platform",
        Mode::Serve => "layanan terpilih / selected services",
    };
    let certificate = if running.tls.generated {
        "dibuat baru / newly generated"
    } else {
        "dipakai ulang / reused"
    };
    let names: Vec<_> = running.services.iter().map(|s| s.name()).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "warga siap / warga is ready — {what}");
    let _ = writeln!(out, "  URL:         {url}");
    let _ = writeln!(
        out,
        "  Kesehatan / health: {url}/healthz   OpenAPI: {url}/api/openapi.json"
    );
    let _ = writeln!(
        out,
        "  Sertifikat TLS / certificate ({certificate}): {}",
        running.tls.cert_path.display()
    );
    let _ = writeln!(out, "  SHA-256:     {}", running.tls.fingerprint_sha256);
    let _ = writeln!(out, "  Layanan / services: {}", names.join(", "));
    let _ = writeln!(
        out,
        "  Data:        {} ({}), bus: {}, pekerja / workers: {}",
        config.data_dir.display(),
        running.platform.store.backend().name(),
        running.platform.bus.backend_name(),
        if running.has_workers() { "on" } else { "off" }
    );
    if let Some(demo) = &running.demo {
        let _ = writeln!(
            out,
            "  Demo: {} akun / accounts, kata sandi / password: {}",
            if demo.created { "baru" } else { "ada" },
            warga_identity::demo::DEMO_PASSWORD
        );
        for (kind, username) in &demo.logins {
            let _ = writeln!(out, "    {kind:<38} {username}");
        }
        let _ = writeln!(
            out,
            "  Penduduk demo dengan kartu BPJS / demo residents with BPJS cards (Tanah Abang):"
        );
        for (i, (name, _, birth_date, _)) in warga_population::residents::DEMO_RESIDENTS.iter().enumerate().take(3) {
            if let Some(nik) = warga_population::residents::demo_nik(i) {
                let _ = writeln!(out, "    {nik} {name}, lahir / born {birth_date}");
            }
        }
        let _ = writeln!(
            out,
            "    … dan / and {} lainnya / more (NIK 317107…9001–9010)",
            warga_population::residents::DEMO_RESIDENTS.len().saturating_sub(3)
        );
        let _ = writeln!(
            out,
            "  Masuk lewat klien OIDC / sign in through an OIDC client: {url}/.well-known/openid-configuration"
        );
    }
    if let Some(ledger) = &running.ledger {
        let orderers: Vec<String> = ledger.orderers.iter().map(|o| o.me.listen.to_string()).collect();
        let channels: Vec<String> = ledger
            .orderers
            .first()
            .map(|o| o.channels.all().iter().map(|n| n.channel.clone()).collect())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  Buku besar / ledger: kanal / channels {}, orderer Raft {}",
            channels.join(", "),
            orderers.join(" ")
        );
        for peer in &ledger.peers {
            let joined: Vec<String> = peer.channels.peers().iter().map(|p| p.channel.name.clone()).collect();
            let _ = writeln!(
                out,
                "    peer {:<30} gRPC {} (mTLS) — {}",
                peer.node.host,
                peer.node.listen,
                joined.join(", ")
            );
        }
        let settings = config.section::<warga_ledger_node::settings::LedgerConfig>();
        let network = match &settings.network {
            Some(path) => path.display().to_string(),
            None => "network/bpjs.yaml".into(),
        };
        let address = match ledger.peers.first() {
            Some(peer) if settings.ephemeral_ports => format!(" --address {}", peer.node.listen),
            _ => String::new(),
        };
        let org = ledger
            .peers
            .first()
            .map_or("BPJS".to_owned(), |p| p.organization.name.clone());
        let _ = writeln!(
            out,
            "    warga ledger query --network {network} --crypto {} --org {org}{address} VerifyCard <NIK>",
            ledger.crypto.display()
        );
    }
    if let Some(password) = &running.admin_password {
        let _ = writeln!(out, "  Admin pertama / first administrator: admin");
        let _ = writeln!(
            out,
            "  Kata sandi sekali pakai / one-time password (shown once): {password}"
        );
    }
    let _ = writeln!(out, "  Hentikan dengan Ctrl+C / stop with Ctrl+C");
    let _ = out.flush();
}

/// `warga migrate`.
pub async fn migrate(config: Config) -> Result<(), Failure> {
    let store = warga_app::services::open_store(&config).await.map_err(Failure::app)?;
    println!(
        "skema basis data mutakhir / database schema is current ({})",
        store.backend().name()
    );
    Ok(())
}

/// `warga backup --to DIR`: asks the running process on this data directory (its control
/// socket), or, with none running, takes the backup here.
pub async fn backup(config: Config, to: &std::path::Path) -> Result<(), Failure> {
    let _logging = start_logging(&config)?;
    let manifest = match warga_app::request_backup(&config.data_dir, to)
        .await
        .map_err(Failure::app)?
    {
        Some(manifest) => manifest,
        None => {
            let database = config.data_dir.join("warga.db");
            if config.database.url.is_none() && !database.exists() {
                return Err(Failure::usage(anyhow::anyhow!(
                    "data_dir {}: tidak ada data / there is no data here ({} is missing)",
                    config.data_dir.display(),
                    database.display()
                )));
            }
            let store = Store::connect(&config).await?;
            let channel = config
                .section::<warga_ledger_node::settings::LedgerConfig>()
                .channel
                .clone();
            let ledger = warga_app::backup::LedgerStores::open_all(&config.data_dir.join("ledger"), &channel)
                .map_err(Failure::app)?;
            let taken = warga_app::backup::take(&store, &ledger, &config.data_dir, to).await;
            store.close().await;
            taken.map_err(Failure::app)?
        }
    };
    print_manifest("cadangan dibuat / backup taken", to, &manifest);
    if manifest.database == "postgresql" {
        println!(
            "  PostgreSQL tidak termasuk / is not included: pg_basebackup atau / or pg_dump (README, \"Operating warga\")"
        );
    }
    Ok(())
}

/// `warga restore --from DIR`.
pub fn restore(config: Config, from: &std::path::Path) -> Result<(), Failure> {
    let manifest = warga_app::backup::restore(from, &config.data_dir).map_err(Failure::app)?;
    print_manifest("cadangan dipulihkan / backup restored", &config.data_dir, &manifest);
    Ok(())
}

fn print_manifest(what: &str, place: &std::path::Path, manifest: &warga_app::backup::Manifest) {
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "{what}: {} — {} berkas / files, {:.1} MiB, basis data / database: {}, diambil / taken {}",
        place.display(),
        manifest.files.len(),
        bytes as f64 / (1024.0 * 1024.0),
        manifest.database,
        warga_core::time::format_wib(manifest.taken_at_ms)
    );
    if let Some(ledger) = &manifest.ledger {
        let peers: Vec<String> = ledger
            .peers
            .iter()
            .map(|(host, height)| format!("{host} {height}"))
            .collect();
        println!(
            "  buku besar / ledger {}: peer (tinggi / height) {}; orderer {} ({} blok / blocks)",
            ledger.channel,
            peers.join(", "),
            ledger.orderer_copied,
            ledger.orderer_height
        );
    }
}

/// `warga config check`.
pub fn config_check(config: &Config) {
    print!("{}", config.to_redacted_toml());
    eprintln!("konfigurasi valid / configuration is valid");
}

/// `warga services`.
pub fn services() {
    for service in warga_app::services::all() {
        println!("{:<12} {}", service.name(), service.summary());
    }
}

/// `warga keys rotate`: a new data key; every data key re-wrapped with the master key.
pub async fn rotate_data_keys(config: Config) -> Result<(), Failure> {
    let store = warga_app::services::open_store(&config).await.map_err(Failure::app)?;
    let master = std::sync::Arc::new(warga_auth::MasterKey::load_or_create(&config)?);
    let vault = warga_auth::Vault::open_or_init(store, master).await?;
    let (key, rewrapped) = vault.rotate().await?;
    println!("kunci data baru / new data key: {key}; {rewrapped} kunci dibungkus ulang / keys re-wrapped");
    Ok(())
}

/// `warga events dead-letters|replay`.
pub async fn events(config: Config, command: EventsCommand) -> Result<(), Failure> {
    let store = warga_app::services::open_store(&config).await.map_err(Failure::app)?;
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
                return Err(Failure::usage_msg("name --consumer and/or --event, or pass --all"));
            }
            let replayed = bus.replay(&ReplayFilter { consumer, event_id }).await?;
            println!("{replayed} dead letter(s) replayed");
            Ok(())
        }
    }
}

/// `warga audit export`: the audit log as CSV, oldest first.
pub async fn audit(config: Config, command: AuditCommand) -> Result<(), Failure> {
    let AuditCommand::Export {
        from_ms,
        to_ms,
        actor,
        action,
        out,
    } = command;
    let store = warga_app::services::open_store(&config).await.map_err(Failure::app)?;
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
