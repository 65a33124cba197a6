//! Revocation at the edge: the identities a node's endorser and Broadcast accept, with the
//! revocation lists of every organisation — loaded from the crypto directory at start
//! (`<org>/msp/crls/*`, PEM or DER, as in a Fabric MSP) and refreshed from each
//! organisation's `warga ca` (`ca_url` in the network file) every refresh interval, and at
//! once on demand (SIGHUP to `warga peer` / `warga orderer`, or [`Revocations::refresh`]).
//!
//! A list is adopted only when its organisation's CA signed it, so the fetch needs no more
//! trust than the CA's signature; lists only add serials. Commit-time validation does not
//! read these lists: when a peer learnt of a revocation is not something every peer agrees
//! on (revocation in the chain comes with configuration transactions).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use warga_ledger_ca::client::CaClient;
use warga_ledger_core::network::Network;
use warga_ledger_msp::EdgeMsps;
use warga_ledger_msp::generate::organization_dir;

use crate::NodeError;

/// How long one fetch of a revocation list may take.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(5);
/// How often a node fetches its organisations' revocation lists, unless configured.
pub const REFRESH_DEFAULT: Duration = Duration::from_secs(60);

struct Source {
    msp_id: String,
    url: String,
    client: CaClient,
    /// Whether the last fetch failed (a failure is logged once, and the recovery).
    failing: AtomicBool,
}

/// A node's edge MSPs and where their revocation lists come from.
pub struct Revocations {
    edge: EdgeMsps,
    sources: Vec<Source>,
    /// Counts refreshes (each one over every source), for whoever waits on one.
    refreshed: watch::Sender<u64>,
}

impl Revocations {
    /// The MSPs of `network` from the crypto directory, with the revocation lists found
    /// there, and a CA client for every organisation that names its `ca_url`.
    pub fn load(network: &Network, crypto: &Path) -> Result<Arc<Revocations>, NodeError> {
        let msps =
            warga_ledger_msp::generate::load_msps(network, crypto, 0).map_err(|e| NodeError::Crypto(e.to_string()))?;
        let edge = EdgeMsps::new(msps);
        let orgs = network
            .organizations
            .iter()
            .map(|o| (&o.msp_id, &o.domain, false, &o.ca_url))
            .chain(std::iter::once({
                let o = &network.orderer.organization;
                (&o.msp_id, &o.domain, true, &o.ca_url)
            }));
        let mut sources = Vec::new();
        for (msp_id, domain, orderer, ca_url) in orgs {
            let msp_dir = organization_dir(crypto, orderer, domain).join("msp");
            let crls = msp_dir.join("crls");
            if crls.is_dir() {
                let mut files: Vec<_> = std::fs::read_dir(&crls)
                    .map_err(|e| NodeError::io(&crls, e))?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                for file in files {
                    let bytes = std::fs::read(&file).map_err(|e| NodeError::io(&file, e))?;
                    edge.apply_revocation_list(msp_id, &bytes)
                        .map_err(|e| NodeError::Crypto(format!("{}: {e}", file.display())))?;
                }
            }
            if let Some(url) = ca_url {
                let tls_ca = msp_dir.join(format!("tlscacerts/tlsca.{domain}-cert.pem"));
                let pem = std::fs::read(&tls_ca).map_err(|e| NodeError::io(&tls_ca, e))?;
                let client = CaClient::new(url, &pem, FETCH_DEADLINE)
                    .map_err(|e| NodeError::Crypto(format!("the CA of {msp_id} at {url}: {e}")))?;
                sources.push(Source {
                    msp_id: msp_id.clone(),
                    url: url.clone(),
                    client,
                    failing: AtomicBool::new(false),
                });
            }
        }
        let revoked = edge.revoked_count();
        if revoked > 0 {
            tracing::info!(revoked, "revocation lists loaded from the crypto directory");
        }
        Ok(Arc::new(Revocations {
            edge,
            sources,
            refreshed: watch::channel(0).0,
        }))
    }

    /// The MSPs the edge checks judge with.
    pub fn edge(&self) -> &EdgeMsps {
        &self.edge
    }

    /// Fetches every organisation's list from its CA now and adopts what its CA signed;
    /// returns how many serials were new. A CA that cannot be reached keeps its last list.
    pub async fn refresh(&self) -> usize {
        let mut added = 0;
        for source in &self.sources {
            let outcome = match source.client.revocation_list().await {
                Ok(crl) => self
                    .edge
                    .apply_revocation_list(&source.msp_id, &crl)
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match outcome {
                Ok(new) => {
                    if source.failing.swap(false, Ordering::Relaxed) {
                        tracing::info!(msp = %source.msp_id, url = %source.url, "the CA's revocation list is reachable again");
                    }
                    if new > 0 {
                        tracing::info!(msp = %source.msp_id, new, "revocation list refreshed: newly revoked certificates are refused from now on");
                    }
                    added += new;
                }
                Err(error) => {
                    if !source.failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(msp = %source.msp_id, url = %source.url, %error, "cannot refresh the revocation list; keeping the last one");
                    }
                }
            }
        }
        self.refreshed.send_modify(|n| *n += 1);
        added
    }

    /// Completed refreshes so far, changing after each.
    pub fn refreshed(&self) -> watch::Receiver<u64> {
        self.refreshed.subscribe()
    }

    /// Refreshes every `every` while the returned task runs (nothing to run when no
    /// organisation names a CA).
    pub fn spawn(self: &Arc<Self>, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        if self.sources.is_empty() {
            return None;
        }
        let this = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                this.refresh().await;
            }
        }))
    }
}
