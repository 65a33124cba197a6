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
pub async fn run(command: LedgerCommand) -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match command {
        LedgerCommand::Network(NetworkCommand::Up { network, dir, channel }) => {
            crate::ledger_net::up(&network, &dir, &channel).await
        }
        LedgerCommand::Invoke { client, function, args } => {
            let status = connect(&client)?.submit(&function, &args).await.map_err(refused)?;
            print_result(&status.result);
            println!(
                "transaksi / transaction {} → blok / block {}: {}",
                status.tx_id, status.block, status.code_name
            );
            if status.code_name == "VALID" {
                Ok(())
            } else {
                Err(anyhow!(
                    "transaction {} was committed as invalid: {}",
                    status.tx_id,
                    status.code_name
                )
                .into())
            }
        }
        LedgerCommand::Query { client, function, args } => {
            let result = connect(&client)?.evaluate(&function, &args).await.map_err(refused)?;
            print_result(&result);
            Ok(())
        }
        LedgerCommand::Info { client } => {
            let info = connect(&client)?.info().await.map_err(refused)?;
            println!(
                "{}",
                serde_json::json!({
                    "channel": info.channel,
                    "height": info.height,
                    "current_hash": warga_ledger_core::tx::hex(&info.current_hash),
                    "previous_hash": warga_ledger_core::tx::hex(&info.previous_hash),
                })
            );
            Ok(())
        }
        LedgerCommand::Block { client, number, tx_id } => {
            let client = connect(&client)?;
            let block = match (number, tx_id) {
                (_, Some(tx_id)) => client.block_by_tx_id(&tx_id).await,
                (Some(number), None) => client.block(number).await,
                (None, None) => {
                    let height = client.info().await.map_err(refused)?.height;
                    client.block(height - 1).await
                }
            }
            .map_err(refused)?;
            println!("{:#}", block_json(block)?);
            Ok(())
        }
        LedgerCommand::Status { client, tx_id } => {
            let status = connect(&client)?.status(&tx_id).await.map_err(refused)?;
            println!(
                "{}",
                serde_json::json!({ "tx_id": status.tx_id, "block": status.block, "code": status.code_name })
            );
            Ok(())
        }
        LedgerCommand::History {
            client,
            object_type,
            parts,
        } => {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let key = warga_ledger_core::chaincode::composite_key(&object_type, &parts)
                .map_err(|e| Failure::usage(anyhow!("the key: {e}")))?;
            let history = connect(&client)?.history(&key).await.map_err(refused)?;
            for change in history {
                let value = change.value.as_deref().map(|v| {
                    serde_json::from_slice::<serde_json::Value>(v)
                        .unwrap_or_else(|_| serde_json::Value::from(String::from_utf8_lossy(v).into_owned()))
                });
                println!(
                    "{}",
                    serde_json::json!({
                        "tx_id": change.tx_id,
                        "block": change.block,
                        "tx": change.tx,
                        "timestamp_ms": change.timestamp_ms,
                        "deleted": change.value.is_none(),
                        "value": value,
                    })
                );
            }
            Ok(())
        }
        LedgerCommand::Events {
            client,
            from,
            count,
            full,
        } => {
            let mut stream = connect(&client)?.events(from, full).await.map_err(refused)?;
            let mut seen = 0u64;
            while count.is_none_or(|c| seen < c) {
                let event = tokio::select! {
                    next = stream.message() => match next.map_err(refused)? {
                        Some(event) => event,
                        None => break,
                    },
                    () = crate::run::wait_for_signal() => break,
                };
                let block = match event.block {
                    Some(block) => Some(block_json(block)?),
                    None => None,
                };
                let transactions: Vec<serde_json::Value> = event
                    .transactions
                    .into_iter()
                    .map(|t| {
                        serde_json::json!({
                            "tx_id": t.tx_id,
                            "code": t.code_name,
                            "chaincode": t.chaincode,
                            "function": t.function,
                            "event": t.event.map(|e| serde_json::json!({
                                "name": e.name,
                                "payload": serde_json::from_slice::<serde_json::Value>(&e.payload)
                                    .unwrap_or_else(|_| serde_json::Value::from(String::from_utf8_lossy(&e.payload).into_owned())),
                            })),
                        })
                    })
                    .collect();
                let mut line = serde_json::json!({
                    "block": event.number,
                    "hash": warga_ledger_core::tx::hex(&event.hash),
                    "transactions": transactions,
                });
                if let Some(block) = block {
                    line["full"] = block;
                }
                println!("{line}");
                seen += 1;
            }
            Ok(())
        }
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

/// A client of the peer `args` names, as the user it names.
fn connect(args: &crate::cli::ClientArgs) -> Result<warga_ledger_node::client::Client, Failure> {
    let network = read_network(&args.network)?;
    let org = network
        .organizations
        .iter()
        .find(|o| o.name == args.org)
        .ok_or_else(|| Failure::usage(anyhow!("--org: no organisation {} in the network file", args.org)))?;
    let peer = org
        .peers
        .iter()
        .find(|p| p.name == args.peer)
        .ok_or_else(|| Failure::usage(anyhow!("--peer: {} has no peer {}", org.name, args.peer)))?;
    if network.channel(&args.channel).is_none() {
        return Err(Failure::usage(anyhow!(
            "--channel: no channel {} in the network file",
            args.channel
        )));
    }
    warga_ledger_node::embedded::client_of(
        &network,
        &args.crypto,
        &org.msp_id,
        &args.user,
        args.address.unwrap_or(peer.listen),
        &peer.host,
        &args.channel,
    )
    .map_err(node_failure)
}

/// A refusal from a peer, as one line.
fn refused(status: tonic::Status) -> Failure {
    anyhow!("the peer refused ({:?}): {}", status.code(), status.message()).into()
}

/// A chaincode's result: pretty JSON when it is JSON.
fn print_result(result: &[u8]) {
    if result.is_empty() {
        return;
    }
    match serde_json::from_slice::<serde_json::Value>(result) {
        Ok(json) => println!("{json:#}"),
        Err(_) => println!("{}", String::from_utf8_lossy(result)),
    }
}

/// A block for people: header hashes, who ordered it, and each transaction's outcome.
fn block_json(wire: warga_ledger_proto::v1::Block) -> Result<serde_json::Value, Failure> {
    use warga_ledger_core::tx::hex;
    let block = warga_ledger_core::block::Block::try_from(wire).map_err(|e| anyhow!("an unreadable block: {e}"))?;
    let transactions: Vec<serde_json::Value> = block
        .data
        .transactions()
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            serde_json::json!({
                "tx_id": tx.proposal.tx_id,
                "code": block.code(i).map(|c| c.as_str()),
                "creator": tx.proposal.creator.msp_id,
                "chaincode": tx.proposal.chaincode,
                "function": tx.proposal.function,
                "args": tx.proposal.args,
                "timestamp_ms": tx.proposal.timestamp_ms,
                "endorsers": tx.endorsements.iter().map(|e| e.endorser.msp_id.as_str()).collect::<Vec<_>>(),
                "event": tx.response.event.as_ref().map(|e| e.name.as_str()),
            })
        })
        .collect();
    let mut out = serde_json::json!({
        "number": block.header.number,
        "hash": hex(&block.header.hash()),
        "previous_hash": hex(&block.header.previous_hash),
        "data_hash": hex(&block.header.data_hash),
        "orderer": block.metadata.orderer.as_ref().map(|o| o.msp_id.as_str()),
        "transactions": transactions,
    });
    if let warga_ledger_core::block::BlockData::Config(config) = &block.data {
        out["config"] = serde_json::from_str(config).unwrap_or_default();
    }
    Ok(out)
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

async fn admin_call(
    ca: &CaClient,
    admin_msp: &Path,
    msp_id: &str,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    let admin = warga_ledger_node::peer::signing_identity(admin_msp, msp_id).map_err(node_failure)?;
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

fn node_failure(error: warga_ledger_node::NodeError) -> Failure {
    match error {
        warga_ledger_node::NodeError::Usage(_) => Failure::usage(error),
        other => anyhow!(other).into(),
    }
}

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

/// A ledger node's settings, from flags and the configuration file.
struct ResolvedNode {
    network: PathBuf,
    crypto: PathBuf,
    org: String,
    name: String,
    channel: String,
    data: PathBuf,
}

/// A node setting from its flag, else from the configuration file; one line naming both
/// when neither has it.
fn setting<T>(flag: Option<T>, configured: Option<T>, section: &str, key: &str) -> Result<T, Failure> {
    flag.or(configured).ok_or_else(|| {
        Failure::usage(anyhow!(
            "--{key}: required (or `{section}.{key}` in the configuration file)"
        ))
    })
}

impl ResolvedNode {
    /// The settings of `section` (`orderer` or `peer`), flags first; `org` only for peers.
    fn resolve(
        args: crate::cli::NodeArgs,
        org: Option<Option<String>>,
        file: warga_config::LedgerNodeConfig,
        section: &str,
    ) -> Result<ResolvedNode, Failure> {
        Ok(ResolvedNode {
            network: setting(args.network, file.network, section, "network")?,
            crypto: setting(args.crypto, file.crypto, section, "crypto")?,
            org: match org {
                Some(flag) => setting(flag, file.org, section, "org")?,
                None => String::new(),
            },
            name: setting(args.name, file.name, section, "name")?,
            channel: setting(args.channel, file.channel, section, "channel")?,
            data: args
                .data
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from("data").join(section)),
        })
    }
}

/// `warga orderer`: one orderer of one channel.
pub async fn orderer(args: crate::cli::NodeArgs, file: warga_config::LedgerNodeConfig) -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = ResolvedNode::resolve(args, None, file, "orderer")?;
    let network = Arc::new(read_network(&args.network)?);
    let me = network
        .orderer
        .nodes
        .iter()
        .find(|n| n.name == args.name)
        .ok_or_else(|| Failure::usage(anyhow!("--name: no orderer {} in the network file", args.name)))?
        .clone();
    let config = warga_ledger_node::orderer::OrdererConfig {
        network,
        crypto: args.crypto,
        name: args.name,
        channel: args.channel,
        data: args.data,
    };
    let listener = warga_ledger_node::embedded::bind(me.listen)
        .await
        .map_err(node_failure)?;
    let running = warga_ledger_node::orderer::RunningOrderer::start(&config, listener)
        .await
        .map_err(node_failure)?;
    let banner = format!(
        "orderer {} ({}) kanal / channel {}: gRPC {} (mTLS), operasi / operations http://{}",
        me.name, running.node.id, config.channel, me.listen, me.operations
    );
    serve_until_signal(running, me.operations, banner).await
}

/// Serves a started node's `/healthz` and `/metrics`, prints its banner, and shuts it down
/// on SIGINT or SIGTERM.
async fn serve_until_signal(
    running: impl warga_ledger_node::RunningNode,
    operations: std::net::SocketAddr,
    banner: String,
) -> Result<(), Failure> {
    let running = Arc::new(running);
    let health = running.clone();
    serve_operations(operations, move || health.health()).await?;
    println!("{banner}");
    crate::run::wait_for_signal().await;
    if let Ok(running) = Arc::try_unwrap(running) {
        running.shutdown().await;
    }
    Ok(())
}

/// `warga peer`: one peer of one channel — endorser, gateway, ledger queries and events over
/// gRPC, committing what the orderers deliver.
pub async fn peer(args: crate::cli::PeerArgs, file: warga_config::LedgerNodeConfig) -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = ResolvedNode::resolve(args.node, Some(args.org), file, "peer")?;
    let network = Arc::new(read_network(&args.network)?);
    let me = network
        .organizations
        .iter()
        .find(|o| o.name == args.org)
        .ok_or_else(|| Failure::usage(anyhow!("--org: no organisation {} in the network file", args.org)))?
        .peers
        .iter()
        .find(|p| p.name == args.name)
        .ok_or_else(|| Failure::usage(anyhow!("--name: {} has no peer {}", args.org, args.name)))?
        .clone();
    let config = warga_ledger_node::peer::PeerConfig {
        network,
        crypto: args.crypto,
        organization: args.org,
        name: args.name,
        channel: args.channel,
        data: args.data,
    };
    let listener = warga_ledger_node::embedded::bind(me.listen)
        .await
        .map_err(node_failure)?;
    let running = warga_ledger_node::embedded::RunningPeer::start(&config, listener)
        .await
        .map_err(node_failure)?;
    let banner = format!(
        "peer {} ({}) kanal / channel {}: tinggi / height {}, gRPC {} (mTLS), operasi / operations http://{}",
        me.host,
        running.peer.organization.msp_id,
        config.channel,
        running.peer.ledger.height().unwrap_or(0),
        me.listen,
        me.operations
    );
    serve_until_signal(running, me.operations, banner).await
}
