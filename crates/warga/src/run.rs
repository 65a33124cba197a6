//! Running services: `warga up` and `warga serve`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use warga_bus::Bus;
use warga_config::Config;
use warga_http::{Platform, Service};
use warga_store::Store;

use crate::commands::Failure;
use crate::services;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Everything in one process.
    Up,
    /// Everything in one process, with the demo world seeded.
    Demo,
    /// The named services only.
    Serve,
}

pub async fn run(config: Config, selected: Vec<Arc<dyn Service>>, mode: Mode) -> Result<(), Failure> {
    let _telemetry = warga_telemetry::init(&config.telemetry).context("cannot start logging")?;
    // One crypto provider for every rustls user in the process (HTTPS, PostgreSQL, NATS).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Arc::new(config);

    let store = Store::connect(&config).await.context("cannot open the database")?;
    store
        .migrate(&services::migrations())
        .await
        .context("cannot migrate the database")?;
    let bus = Bus::connect(&config.bus, store.clone())
        .await
        .context("cannot connect the event bus")?;
    let listener = warga_http::server::bind(config.http.listen)?;
    let public_url = warga_http::server::public_url(&config, listener.local_addr()?);
    let clock: Arc<dyn warga_core::time::Clock> = Arc::new(warga_core::time::SystemClock);
    let platform = Platform::build(config.clone(), store.clone(), bus.clone(), public_url, clock)
        .await
        .context("cannot set up authentication and rate limits")?;

    let admin_password = if selected.iter().any(|s| s.name() == "identity") {
        warga_identity::bootstrap(&platform)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bootstrap identity: {e}"))?
    } else {
        None
    };

    let demo = if mode == Mode::Demo {
        Some(
            warga_identity::demo::seed(&platform)
                .await
                .map_err(|e| anyhow::anyhow!("cannot seed the demo: {e}"))?,
        )
    } else {
        None
    };

    let tls = warga_http::tls::load_or_generate(&config)?;
    let app = warga_http::app(&platform, &selected);
    let server = warga_http::server::serve(listener, &tls, app)?;

    let shutdown = CancellationToken::new();
    let workers = if config.workers.enabled {
        let handlers = selected.iter().flat_map(|s| s.handlers(&platform)).collect();
        Some(
            bus.start_workers(handlers, shutdown.clone())
                .await
                .context("cannot start event workers")?,
        )
    } else {
        None
    };

    let ledger = if mode != Mode::Serve && config.ledger.enabled {
        Some(start_ledger(&config).await?)
    } else {
        None
    };

    let names: Vec<_> = selected.iter().map(|s| s.name()).collect();
    let url = format!("https://{}", server.local_addr);
    tracing::info!(%url, services = ?names, database = store.backend().name(), bus = bus.backend_name(), "warga started");
    print_banner(&config, mode, &url, &tls, &names, &store, &bus);
    if let Some(demo) = demo {
        println!(
            "  Demo: {} akun / accounts, kata sandi / password: {}",
            if demo.created { "baru" } else { "ada" },
            warga_identity::demo::DEMO_PASSWORD
        );
        for (kind, username) in &demo.logins {
            println!("    {kind:<38} {username}");
        }
        println!("  Masuk lewat klien OIDC / sign in through an OIDC client: {url}/.well-known/openid-configuration");
    }
    if let Some(ledger) = &ledger {
        print_ledger(&config, ledger);
    }
    if let Some(password) = admin_password {
        println!("  Admin pertama / first administrator: admin");
        println!("  Kata sandi sekali pakai / one-time password (shown once): {password}");
    }
    println!("  Hentikan dengan Ctrl+C / stop with Ctrl+C");

    wait_for_signal().await;
    tracing::info!("shutting down: draining requests and workers");
    let grace = Duration::from_millis(config.http.shutdown_grace_ms);
    let (served, ()) = tokio::join!(server.shutdown(grace), async {
        if let Some(workers) = workers {
            workers.shutdown().await;
        }
    });
    served?;
    if let Some(ledger) = ledger {
        ledger.shutdown().await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The embedded ledger network: the configured network file (or the BPJS example), its
/// orderers and one peer per member organisation, under `data_dir/ledger`.
async fn start_ledger(config: &Config) -> Result<warga_ledger_node::embedded::EmbeddedNetwork, Failure> {
    let text = match &config.ledger.network {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(anyhow::anyhow!("ledger.network: cannot read {}: {e}", path.display())))?,
        None => warga_ledger_core::network::BPJS_EXAMPLE.to_owned(),
    };
    let network = warga_ledger_core::network::Network::parse(&text)
        .map_err(|e| Failure::usage(anyhow::anyhow!("ledger.network: {e}")))?;
    if network.channel(&config.ledger.channel).is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "ledger.channel: no channel {} in the network file",
            config.ledger.channel
        )));
    }
    warga_ledger_node::embedded::EmbeddedNetwork::start(
        network,
        &config.ledger.channel,
        &config.data_dir.join("ledger"),
        config.ledger.ephemeral_ports,
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot start the ledger network: {e}").into())
}

fn print_ledger(config: &Config, ledger: &warga_ledger_node::embedded::EmbeddedNetwork) {
    let orderers: Vec<String> = ledger.orderers.iter().map(|o| o.me.listen.to_string()).collect();
    println!(
        "  Buku besar / ledger: kanal / channel {}, orderer Raft {}",
        ledger.channel,
        orderers.join(" ")
    );
    for peer in &ledger.peers {
        println!(
            "    peer {:<30} gRPC {} (mTLS)",
            peer.peer.node.host, peer.peer.node.listen
        );
    }
    let network = match &config.ledger.network {
        Some(path) => path.display().to_string(),
        None => "network/bpjs.yaml".into(),
    };
    let address = match ledger.peers.first() {
        Some(peer) if config.ledger.ephemeral_ports => format!(" --address {}", peer.peer.node.listen),
        _ => String::new(),
    };
    let org = ledger
        .peers
        .first()
        .map_or("BPJS".to_owned(), |p| p.peer.organization.name.clone());
    println!(
        "    warga ledger query --network {network} --crypto {} --org {org}{address} VerifyCard <NIK>",
        ledger.crypto.display()
    );
}

fn print_banner(
    config: &Config,
    mode: Mode,
    url: &str,
    tls: &warga_http::tls::TlsMaterial,
    names: &[&str],
    store: &Store,
    bus: &Bus,
) {
    let what = match mode {
        Mode::Up | Mode::Demo => "seluruh platform / the whole platform",
        Mode::Serve => "layanan terpilih / selected services",
    };
    let certificate = if tls.generated {
        "dibuat baru / newly generated"
    } else {
        "dipakai ulang / reused"
    };
    println!("warga siap / warga is ready — {what}");
    println!("  URL:         {url}");
    println!("  Kesehatan / health: {url}/healthz   OpenAPI: {url}/api/openapi.json");
    println!(
        "  Sertifikat TLS / certificate ({certificate}): {}",
        tls.cert_path.display()
    );
    println!("  SHA-256:     {}", tls.fingerprint_sha256);
    println!("  Layanan / services: {}", names.join(", "));
    println!(
        "  Data:        {} ({}), bus: {}, pekerja / workers: {}",
        config.data_dir.display(),
        store.backend().name(),
        bus.backend_name(),
        if config.workers.enabled { "on" } else { "off" }
    );
}

pub(crate) async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl+C stops warga");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
