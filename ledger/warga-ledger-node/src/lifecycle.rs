//! A node process's life: its operations endpoint (`/healthz` and `/metrics` over TLS, as
//! Fabric's operations service), and a graceful shutdown when the process is told to stop.
//!
//! The operations endpoint uses the node's own TLS server certificate; it asks for no client
//! certificate, so a health probe or a Prometheus scraper needs only the organisation's TLS
//! CA ([`operations_client`] with [`tls_cas`] trusts every CA of the network).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use warga_ledger_orderer::grpc::TlsMaterial;

use crate::{Health, NodeError, RunningNode};

/// How long in-flight operations requests may take once a node is stopping.
const OPERATIONS_GRACE: Duration = Duration::from_secs(5);

/// A running operations endpoint.
pub struct Operations {
    pub local_addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Operations {
    /// Serves `/healthz` (what `health` answers) and `/metrics` (the process's Prometheus
    /// registry) over TLS with the node's server certificate, on `listener`.
    pub fn serve(listener: std::net::TcpListener, tls: &TlsMaterial, health: Health) -> Result<Operations, NodeError> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| NodeError::Io(format!("operations listener: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| NodeError::Io(format!("operations listener {local_addr}: {e}")))?;
        let router = axum::Router::new()
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
        let config = server_config(tls)?;
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(std::sync::Arc::new(config)),
        )
        .map_err(|e| NodeError::Transport(format!("operations {local_addr}: {e}")))?
        .handle(handle.clone());
        let task = tokio::spawn(server.serve(router.into_make_service()));
        Ok(Operations {
            local_addr,
            handle,
            task,
        })
    }

    /// Stops accepting, lets requests in flight finish (for a few seconds at most).
    pub async fn shutdown(self) {
        self.handle.graceful_shutdown(Some(OPERATIONS_GRACE));
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the operations endpoint failed"),
            Err(error) => tracing::warn!(%error, "the operations endpoint ended abnormally"),
        }
    }
}

/// Binds a node's operations address.
pub fn bind_operations(addr: SocketAddr) -> Result<std::net::TcpListener, NodeError> {
    std::net::TcpListener::bind(addr).map_err(|e| NodeError::Usage(format!("cannot listen on {addr}: {e}")))
}

/// Runs a started node until `stop` resolves, serving its operations endpoint on
/// `operations`; then stops the endpoint and the node, in that order, and returns once
/// everything the node was doing has ended (its stores closed).
pub async fn serve_until<N: RunningNode>(
    node: N,
    operations: std::net::TcpListener,
    stop: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let endpoint = match Operations::serve(operations, node.tls(), node.health()) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            node.shutdown().await;
            return Err(error);
        }
    };
    tracing::info!(operations = %endpoint.local_addr, "serving; operations endpoint over TLS");
    // SIGHUP: refresh the revocation lists from the organisations' CAs now.
    let revocations = node.revocations();
    let hangups = tokio::spawn(async move {
        let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; revocation lists refresh on schedule only");
            return;
        };
        while hangup.recv().await.is_some() {
            let new = revocations.refresh().await;
            tracing::info!(new, "SIGHUP: revocation lists refreshed");
        }
    });
    stop.await;
    hangups.abort();
    tracing::info!("stopping: operations endpoint, then the node");
    endpoint.shutdown().await;
    node.shutdown().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn server_config(tls: &TlsMaterial) -> Result<rustls::ServerConfig, NodeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(&tls.certificate_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NodeError::Crypto(format!("the node's TLS certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&tls.key_pem)
        .map_err(|e| NodeError::Crypto(format!("the node's TLS key: {e}")))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| NodeError::Crypto(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| NodeError::Crypto(format!("the node's TLS certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS CA certificate (PEM) of every organisation of `network`, from the crypto
/// directory written by `crypto generate`.
pub fn tls_cas(
    network: &warga_ledger_core::network::Network,
    crypto: &std::path::Path,
) -> Result<Vec<Vec<u8>>, NodeError> {
    use warga_ledger_msp::generate::organization_dir;
    let orgs = network
        .organizations
        .iter()
        .map(|o| (&o.domain, false))
        .chain(std::iter::once((&network.orderer.organization.domain, true)));
    orgs.map(|(domain, orderer)| {
        let path = organization_dir(crypto, orderer, domain).join(format!("tlsca/tlsca.{domain}-cert.pem"));
        std::fs::read(&path).map_err(|e| NodeError::io(&path, e))
    })
    .collect()
}

/// An HTTPS client of operations endpoints: trusts the TLS CAs `cas` (PEM) and gives up on
/// a request after `timeout`.
pub fn operations_client(cas: &[Vec<u8>], timeout: Duration) -> Result<reqwest::Client, NodeError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for pem in cas {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| NodeError::Crypto(format!("a TLS CA certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| NodeError::Crypto(format!("a TLS CA certificate: {e}")))?;
        }
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| NodeError::Crypto(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(timeout)
        .build()
        .map_err(|e| NodeError::Transport(e.to_string()))
}
