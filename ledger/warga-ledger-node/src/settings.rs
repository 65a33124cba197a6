//! The ledger's sections of the configuration: `[ledger]` (the network `warga up` embeds),
//! `[orderer]` and `[peer]` (what a node process's flags may also say).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use warga_config::Section;

/// The BPJS ledger network `warga up` runs inside its process.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Run the orderers and one peer per organisation in `warga up`.
    pub enabled: bool,
    /// The network file; absent: the BPJS example network shipped with warga.
    pub network: Option<PathBuf>,
    /// The channel the platform works on (its clients, the web gateway).
    pub channel: String,
    /// Every channel the embedded nodes serve — the orderers order each, one Raft group per
    /// channel, and every peer joins those its organisation is a member of; empty: every
    /// channel of the network file.
    pub channels: Vec<String>,
    /// Listen on free ports of 127.0.0.1 instead of the network file's addresses (several
    /// instances on one machine, tests).
    pub ephemeral_ports: bool,
    /// The crypto directory of the network (`warga ledger crypto generate`), where the web
    /// gateway finds each organisation's administrator; absent: `<data_dir>/ledger/crypto`,
    /// where `warga up` keeps its network's.
    pub crypto: Option<PathBuf>,
    /// The peer the web gateway sends an organisation's requests to, by MSP id
    /// (`host:port`); absent: the organisation's first peer in the network file. `warga up`
    /// fills this in with the peers it runs.
    pub peers: BTreeMap<String, String>,
    /// The CA the web gateway enrols an organisation's people at, by MSP id (`https://…`);
    /// absent: the network file's `ca_url`. `warga up` fills this in with the CAs it runs.
    pub cas: BTreeMap<String, String>,
    /// Longest wait for one call through the web gateway — a submission's endorsement,
    /// ordering and commit together — in milliseconds.
    pub gateway_timeout_ms: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            network: None,
            channel: "bpjs-main".into(),
            channels: Vec::new(),
            ephemeral_ports: false,
            crypto: None,
            peers: BTreeMap::new(),
            cas: BTreeMap::new(),
            gateway_timeout_ms: 30_000,
        }
    }
}

/// One ledger node run as its own process (`warga orderer`, `warga peer`); a command-line
/// flag wins over the value here.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerNodeConfig {
    /// The network file.
    pub network: Option<PathBuf>,
    /// The directory `warga ledger crypto generate` wrote.
    pub crypto: Option<PathBuf>,
    /// The node's organisation (peers only), e.g. `BPJS`.
    pub org: Option<String>,
    /// The node's name in the network file, e.g. `orderer0` or `peer0`.
    pub name: Option<String>,
    /// A channel of the network file the node serves from its start (see `channels`).
    pub channel: Option<String>,
    /// Channels of the network file the node serves from its start, begun from the genesis
    /// block the network file makes; channels joined later (`warga ledger channel join`)
    /// are kept in the data directory and served again after a restart.
    pub channels: Vec<String>,
    /// Where the node keeps its data.
    pub data: Option<PathBuf>,
    /// Seconds between fetches of the revocation lists from the organisations' CAs.
    pub revocation_refresh_s: Option<u64>,
}

impl Section for LedgerConfig {
    const KEY: &'static str = "ledger";
}

/// `[orderer]`: `warga orderer`'s settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct OrdererSettings(pub LedgerNodeConfig);

impl Section for OrdererSettings {
    const KEY: &'static str = "orderer";
}

/// `[peer]`: `warga peer`'s settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PeerSettings(pub LedgerNodeConfig);

impl Section for PeerSettings {
    const KEY: &'static str = "peer";
}
