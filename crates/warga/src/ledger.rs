//! `warga ledger …`: network files and crypto material of the BPJS ledger.

use std::path::Path;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};

use crate::cli::{CaClient, CaCommand, CaOrg, CryptoCommand, LedgerCommand, NetworkCommand};
use crate::commands::Failure;

fn read_network(file: &Path) -> Result<warga_ledger_core::network::Network, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(anyhow::anyhow!("cannot read {}: {e}", file.display())))?;
    warga_ledger_core::network::Network::parse(&text)
        .map_err(|e| Failure::usage(anyhow::anyhow!("{}: {e}", file.display())))
}

/// Runs a `warga ledger …` command.
pub fn run(command: LedgerCommand) -> Result<(), Failure> {
    match command {
        LedgerCommand::Network(NetworkCommand::Check { file }) => {
            let network = read_network(&file)?;
            println!("jaringan / network {}: valid", network.name);
            for org in &network.organizations {
                println!("  {} ({}): {} peer", org.name, org.msp_id, org.peers.len());
            }
            println!(
                "  {} ({}): {} orderer, Raft",
                network.orderer.organization.name,
                network.orderer.organization.msp_id,
                network.orderer.nodes.len()
            );
            for channel in &network.channels {
                let chaincodes: Vec<&str> = channel.chaincodes.iter().map(|c| c.name.as_str()).collect();
                println!(
                    "  channel {}: {} — chaincode {}",
                    channel.name,
                    channel.members.join(", "),
                    chaincodes.join(", ")
                );
            }
            Ok(())
        }
        LedgerCommand::Verify(args) => {
            let network = read_network(&args.network)?;
            let channel = network
                .channel(&args.channel)
                .ok_or_else(|| Failure::usage(anyhow!("--channel: no channel {} in the network file", args.channel)))?;
            let msps = warga_ledger_msp::generate::load_msps(&network, &args.crypto, 0)?;
            let report = warga_ledger_peer::verify::verify(&args.ledger, &network, channel, &msps)
                .map_err(|e| anyhow!("{}: {e}", args.ledger.display()))?;
            println!(
                "ledger valid / sah: {} blocks, {} transactions ({} valid), {} keys in the world state",
                report.blocks, report.transactions, report.valid, report.state_keys
            );
            Ok(())
        }
        LedgerCommand::Crypto(CryptoCommand::Generate { network, out }) => {
            let parsed = read_network(&network)?;
            let generated = warga_ledger_msp::generate::generate(&parsed, &out, time::OffsetDateTime::now_utc())
                .map_err(|e| match e {
                    warga_ledger_msp::generate::GenerateError::Exists(_) => Failure::usage(e),
                    other => other.into(),
                })?;
            println!(
                "{} organisasi, {} identitas, {} berkas / {} organisations, {} identities, {} files in {}",
                generated.organizations,
                generated.identities,
                generated.files,
                generated.organizations,
                generated.identities,
                generated.files,
                out.display()
            );
            Ok(())
        }
    }
}

/// The organisation's MSP id, domain and directory, from the network file.
fn ca_config(org: &CaOrg) -> Result<warga_ledger_ca::CaConfig, Failure> {
    let network = read_network(&org.network)?;
    let (msp_id, domain, orderer) = if let Some(o) = network.organizations.iter().find(|o| o.name == org.org) {
        (o.msp_id.clone(), o.domain.clone(), false)
    } else if network.orderer.organization.name == org.org {
        let o = &network.orderer.organization;
        (o.msp_id.clone(), o.domain.clone(), true)
    } else {
        return Err(Failure::usage(anyhow!(
            "--org: no organisation {} in {}",
            org.org,
            org.network.display()
        )));
    };
    Ok(warga_ledger_ca::CaConfig {
        org_dir: warga_ledger_msp::generate::organization_dir(&org.crypto, orderer, &domain),
        msp_id,
        domain,
    })
}

fn https_trusting(tls_ca: &Path) -> Result<reqwest::Client, Failure> {
    let pem = std::fs::read(tls_ca).with_context(|| format!("cannot read {}", tls_ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(warga_ledger_msp::certificate_pem_to_der(&pem)?.into())?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().use_preconfigured_tls(tls).build()?)
}

/// The only `*.pem` in `dir/signcerts` and `dir/keystore/priv_sk`.
fn signing_identity(msp_dir: &Path, msp_id: &str) -> Result<warga_ledger_msp::SigningIdentity, Failure> {
    let signcerts = msp_dir.join("signcerts");
    let cert = std::fs::read_dir(&signcerts)
        .with_context(|| format!("cannot read {}", signcerts.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .ok_or_else(|| anyhow!("no certificate in {}", signcerts.display()))?;
    let key = msp_dir.join("keystore/priv_sk");
    Ok(warga_ledger_msp::SigningIdentity::from_pem(
        msp_id,
        &std::fs::read(&cert)?,
        &std::fs::read(&key).with_context(|| format!("cannot read {}", key.display()))?,
    )?)
}

async fn admin_call(
    ca: &CaClient,
    admin_msp: &Path,
    msp_id: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    let admin = signing_identity(admin_msp, msp_id)?;
    let bytes = serde_json::to_vec(&body)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (authorization, timestamp) = warga_ledger_ca::client::admin_token(&admin, "POST", path, now, &bytes)?;
    let response = https_trusting(&ca.tls_ca)?
        .post(format!("{}{path}", ca.url.trim_end_matches('/')))
        .header("authorization", authorization)
        .header("x-warga-timestamp", timestamp)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await?;
    answer(response).await
}

async fn answer(response: reqwest::Response) -> Result<serde_json::Value, Failure> {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        Err(anyhow!("the CA refused ({status}): {}", body["detail"].as_str().unwrap_or("")).into())
    }
}

fn write_new(path: &PathBuf, contents: &str, secret: bool) -> Result<(), Failure> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {} (it must not exist yet)", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Runs a `warga ca …` command.
pub async fn ca(command: CaCommand) -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match command {
        CaCommand::Serve { org, listen } => {
            let config = ca_config(&org)?;
            let ca = warga_ledger_ca::Ca::open(config.clone())?;
            let (cert, key) = ca.tls_server_certificate(&[listen.ip()])?;
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem(cert.into_bytes(), key.into_bytes()).await?;
            let listener = warga_http::server::bind(listen)?;
            let local = listener.local_addr()?;
            println!(
                "CA {} ({}) mendengarkan di / listening on https://{local}",
                config.domain, config.msp_id
            );
            let handle = axum_server::Handle::new();
            let server = axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle.clone())
                .serve(ca.router().into_make_service());
            let stop = handle.clone();
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            server.await?;
            Ok(())
        }
        CaCommand::Register {
            ca,
            admin_msp,
            msp_id,
            id,
            role,
        } => {
            let registered = admin_call(
                &ca,
                &admin_msp,
                &msp_id,
                "/api/v1/ca/register",
                serde_json::json!({ "enrollment_id": id, "role": role }),
            )
            .await?;
            println!(
                "terdaftar / registered {id}; rahasia pendaftaran / enrollment secret (shown once): {}",
                registered["secret"].as_str().unwrap_or("")
            );
            Ok(())
        }
        CaCommand::Revoke {
            ca,
            admin_msp,
            msp_id,
            id,
        } => {
            let revoked = admin_call(
                &ca,
                &admin_msp,
                &msp_id,
                "/api/v1/ca/revoke",
                serde_json::json!({ "enrollment_id": id }),
            )
            .await?;
            println!("dicabut / revoked: {}", revoked["revoked"]);
            Ok(())
        }
        CaCommand::Enroll { ca, id, secret, out } => {
            let (csr, key) = warga_ledger_ca::client::certificate_request(&id)?;
            let response = https_trusting(&ca.tls_ca)?
                .post(format!("{}/api/v1/ca/enroll", ca.url.trim_end_matches('/')))
                .basic_auth(&id, Some(&secret))
                .json(&serde_json::json!({ "csr": csr }))
                .send()
                .await?;
            let enrolled = answer(response).await?;
            let certificate = enrolled["certificate"].as_str().unwrap_or_default();
            let ca_certificate = enrolled["ca_certificate"].as_str().unwrap_or_default();
            write_new(&out.join("msp/keystore/priv_sk"), &key, true)?;
            write_new(&out.join(format!("msp/signcerts/{id}-cert.pem")), certificate, false)?;
            write_new(&out.join("msp/cacerts/ca-cert.pem"), ca_certificate, false)?;
            println!("terdaftar / enrolled {id} → {}", out.join("msp").display());
            Ok(())
        }
    }
}

/// The TLS certificates of a node (`tls/server.crt`, `tls/server.key`) and every
/// organisation's TLS CA.
fn node_tls(
    network: &warga_ledger_core::network::Network,
    crypto: &Path,
    node_dir: &Path,
) -> Result<warga_ledger_orderer::grpc::TlsMaterial, Failure> {
    Ok(warga_ledger_orderer::grpc::TlsMaterial::from_crypto(
        network, crypto, node_dir, true,
    )?)
}

static ORDERER_TERM: std::sync::LazyLock<prometheus::IntGauge> = std::sync::LazyLock::new(|| {
    warga_telemetry::register(
        prometheus::IntGauge::new("warga_orderer_raft_term", "The Raft term this orderer is in.").expect("metric"),
    )
});
static ORDERER_IS_LEADER: std::sync::LazyLock<prometheus::IntGauge> = std::sync::LazyLock::new(|| {
    warga_telemetry::register(
        prometheus::IntGauge::new("warga_orderer_is_leader", "1 while this orderer is the Raft leader.")
            .expect("metric"),
    )
});
static ORDERER_LEADER_CHANGES: std::sync::LazyLock<prometheus::IntCounter> = std::sync::LazyLock::new(|| {
    warga_telemetry::register(
        prometheus::IntCounter::new("warga_orderer_leader_changes_total", "Leaders seen change.").expect("metric"),
    )
});
static ORDERER_BLOCK: std::sync::LazyLock<prometheus::IntGauge> = std::sync::LazyLock::new(|| {
    warga_telemetry::register(
        prometheus::IntGauge::new("warga_orderer_committed_block", "The newest block this orderer holds.")
            .expect("metric"),
    )
});

/// A node's operations endpoints over plain HTTP on `addr`: `/healthz` answering `health()`,
/// and `/metrics`.
async fn serve_operations(
    addr: std::net::SocketAddr,
    health: impl Fn() -> serde_json::Value + Clone + Send + Sync + 'static,
) -> Result<(), Failure> {
    let operations = axum::Router::new()
        .route(
            "/healthz",
            axum::routing::get(move || {
                let health = health.clone();
                async move { axum::Json(health()) }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(|| async { warga_telemetry::render_metrics() }),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tokio::spawn(async move { axum::serve(listener, operations).await });
    Ok(())
}

/// `warga orderer`: one orderer of one channel.
pub async fn orderer(args: crate::cli::OrdererArgs) -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let network = read_network(&args.network)?;
    let channel = network
        .channel(&args.channel)
        .ok_or_else(|| Failure::usage(anyhow!("--channel: no channel {} in the network file", args.channel)))?
        .clone();
    let position = network
        .orderer
        .nodes
        .iter()
        .position(|n| n.name == args.name)
        .ok_or_else(|| Failure::usage(anyhow!("--name: no orderer {} in the network file", args.name)))?;
    let me = network.orderer.nodes[position].clone();
    let id = position as u64 + 1;
    let org = &network.orderer.organization;
    let node_dir = warga_ledger_msp::generate::organization_dir(&args.crypto, true, &org.domain)
        .join("orderers")
        .join(&me.host);
    let signer = signing_identity(&node_dir.join("msp"), &org.msp_id)?;
    let tls = node_tls(&network, &args.crypto, &node_dir)?;
    let peers: std::collections::BTreeMap<u64, (std::net::SocketAddr, String)> = network
        .orderer
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (i as u64 + 1, (n.listen, n.host.clone())))
        .collect();
    std::fs::create_dir_all(&args.data).with_context(|| format!("cannot create {}", args.data.display()))?;
    let path = args.data.join(format!("{}.redb", channel.name));
    let grpc_network = warga_ledger_orderer::grpc::GrpcNetwork {
        tls: tls.clone(),
        peers: peers.clone(),
    };
    let genesis = network.genesis_block(&channel);
    let node = Arc::new(
        warga_ledger_orderer::OrdererNode::start(
            id,
            &channel.name,
            &network.orderer,
            &genesis,
            Arc::new(signer),
            &path,
            grpc_network,
        )
        .await
        .map_err(|e| anyhow!("cannot start the orderer: {e}"))?,
    );
    let mut readers = channel.members.clone();
    readers.push(org.msp_id.clone());
    let listener = tokio::net::TcpListener::bind(me.listen)
        .await
        .with_context(|| format!("cannot listen on {}", me.listen))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let services = warga_ledger_orderer::grpc::OrdererServices {
        node: node.clone(),
        tls,
        orderer_msp: org.msp_id.clone(),
        readers,
    };
    let grpc = tokio::spawn(warga_ledger_orderer::grpc::serve(services, listener, async {
        let _ = stopped.await;
    }));
    // Every orderer proposes the same initial membership; Raft accepts it once.
    let members: std::collections::BTreeMap<u64, openraft::BasicNode> = peers
        .iter()
        .map(|(i, (addr, _))| (*i, openraft::BasicNode::new(addr.to_string())))
        .collect();
    if let Err(error) = node.raft.initialize(members).await {
        tracing::debug!(%error, "the cluster is already initialised");
    }

    // Operations: /healthz and /metrics, over plain HTTP on the operations address.
    let metrics_node = node.clone();
    tokio::spawn(async move {
        let mut watch = metrics_node.raft.metrics();
        let mut leader = None;
        loop {
            let m = watch.borrow().clone();
            ORDERER_TERM.set(m.current_term as i64);
            ORDERER_IS_LEADER.set(i64::from(m.current_leader == Some(id)));
            if m.current_leader.is_some() && m.current_leader != leader {
                if leader.is_some() {
                    ORDERER_LEADER_CHANGES.inc();
                }
                leader = m.current_leader;
            }
            ORDERER_BLOCK.set(metrics_node.height().saturating_sub(1) as i64);
            if watch.changed().await.is_err() {
                return;
            }
        }
    });
    let health_node = node.clone();
    serve_operations(me.operations, move || {
        let m = health_node.raft.metrics().borrow().clone();
        serde_json::json!({
            "status": "ok",
            "orderer": id,
            "channel": health_node.channel,
            "leader": m.current_leader,
            "term": m.current_term,
            "height": health_node.height(),
        })
    })
    .await?;
    println!(
        "orderer {} ({}) kanal / channel {}: gRPC {} (mTLS), operasi / operations http://{}",
        me.name, id, channel.name, me.listen, me.operations
    );

    crate::run::wait_for_signal().await;
    let _ = stop.send(());
    node.shutdown().await;
    let _ = grpc.await;
    Ok(())
}

static PEER_BLOCK: std::sync::LazyLock<prometheus::IntGauge> = std::sync::LazyLock::new(|| {
    warga_telemetry::register(
        prometheus::IntGauge::new("warga_peer_committed_block", "The newest block this peer committed.")
            .expect("metric"),
    )
});
static PEER_COMMIT_SECONDS: std::sync::LazyLock<prometheus::Histogram> = std::sync::LazyLock::new(|| {
    warga_telemetry::register(
        prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
            "warga_peer_block_commit_seconds",
            "Validating and committing one block.",
        ))
        .expect("metric"),
    )
});
static PEER_CODES: std::sync::LazyLock<prometheus::IntCounterVec> = std::sync::LazyLock::new(|| {
    warga_telemetry::register(
        prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "warga_peer_transactions_total",
                "Committed transactions by validation code.",
            ),
            &["code"],
        )
        .expect("metric"),
    )
});

/// `warga peer`: one peer of one channel, committing what the orderers deliver.
pub async fn peer(args: crate::cli::PeerArgs) -> Result<(), Failure> {
    use warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let network = Arc::new(read_network(&args.network)?);
    let channel = network
        .channel(&args.channel)
        .ok_or_else(|| Failure::usage(anyhow!("--channel: no channel {} in the network file", args.channel)))?
        .clone();
    let org = network
        .organizations
        .iter()
        .find(|o| o.name == args.org)
        .ok_or_else(|| Failure::usage(anyhow!("--org: no organisation {} in the network file", args.org)))?
        .clone();
    if !channel.members.contains(&org.msp_id) {
        return Err(Failure::usage(anyhow!(
            "--channel: {} is not a member of {}",
            org.name,
            channel.name
        )));
    }
    let me = org
        .peers
        .iter()
        .find(|p| p.name == args.name)
        .ok_or_else(|| Failure::usage(anyhow!("--name: {} has no peer {}", org.name, args.name)))?
        .clone();
    let node_dir = warga_ledger_msp::generate::organization_dir(&args.crypto, false, &org.domain)
        .join("peers")
        .join(&me.host);
    let tls = node_tls(&network, &args.crypto, &node_dir)?;
    let msps = warga_ledger_msp::generate::load_msps(&network, &args.crypto, 0)?;
    std::fs::create_dir_all(&args.data).with_context(|| format!("cannot create {}", args.data.display()))?;
    let genesis = network.genesis_block(&channel);
    let ledger = Arc::new(
        warga_ledger_peer::PeerLedger::open(
            &args.data.join(format!("{}.redb", channel.name)),
            &channel.name,
            &genesis,
        )
        .map_err(|e| anyhow!("cannot open the ledger: {e}"))?,
    );
    PEER_BLOCK.set(ledger.height().unwrap_or(1) as i64 - 1);

    let health_ledger = ledger.clone();
    let channel_name = channel.name.clone();
    serve_operations(me.operations, move || {
        serde_json::json!({
            "status": "ok",
            "channel": channel_name,
            "height": health_ledger.height().unwrap_or(0),
        })
    })
    .await?;
    println!(
        "peer {} ({}) kanal / channel {}: tinggi / height {}, operasi / operations http://{}",
        me.host,
        org.msp_id,
        channel.name,
        ledger.height().unwrap_or(0),
        me.operations
    );

    // Pull from the orderers in turn; on any failure, the next one, from the ledger's height.
    let orderers: Vec<(std::net::SocketAddr, String)> = network
        .orderer
        .nodes
        .iter()
        .map(|n| (n.listen, n.host.clone()))
        .collect();
    let deliver = async move {
        let mut turn = 0usize;
        loop {
            let (addr, host) = &orderers[turn % orderers.len()];
            turn += 1;
            let Ok(grpc) = warga_ledger_orderer::grpc::client_channel(&tls, *addr, host) else {
                continue;
            };
            let start = ledger.height().unwrap_or(0);
            let request = warga_ledger_proto::v1::DeliverRequest {
                channel: channel.name.clone(),
                start,
            };
            let mut stream = match AtomicBroadcastClient::new(grpc).deliver(request).await {
                Ok(stream) => stream.into_inner(),
                Err(status) => {
                    tracing::debug!(%addr, %status, "an orderer did not deliver");
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    continue;
                }
            };
            while let Ok(Some(wire)) = stream.message().await {
                let Ok(block) = warga_ledger_core::block::Block::try_from(wire) else {
                    tracing::error!(%addr, "an orderer sent an unreadable block");
                    break;
                };
                if block.header.number < ledger.height().unwrap_or(0) {
                    continue;
                }
                let (ledger, network, channel) = (ledger.clone(), network.clone(), channel.clone());
                let mut msps = msps.clone();
                let started = std::time::Instant::now();
                let committed = tokio::task::spawn_blocking(move || {
                    msps.now_s = time::OffsetDateTime::now_utc().unix_timestamp();
                    let number = block.header.number;
                    ledger
                        .validate_and_commit(block, &network, &channel, &msps)
                        .map(|codes| (number, codes))
                })
                .await;
                match committed {
                    Ok(Ok((number, codes))) => {
                        PEER_COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
                        PEER_BLOCK.set(number as i64);
                        for code in codes {
                            PEER_CODES.with_label_values(&[code.as_str()]).inc();
                        }
                    }
                    Ok(Err(error)) => {
                        tracing::error!(%error, "a delivered block was refused");
                        break;
                    }
                    Err(error) => {
                        tracing::error!(%error, "committing a block failed");
                        break;
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    };
    tokio::select! {
        _ = deliver => {}
        _ = crate::run::wait_for_signal() => {}
    }
    Ok(())
}
