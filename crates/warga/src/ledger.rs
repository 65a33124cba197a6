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
