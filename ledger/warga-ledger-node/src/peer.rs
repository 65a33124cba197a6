//! A peer of one channel: its ledger, its endorser, and the task that pulls blocks from the
//! orderers (Fabric's deliver client), validates and commits them. A peer process runs one
//! per channel it joined ([`crate::running_peer`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use warga_ledger_core::block::Block;
use warga_ledger_core::chaincode::Contract;
use warga_ledger_core::network::{Channel, Network, Node, Organization};
use warga_ledger_core::tx::{Endorsement, Response, SignedProposal};
use warga_ledger_msp::{Msps, SigningIdentity};
use warga_ledger_orderer::grpc::{MESSAGE_LIMIT, TlsMaterial, client_channel};
use warga_ledger_peer::endorse::{EndorseError, Endorser};
use warga_ledger_peer::{LedgerError, PeerLedger, Prechecked, TxStatus};
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient;

use crate::NodeError;
use crate::metrics::{PEER_BLOCK, PEER_CODES, PEER_COMMIT_SECONDS};

/// Where a peer finds its network, identity and data.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub network: Arc<Network>,
    /// The crypto directory `warga ledger crypto generate` wrote.
    pub crypto: PathBuf,
    /// The organisation's name in the network file.
    pub organization: String,
    /// The peer's name in its organisation.
    pub name: String,
    /// Channels of the network file joined from the start, each begun from the genesis
    /// block the network file makes; channels joined later are kept in `data` and served
    /// again after a restart whatever this says.
    pub channels: Vec<String>,
    /// Where each channel's ledger lives (`<channel>.redb`).
    pub data: PathBuf,
    /// How often the endorser's revocation lists are fetched from the organisations' CAs.
    pub revocation_refresh: Duration,
}

/// One peer of one channel.
pub struct PeerNode {
    pub network: Arc<Network>,
    pub channel: Channel,
    pub organization: Organization,
    pub node: Node,
    pub ledger: Arc<PeerLedger>,
    pub signer: SigningIdentity,
    pub tls: TlsMaterial,
    pub contract: Arc<dyn Contract>,
    /// The MSPs of the endorser, with revocation lists refreshed while the peer runs.
    pub revocations: Arc<crate::revocation::Revocations>,
    height: watch::Sender<u64>,
    /// Told when the orderer this peer pulls from is behind what was ordered (a block the
    /// gateway knows exists does not arrive): the block stream moves to another orderer.
    stalled: tokio::sync::Notify,
    /// The highest block number received from the current stream (before it is committed:
    /// a slow commit is not a stalled orderer).
    received: watch::Sender<u64>,
    /// The network's peers by TLS certificate: who may push and fetch private data.
    pub(crate) pins: crate::private::PeerPins,
    /// How many private write sets this peer has reconciled since it started.
    pub(crate) reconciled: watch::Sender<u64>,
    pub(crate) private_clients: crate::private::PrivateClients,
}

/// How long a block the orderers acknowledged may take to arrive before the peer's stream
/// is taken for stalled.
const BLOCK_ARRIVAL: Duration = Duration::from_millis(500);
/// Blocks read from a stream ahead of the one being committed.
const READ_AHEAD: usize = 8;

/// A delivered block's precheck, running or done.
type Precheck = tokio::task::JoinHandle<Result<Prechecked, NodeError>>;
/// How long opening a block stream may take (a frozen orderer accepts the connection and
/// then answers nothing).
const STREAM_OPEN: Duration = Duration::from_secs(2);

/// The current time as the MSP checks validity windows with it.
fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Publishes when a node's TLS and signing certificates expire
/// (`warga_certificate_not_after_seconds{certificate="<host>/tls"|"<host>/msp"}`).
pub fn observe_certificates(host: &str, tls: &TlsMaterial, signer: &SigningIdentity) {
    let tls_expiry = warga_ledger_msp::certificate_pem_to_der(&tls.certificate_pem)
        .and_then(|der| warga_ledger_msp::not_after(&der));
    for (kind, expiry) in [
        ("tls", tls_expiry),
        ("msp", warga_ledger_msp::not_after(&signer.certificate_der)),
    ] {
        match expiry {
            Ok(not_after) => warga_telemetry::certificate_not_after(&format!("{host}/{kind}"), not_after),
            Err(error) => tracing::warn!(host, kind, %error, "a certificate's expiry could not be read"),
        }
    }
}

/// The only `*.pem` in `msp_dir/signcerts` and the key `msp_dir/keystore/priv_sk`.
pub fn signing_identity(msp_dir: &Path, msp_id: &str) -> Result<SigningIdentity, NodeError> {
    let signcerts = msp_dir.join("signcerts");
    let read_dir = std::fs::read_dir(&signcerts).map_err(|e| NodeError::io(&signcerts, e))?;
    let cert = read_dir
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .ok_or_else(|| NodeError::Usage(format!("no certificate in {}", signcerts.display())))?;
    let key = msp_dir.join("keystore/priv_sk");
    let cert_pem = std::fs::read(&cert).map_err(|e| NodeError::io(&cert, e))?;
    let key_pem = std::fs::read(&key).map_err(|e| NodeError::io(&key, e))?;
    SigningIdentity::from_pem(msp_id, &cert_pem, &key_pem).map_err(|e| NodeError::Crypto(e.to_string()))
}

impl PeerNode {
    /// Opens the peer's ledger of the channel whose genesis block this is (created from it
    /// when new) and its identity; `revocations` are the process's edge MSPs, shared by its
    /// channels.
    pub fn open(
        config: &PeerConfig,
        genesis: &Block,
        revocations: Arc<crate::revocation::Revocations>,
    ) -> Result<Arc<PeerNode>, NodeError> {
        let network = config.network.clone();
        let genesis_config =
            crate::genesis_config(genesis).map_err(|e| NodeError::Ledger(format!("the genesis block: {e}")))?;
        let name = genesis_config.channel.clone();
        if !crate::valid_channel_name(&name) {
            return Err(NodeError::Usage(format!("{name:?} is no valid channel name")));
        }
        let organization = network
            .organizations
            .iter()
            .find(|o| o.name == config.organization)
            .ok_or_else(|| {
                NodeError::Usage(format!(
                    "--org: no organisation {} in the network file",
                    config.organization
                ))
            })?
            .clone();
        if genesis_config.organization(&organization.msp_id).is_none() {
            return Err(NodeError::Usage(format!(
                "--channel: {} is not a member of {name}",
                organization.name
            )));
        }
        let node = organization
            .peers
            .iter()
            .find(|p| p.name == config.name)
            .ok_or_else(|| NodeError::Usage(format!("--name: {} has no peer {}", organization.name, config.name)))?
            .clone();
        let node_dir = warga_ledger_msp::generate::organization_dir(&config.crypto, false, &organization.domain)
            .join("peers")
            .join(&node.host);
        let tls = TlsMaterial::from_crypto(&network, &config.crypto, &node_dir, true)
            .map_err(|e| NodeError::Crypto(e.to_string()))?;
        let signer = signing_identity(&node_dir.join("msp"), &organization.msp_id)?;
        observe_certificates(&node.host, &tls, &signer);
        let registry =
            warga_ledger_msp::attestor::registry_key(&config.crypto).map_err(|e| NodeError::Crypto(e.to_string()))?;
        std::fs::create_dir_all(&config.data).map_err(|e| NodeError::io(&config.data, e))?;
        let path = config.data.join(format!("{name}.redb"));
        let ledger = PeerLedger::open(&path, &name, genesis)
            .map_err(|e| NodeError::Ledger(format!("{}: {e}", path.display())))?;
        let height = ledger.height().map_err(|e| NodeError::Ledger(e.to_string()))?;
        // The channel as its configuration in force describes it (members, chaincodes).
        let state = ledger.config();
        let channel = state.resolved.channel.clone();
        for error in revocations.edge().adopt_config(&state.resolved.config) {
            tracing::warn!(peer = %node.host, %error, "the endorser did not take up a revocation list of the configuration");
        }
        ledger.keep_private_data(warga_ledger_peer::PrivateScope::new(&channel, &organization.msp_id));
        let pins = crate::private::PeerPins::from_crypto(&network, &config.crypto);
        let peer = PeerNode {
            network,
            channel,
            organization,
            node,
            ledger: Arc::new(ledger),
            signer,
            tls,
            contract: Arc::new(warga_ledger_core::bpjs::Bpjs::new(registry)),
            revocations,
            height: watch::channel(height).0,
            stalled: tokio::sync::Notify::new(),
            received: watch::channel(height.saturating_sub(1)).0,
            pins,
            reconciled: watch::channel(0).0,
            private_clients: Default::default(),
        };
        PEER_BLOCK
            .with_label_values(&[peer.node.host.as_str(), peer.channel.name.as_str()])
            .set(height as i64 - 1);
        Ok(Arc::new(peer))
    }

    /// The endorser's MSPs: validity windows checked against now, revocation lists as
    /// last refreshed.
    pub fn msps(&self) -> Msps {
        self.revocations.edge().at(now_s())
    }

    /// How many private write sets this peer has fetched from other members and kept since
    /// it started; changes after each reconciliation round that kept some.
    pub fn reconciled(&self) -> watch::Receiver<u64> {
        self.reconciled.subscribe()
    }

    /// The ledger's height, which changes after every commit.
    pub fn height(&self) -> watch::Receiver<u64> {
        self.height.subscribe()
    }

    /// Endorses a proposal on this peer (checks, simulation, signature), off the async
    /// threads; private writes are handed to the collections' member peers first.
    pub async fn endorse(self: &Arc<Self>, signed: SignedProposal) -> Result<(Response, Endorsement), EndorseError> {
        let tx_id = signed.proposal.tx_id.clone();
        let (response, endorsement, private) = self.with_endorser(move |endorser| endorser.endorse(&signed)).await?;
        if !private.is_empty() {
            self.disseminate(&tx_id, &private).await?;
        }
        Ok((response, endorsement))
    }

    /// Evaluates a proposal on this peer: the endorser's checks and the simulation, without
    /// a signature (nothing of it is ordered), off the async threads.
    pub async fn evaluate(self: &Arc<Self>, signed: SignedProposal) -> Result<Response, EndorseError> {
        self.with_endorser(move |endorser| endorser.simulate(&signed).map(|(response, _)| response))
            .await
    }

    /// Runs `work` with this peer's endorser (its MSPs as of now) on a blocking thread.
    async fn with_endorser<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Endorser<'_>) -> Result<T, EndorseError> + Send + 'static,
    ) -> Result<T, EndorseError> {
        let peer = self.clone();
        tokio::task::spawn_blocking(move || {
            let msps = peer.msps();
            let state = peer.ledger.config();
            work(&Endorser {
                ledger: &peer.ledger,
                channel: &state.resolved.channel,
                msps: &msps,
                contract: peer.contract.as_ref(),
                signer: &peer.signer,
            })
        })
        .await
        .map_err(|e| EndorseError::Signing(format!("the endorsement task failed: {e}")))?
    }

    /// Where a transaction ended up, once this peer committed it; `None` after `timeout`.
    pub async fn wait_for(&self, tx_id: &str, timeout: Duration) -> Result<Option<TxStatus>, NodeError> {
        let mut height = self.height();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .ledger
                .tx_status(tx_id)
                .map_err(|e| NodeError::Ledger(e.to_string()))?
            {
                return Ok(Some(status));
            }
            match tokio::time::timeout_at(deadline, height.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    }

    /// Expects block `number` (acknowledged by the orderers) to arrive soon; if it has been
    /// neither received nor committed within [`BLOCK_ARRIVAL`], the block stream moves to
    /// another orderer.
    pub fn expect_block(self: &Arc<Self>, number: u64) {
        let peer = self.clone();
        tokio::spawn(async move {
            let mut received = peer.received.subscribe();
            let arrived = tokio::time::timeout(BLOCK_ARRIVAL, received.wait_for(|r| *r >= number)).await;
            if !matches!(arrived, Ok(Ok(_))) {
                tracing::debug!(block = number, peer = %peer.node.host, "an ordered block did not arrive in time");
                peer.stalled.notify_one();
            }
        });
    }

    /// What can be judged of a delivered block before the blocks ahead of it commit: the
    /// orderer's signature and every transaction's stateless checks. Blocking (runs on a
    /// blocking thread, while the block before it commits).
    fn precheck(&self, block: Block) -> Result<Prechecked, NodeError> {
        // Commit-time validation reads no clock: identities are judged by issuer,
        // signature, role and the revocation lists of the channel's configuration in force,
        // so every peer, now or replaying later, agrees.
        let state = self.ledger.config();
        // Only blocks an orderer of the channel's ordering organisation signed (as Fabric's
        // deliver client checks).
        let number = block.header.number;
        warga_ledger_msp::verify_block_signature(&block, &state.msps, &state.resolved.config.orderer.msp_id).map_err(
            |e| NodeError::Ledger(LedgerError::Corrupt(number, format!("the orderer's signature: {e}")).to_string()),
        )?;
        Ok(Prechecked::new(block, &state))
    }

    /// Validates and commits one delivered block.
    pub async fn commit(self: &Arc<Self>, block: Block) -> Result<(), NodeError> {
        let peer = self.clone();
        let prechecked = tokio::task::spawn_blocking(move || peer.precheck(block))
            .await
            .map_err(|e| NodeError::Ledger(format!("the validation task failed: {e}")))??;
        self.commit_prechecked(prechecked).await
    }

    /// Finishes validating a prechecked block (MVCC, in order) and commits it.
    async fn commit_prechecked(self: &Arc<Self>, prechecked: Prechecked) -> Result<(), NodeError> {
        let peer = self.clone();
        let started = std::time::Instant::now();
        let number = prechecked.number();
        let codes = tokio::task::spawn_blocking(move || peer.ledger.commit_prechecked(prechecked))
            .await
            .map_err(|e| NodeError::Ledger(format!("the commit task failed: {e}")))?
            .map_err(|e| NodeError::Ledger(e.to_string()))?;
        let host = self.node.host.as_str();
        let state = self.ledger.config();
        if state.block == number && number > 0 {
            // A configuration block applied: the endorser and the collections follow it.
            for error in self.revocations.edge().adopt_config(&state.resolved.config) {
                tracing::warn!(peer = %host, %error, "the endorser did not take up a revocation list of the configuration");
            }
            self.ledger.keep_private_data(warga_ledger_peer::PrivateScope::new(
                &state.resolved.channel,
                &self.organization.msp_id,
            ));
            tracing::info!(peer = %host, channel = %self.channel.name, block = number, sequence = state.sequence(), "applied a configuration update");
        }
        PEER_COMMIT_SECONDS
            .with_label_values(&[host])
            .observe(started.elapsed().as_secs_f64());
        PEER_BLOCK
            .with_label_values(&[host, self.channel.name.as_str()])
            .set(number as i64);
        for code in codes {
            PEER_CODES.with_label_values(&[host, code.as_str()]).inc();
        }
        self.height.send_replace(number + 1);
        Ok(())
    }

    /// Pulls blocks from the orderers at `orderers` (address, TLS host name) in turn, from the
    /// ledger's height on, and commits them; on any failure, the next orderer. Runs until
    /// dropped.
    pub async fn deliver(self: Arc<Self>, orderers: Vec<(String, String)>) {
        // Peers start at different orderers (by their host name), so one frozen orderer —
        // the first in the file, say — does not hold every peer's stream at once.
        let mut turn = self.node.host.bytes().map(usize::from).sum::<usize>();
        let mut failures = 0u64;
        loop {
            let (addr, host) = &orderers[turn % orderers.len()];
            turn += 1;
            match self.deliver_from(addr, host).await {
                Ok(()) => failures = 0,
                // A stalled stream moves to the next orderer at once.
                Err(NodeError::Stalled(host)) => {
                    failures = 0;
                    tracing::warn!(orderer = %host, peer = %self.node.host, "the orderer's block stream is behind what was ordered; moving to the next orderer");
                    continue;
                }
                Err(error) => {
                    failures += 1;
                    // One line when the connection is lost, then one per hundred retries.
                    if failures == 1 || failures.is_multiple_of(100) {
                        tracing::warn!(orderer = %host, %error, failures, peer = %self.node.host, "lost the orderer's block stream; trying the next orderer");
                    } else {
                        tracing::debug!(orderer = %host, %error, peer = %self.node.host, "delivery from an orderer stopped");
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn deliver_from(self: &Arc<Self>, addr: &str, host: &str) -> Result<(), NodeError> {
        let grpc = client_channel(&self.tls, addr, host).map_err(NodeError::Transport)?;
        let start = self.ledger.height().map_err(|e| NodeError::Ledger(e.to_string()))?;
        let request = v1::DeliverRequest {
            channel: self.channel.name.clone(),
            start,
        };
        let mut caught_up_to = None;
        let mut client = AtomicBroadcastClient::new(grpc)
            .max_decoding_message_size(MESSAGE_LIMIT)
            .max_encoding_message_size(MESSAGE_LIMIT);
        let mut stream = tokio::time::timeout(STREAM_OPEN, client.deliver(request))
            .await
            .map_err(|_| NodeError::Transport(format!("{host} did not open a block stream in time")))?
            .map_err(|s| NodeError::Transport(s.to_string()))?
            .into_inner();
        // The stream is read ahead of committing, so `received` moves while a commit runs:
        // a slow commit is never taken for a stalled orderer. Each block read is prechecked
        // at once (signatures, on a blocking thread), so block n + 1's signatures are
        // verified while block n commits; the commit loop takes the results in order.
        let (ahead, mut blocks) = tokio::sync::mpsc::channel::<Precheck>(READ_AHEAD);
        let peer = self.clone();
        let reader_host = host.to_owned();
        // Aborted with this stream, however it ends: a peer stopped while its orderer is
        // idle must not leave the reader (and the ledger it holds) waiting for a block.
        let mut reader = AbortOnDrop(tokio::spawn(async move {
            loop {
                let wire = match stream.message().await {
                    Ok(Some(wire)) => wire,
                    Ok(None) => return Ok(()),
                    Err(status) => return Err(NodeError::Transport(status.to_string())),
                };
                let block = Block::try_from(wire)
                    .map_err(|e| NodeError::Transport(format!("{reader_host} sent an unreadable block: {e}")))?;
                peer.received.send_if_modified(|r| {
                    let newer = block.header.number > *r;
                    if newer {
                        *r = block.header.number;
                    }
                    newer
                });
                let checker = peer.clone();
                let check = tokio::task::spawn_blocking(move || checker.precheck(block));
                if ahead.send(check).await.is_err() {
                    return Ok(());
                }
            }
        }));
        let committed = async {
            loop {
                let next = tokio::select! {
                    next = blocks.recv() => next,
                    () = self.stalled.notified() => return Err(NodeError::Stalled(host.to_owned())),
                };
                let Some(check) = next else { return Ok(()) };
                let prechecked = check
                    .await
                    .map_err(|e| NodeError::Ledger(format!("the validation task failed: {e}")))
                    .and_then(|checked| checked);
                let prechecked = match prechecked {
                    Ok(prechecked) => prechecked,
                    Err(error) => {
                        tracing::error!(%error, orderer = %host, peer = %self.node.host, "a delivered block was refused");
                        return Err(error);
                    }
                };
                if prechecked.number() < self.ledger.height().map_err(|e| NodeError::Ledger(e.to_string()))? {
                    continue;
                }
                let number = prechecked.number();
                if let Err(error) = self.commit_prechecked(prechecked).await {
                    tracing::error!(%error, block = number, orderer = %host, peer = %self.node.host, "a delivered block was refused");
                    return Err(error);
                }
                // A peer that was behind says once when it has caught up with this stream.
                if caught_up_to.is_none() && number >= start + 10 {
                    caught_up_to = Some(number);
                    tracing::info!(height = number + 1, from = start, orderer = %host, peer = %self.node.host, "catching up");
                }
            }
        }
        .await;
        reader.0.abort();
        match (committed, (&mut reader.0).await) {
            (Err(error), _) => Err(error),
            // The stream ended: the reader says why.
            (Ok(()), Ok(read)) => read,
            (Ok(()), Err(_)) => Ok(()),
        }
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
