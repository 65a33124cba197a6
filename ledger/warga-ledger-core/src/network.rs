//! The network file: one YAML document in the spirit of Fabric's `configtx.yaml` and
//! `crypto-config.yaml` together — organisations and their nodes, the ordering service
//! (BatchSize, BatchTimeout, Raft options), channels with their member organisations, and
//! chaincode definitions with a default endorsement policy and per-function overrides.
//!
//! [`Network::parse`] reads and checks it; every error names the line and column of the
//! value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use marked_yaml::Spanned;
use serde::Deserialize;

use crate::policy::{Policy, SignaturePolicy};

/// Most organisations, orderers, channels or chaincodes a network may list.
pub const LIST_MAX: usize = 64;

/// A refusal, at a place in the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct NetworkError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

// ---------------------------------------------------------------------------------------
// The file as written (every value that can be wrong carries its place)

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: Spanned<String>,
    organizations: Vec<RawOrganization>,
    orderer: RawOrderer,
    channels: Vec<RawChannel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganization {
    name: Spanned<String>,
    msp_id: Spanned<String>,
    domain: Spanned<String>,
    #[serde(default)]
    peers: Vec<RawNode>,
    /// Client users enrolled by `crypto generate` besides the admin, e.g. `User1`.
    #[serde(default)]
    users: Vec<Spanned<String>>,
    /// Certificate attributes of those users (as `warga ca register --attr` writes them),
    /// e.g. `User1: { facility: P3578010 }`.
    #[serde(default)]
    user_attributes: std::collections::HashMap<Spanned<String>, BTreeMap<String, Spanned<String>>>,
    /// The organisation's `warga ca` (HTTPS, its TLS certificate from the organisation's
    /// TLS CA): nodes refresh its revocation list from there.
    #[serde(default)]
    ca_url: Option<Spanned<String>>,
    /// Named policies of the organisation; `Endorsement`, `Readers`, `Writers`, `Admins`
    /// default to Fabric's usual (`peer`, `member`, `member`, `admin`).
    #[serde(default)]
    policies: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    /// gRPC address (mutual TLS) the node binds, e.g. `127.0.0.1:7051` or `0.0.0.0:7051`.
    listen: Spanned<String>,
    /// Where the others dial it, `host:port` — a DNS name in a container network or a
    /// cluster (`orderer0.orderer:7050`); default: `listen`.
    #[serde(default)]
    address: Option<Spanned<String>>,
    /// HTTP address of `/metrics` and `/healthz`.
    operations: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrderer {
    organization: RawOrdererOrg,
    nodes: Vec<RawNode>,
    batch_timeout_ms: Spanned<u64>,
    batch_size: RawBatchSize,
    raft: RawRaft,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrdererOrg {
    name: Spanned<String>,
    msp_id: Spanned<String>,
    domain: Spanned<String>,
    #[serde(default)]
    ca_url: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBatchSize {
    max_message_count: Spanned<u32>,
    absolute_max_bytes: Spanned<u32>,
    preferred_max_bytes: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRaft {
    tick_interval_ms: Spanned<u64>,
    election_tick: Spanned<u32>,
    heartbeat_tick: Spanned<u32>,
    snapshot_interval_bytes: Spanned<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    name: Spanned<String>,
    organizations: Vec<Spanned<String>>,
    #[serde(default)]
    chaincodes: Vec<RawChaincode>,
}

fn first_sequence() -> u64 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChaincode {
    name: Spanned<String>,
    version: Spanned<String>,
    /// The definition's sequence (Fabric's lifecycle): 1 for the first.
    #[serde(default = "first_sequence")]
    sequence: u64,
    endorsement_policy: Spanned<String>,
    #[serde(default)]
    functions: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    collections: Vec<RawCollection>,
}

/// A private data collection, as Fabric's collection configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    name: Spanned<String>,
    /// Organisation names (as under `organizations`).
    members: Vec<Spanned<String>>,
    required_peer_count: Spanned<u32>,
    max_peer_count: Spanned<u32>,
    /// Blocks after which the private data is purged; 0 keeps it.
    #[serde(default)]
    block_to_live: u64,
    #[serde(default = "yes")]
    member_only_read: bool,
    #[serde(default = "yes")]
    member_only_write: bool,
}

fn yes() -> bool {
    true
}

// ---------------------------------------------------------------------------------------
// The checked network

/// A peer or orderer node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// `name.domain`, the certificate's common name and DNS name.
    pub host: String,
    /// The address the node binds.
    pub listen: SocketAddr,
    /// Where the others dial it (`host:port`): the file's `address`, else `listen`.
    pub address: String,
    pub operations: SocketAddr,
}

impl Node {
    /// Binds and dials `addr` from now on (a node given a free port at start).
    pub fn set_listen(&mut self, addr: SocketAddr) {
        self.listen = addr;
        self.address = addr.to_string();
    }
}

/// An application organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub name: String,
    pub msp_id: String,
    pub domain: String,
    pub peers: Vec<Node>,
    pub users: Vec<String>,
    /// Certificate attributes per user (users without any are absent).
    pub user_attributes: BTreeMap<String, BTreeMap<String, String>>,
    /// Where the organisation's CA publishes its revocation list, if it runs one.
    pub ca_url: Option<String>,
    /// Named signature policies (at least `Endorsement`, `Readers`, `Writers`, `Admins`).
    pub policies: BTreeMap<String, SignaturePolicy>,
}

/// The ordering organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrdererOrganization {
    pub name: String,
    pub msp_id: String,
    pub domain: String,
    pub ca_url: Option<String>,
}

/// Fabric's BatchSize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSize {
    pub max_message_count: u32,
    pub absolute_max_bytes: u32,
    pub preferred_max_bytes: u32,
}

/// Fabric's etcdraft options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftOptions {
    pub tick_interval_ms: u64,
    pub election_tick: u32,
    pub heartbeat_tick: u32,
    pub snapshot_interval_bytes: u64,
}

/// The ordering service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orderer {
    pub organization: OrdererOrganization,
    /// Raft ids are positions in this list, from 1.
    pub nodes: Vec<Node>,
    pub batch_timeout_ms: u64,
    pub batch_size: BatchSize,
    pub raft: RaftOptions,
}

/// A chaincode definition on a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chaincode {
    pub name: String,
    pub version: String,
    /// The definition's sequence: one more with every committed change of the definition.
    pub sequence: u64,
    pub endorsement_policy: Policy,
    /// Overrides per function.
    pub functions: BTreeMap<String, Policy>,
    /// Private data collections (Fabric's collection configuration).
    pub collections: Vec<Collection>,
}

/// A private data collection: only its member organisations' peers hold the data; the
/// channel's ledger carries only the hashes of its keys and values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    pub name: String,
    /// The member organisations (MSP ids).
    pub members: Vec<String>,
    /// Other member peers an endorser must hand the private data to before endorsing.
    pub required_peer_count: u32,
    /// Other member peers an endorser hands the private data to, at most.
    pub max_peer_count: u32,
    /// The private data written at block `b` is purged when block `b + block_to_live + 1`
    /// commits; 0 keeps it.
    pub block_to_live: u64,
    /// Only members' clients read it (through the chaincode).
    pub member_only_read: bool,
    /// Only members' clients write it.
    pub member_only_write: bool,
}

impl Collection {
    pub fn is_member(&self, msp_id: &str) -> bool {
        self.members.iter().any(|m| m == msp_id)
    }
}

impl Chaincode {
    /// The collection called `name`.
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.name == name)
    }

    /// The policy a function's transactions must satisfy.
    pub fn policy_for(&self, function: &str) -> &Policy {
        self.functions.get(function).unwrap_or(&self.endorsement_policy)
    }
}

/// A channel: its member organisations (by MSP id) and chaincodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub members: Vec<String>,
    pub chaincodes: Vec<Chaincode>,
}

/// A checked network file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    pub organizations: Vec<Organization>,
    pub orderer: Orderer,
    pub channels: Vec<Channel>,
}

// ---------------------------------------------------------------------------------------
// Checking

fn at<T>(spanned: &Spanned<T>, message: impl Into<String>) -> NetworkError {
    let (line, column) = spanned.span().start().map(|m| (m.line(), m.column())).unwrap_or((0, 0));
    NetworkError {
        line,
        column,
        message: message.into(),
    }
}

/// An `https://` URL of at most 256 bytes, without spaces.
fn check_url(value: &Spanned<String>) -> Result<String, NetworkError> {
    let ok = value.starts_with("https://")
        && value.len() > "https://".len()
        && value.len() <= 256
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err(at(value, format!("'{}' is not an https:// URL", &**value)))
    }
}

fn check_name(value: &Spanned<String>, what: &str) -> Result<String, NetworkError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(at(
            value,
            format!("{what} '{}' must be 1–64 of A–Z, a–z, 0–9, '-', '_', '.'", &**value),
        ))
    }
}

fn check_domain(value: &Spanned<String>) -> Result<String, NetworkError> {
    let ok = value.len() <= 253
        && value.split('.').count() >= 2
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(value.to_string())
    } else {
        Err(at(value, format!("'{}' is not a lower-case DNS domain", &**value)))
    }
}

fn check_address(value: &Spanned<String>) -> Result<SocketAddr, NetworkError> {
    value.parse().map_err(|_| {
        at(
            value,
            format!("'{}' is not an address such as 127.0.0.1:7051", &**value),
        )
    })
}

fn check_policy(value: &Spanned<String>, members: &BTreeSet<&str>) -> Result<Policy, NetworkError> {
    let policy = Policy::parse(value).map_err(|e| at(value, format!("policy: {e}")))?;
    if let Policy::Signature(signature) = &policy {
        for org in signature.organisations() {
            if !members.contains(org.as_str()) {
                return Err(at(value, format!("policy names {org}, which is not a member here")));
            }
        }
    }
    Ok(policy)
}

/// The largest batch a network file may allow: a block, and a Raft entry carrying it, must
/// fit in one gRPC message (100 MiB, Fabric's default).
pub const ABSOLUTE_MAX_BYTES_LIMIT: u32 = 64 * 1024 * 1024;

fn positive<T: Copy + PartialOrd + Default + std::fmt::Display>(
    value: &Spanned<T>,
    what: &str,
) -> Result<T, NetworkError> {
    if **value > T::default() {
        Ok(**value)
    } else {
        Err(at(value, format!("{what} must be greater than 0")))
    }
}

fn limit<T>(list: &[T], anchor: &Spanned<String>, what: &str) -> Result<(), NetworkError> {
    if list.len() > LIST_MAX {
        return Err(at(anchor, format!("more than {LIST_MAX} {what}")));
    }
    Ok(())
}

/// `host:port` others dial: a DNS name or an IP address, and a port.
fn check_dial_address(value: &Spanned<String>) -> Result<String, NetworkError> {
    let bad = || {
        at(
            value,
            format!("'{}' is not host:port such as orderer0.orderer:7050", &**value),
        )
    };
    if value.parse::<SocketAddr>().is_ok() {
        return Ok(value.to_string());
    }
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    match port.parse::<u16>() {
        Ok(p) if p > 0 && host_ok => Ok(value.to_string()),
        _ => Err(bad()),
    }
}

/// The addresses nodes bind (each host's, unless unspecified: separate machines or
/// containers may all bind `0.0.0.0:7051`) and are dialled at, each used once.
#[derive(Default)]
struct Addresses {
    bound: BTreeSet<SocketAddr>,
    dialled: BTreeSet<String>,
}

impl Addresses {
    fn node(&mut self, raw: &RawNode, domain: &str) -> Result<Node, NetworkError> {
        let name = check_name(&raw.name, "node name")?;
        let listen = check_address(&raw.listen)?;
        let operations = check_address(&raw.operations)?;
        for (spanned, address) in [(&raw.listen, listen), (&raw.operations, operations)] {
            if !address.ip().is_unspecified() && !self.bound.insert(address) {
                return Err(at(spanned, format!("address {address} is used twice")));
            }
        }
        let address = match &raw.address {
            Some(address) => check_dial_address(address)?,
            None if listen.ip().is_unspecified() => {
                return Err(at(
                    &raw.listen,
                    format!("{listen} binds every interface: give the address others dial in `address`"),
                ));
            }
            None => listen.to_string(),
        };
        if !self.dialled.insert(address.clone()) {
            let spanned = raw.address.as_ref().unwrap_or(&raw.listen);
            return Err(at(spanned, format!("address {address} is used twice")));
        }
        Ok(Node {
            host: format!("{name}.{domain}"),
            name,
            listen,
            address,
            operations,
        })
    }
}

impl Network {
    /// Reads and checks a network file.
    pub fn parse(yaml: &str) -> Result<Network, NetworkError> {
        let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
        let raw: RawNetwork = marked_yaml::from_yaml_with_options(0, yaml, options).map_err(|error| {
            let place = match &error {
                marked_yaml::FromYamlError::ParseYaml(load) => load_marker(load).map(|m| (m.line(), m.column())),
                marked_yaml::FromYamlError::FromNode(node) => match (node.start_mark(), &**node) {
                    (Some(m), _) => Some((m.line(), m.column())),
                    // The loader keeps no place for an unknown key: find the key in the text.
                    (None, marked_yaml::Error::UnknownFieldError(field, _, _)) => {
                        yaml.lines().enumerate().find_map(|(i, line)| {
                            let key = line.trim_start().trim_start_matches("- ");
                            key.strip_prefix(field.as_str())
                                .is_some_and(|rest| rest.trim_start().starts_with(':'))
                                .then(|| (i + 1, line.len() - key.len() + 1))
                        })
                    }
                    (None, _) => None,
                },
            };
            let (line, column) = place.unwrap_or((0, 0));
            NetworkError {
                line,
                column,
                message: error.to_string(),
            }
        })?;
        raw.check()
    }
}

fn load_marker(error: &marked_yaml::LoadError) -> Option<marked_yaml::Marker> {
    use marked_yaml::LoadError as L;
    match error {
        L::TopLevelMustBeMapping(m)
        | L::TopLevelMustBeSequence(m)
        | L::UnexpectedAnchor(m)
        | L::MappingKeyMustBeScalar(m)
        | L::UnexpectedTag(m)
        | L::ScanError(m, _) => Some(*m),
        L::DuplicateKey(inner) => inner.key.span().start().copied(),
    }
}

impl RawNetwork {
    fn check(self) -> Result<Network, NetworkError> {
        let name = check_name(&self.name, "network name")?;
        let mut addresses = Addresses::default();
        if self.organizations.is_empty() {
            return Err(at(&self.name, "a network needs at least one organisation"));
        }
        limit(&self.organizations, &self.name, "organisations")?;
        let mut msp_ids = BTreeSet::new();
        let mut org_names = BTreeMap::new();
        let mut organizations = Vec::new();
        for raw in &self.organizations {
            let org_name = check_name(&raw.name, "organisation name")?;
            let msp_id = check_name(&raw.msp_id, "MSP id")?;
            if org_names.insert(org_name.clone(), msp_id.clone()).is_some() {
                return Err(at(&raw.name, format!("organisation {org_name} is listed twice")));
            }
            if !msp_ids.insert(msp_id.clone()) {
                return Err(at(&raw.msp_id, format!("MSP id {msp_id} is used twice")));
            }
            let domain = check_domain(&raw.domain)?;
            if raw.peers.is_empty() {
                return Err(at(
                    &raw.name,
                    format!("organisation {org_name} needs at least one peer"),
                ));
            }
            limit(&raw.peers, &raw.name, "peers")?;
            let peers = raw
                .peers
                .iter()
                .map(|p| addresses.node(p, &domain))
                .collect::<Result<Vec<_>, _>>()?;
            let users = raw
                .users
                .iter()
                .map(|u| check_name(u, "user name"))
                .collect::<Result<Vec<_>, _>>()?;
            let mut user_attributes = BTreeMap::new();
            let mut listed: Vec<_> = raw.user_attributes.iter().collect();
            listed.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            for (user, raw_attributes) in listed {
                if !users.iter().any(|u| u == user.as_str()) {
                    return Err(at(
                        user,
                        format!(
                            "user_attributes names {}, who is not among the users of {org_name}",
                            user.as_str()
                        ),
                    ));
                }
                let mut attributes = BTreeMap::new();
                for (name, value) in raw_attributes {
                    crate::chaincode::check_attribute(name, value).map_err(|e| at(value, e))?;
                    attributes.insert(name.clone(), value.to_string());
                }
                crate::chaincode::check_attributes(&attributes).map_err(|e| at(&raw.name, e))?;
                user_attributes.insert(user.to_string(), attributes);
            }
            let own = BTreeSet::from([msp_id.as_str()]);
            let mut policies = BTreeMap::new();
            for (name, role) in [
                ("Endorsement", "peer"),
                ("Readers", "member"),
                ("Writers", "member"),
                ("Admins", "admin"),
            ] {
                let default =
                    Policy::parse(&format!("'{msp_id}.{role}'")).map_err(|e| at(&raw.msp_id, e.to_string()))?;
                if let Policy::Signature(policy) = default {
                    policies.insert(name.to_owned(), policy);
                }
            }
            for (name, text) in &raw.policies {
                match check_policy(text, &own)? {
                    Policy::Signature(policy) => {
                        policies.insert(name.clone(), policy);
                    }
                    Policy::ImplicitMeta { .. } => {
                        return Err(at(text, "an organisation's policy must be a signature policy"));
                    }
                }
            }
            organizations.push(Organization {
                name: org_name,
                msp_id,
                domain,
                peers,
                users,
                user_attributes,
                ca_url: raw.ca_url.as_ref().map(check_url).transpose()?,
                policies,
            });
        }

        let raw_orderer = &self.orderer;
        let orderer_org = OrdererOrganization {
            name: check_name(&raw_orderer.organization.name, "organisation name")?,
            msp_id: check_name(&raw_orderer.organization.msp_id, "MSP id")?,
            domain: check_domain(&raw_orderer.organization.domain)?,
            ca_url: raw_orderer.organization.ca_url.as_ref().map(check_url).transpose()?,
        };
        if !msp_ids.insert(orderer_org.msp_id.clone()) {
            return Err(at(
                &raw_orderer.organization.msp_id,
                format!("MSP id {} is used twice", orderer_org.msp_id),
            ));
        }
        let count = raw_orderer.nodes.len();
        if !(1..=7).contains(&count) {
            return Err(at(
                &raw_orderer.organization.name,
                format!("the ordering service needs 1 to 7 nodes (3 or 5 to tolerate failures); {count} given"),
            ));
        }
        let nodes = raw_orderer
            .nodes
            .iter()
            .map(|n| addresses.node(n, &orderer_org.domain))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = &raw_orderer.batch_size;
        let batch_size = BatchSize {
            max_message_count: positive(&batch.max_message_count, "max_message_count")?,
            absolute_max_bytes: positive(&batch.absolute_max_bytes, "absolute_max_bytes")?,
            preferred_max_bytes: positive(&batch.preferred_max_bytes, "preferred_max_bytes")?,
        };
        if batch_size.absolute_max_bytes > ABSOLUTE_MAX_BYTES_LIMIT {
            return Err(at(
                &batch.absolute_max_bytes,
                format!(
                    "absolute_max_bytes must not exceed {ABSOLUTE_MAX_BYTES_LIMIT} (64 MiB): a block travels in one gRPC message"
                ),
            ));
        }
        if batch_size.preferred_max_bytes > batch_size.absolute_max_bytes {
            return Err(at(
                &batch.preferred_max_bytes,
                "preferred_max_bytes must not exceed absolute_max_bytes",
            ));
        }
        let raft_raw = &raw_orderer.raft;
        let raft = RaftOptions {
            tick_interval_ms: positive(&raft_raw.tick_interval_ms, "tick_interval_ms")?,
            election_tick: positive(&raft_raw.election_tick, "election_tick")?,
            heartbeat_tick: positive(&raft_raw.heartbeat_tick, "heartbeat_tick")?,
            snapshot_interval_bytes: positive(&raft_raw.snapshot_interval_bytes, "snapshot_interval_bytes")?,
        };
        if raft.election_tick <= raft.heartbeat_tick {
            return Err(at(
                &raft_raw.election_tick,
                "election_tick must be greater than heartbeat_tick",
            ));
        }
        let orderer = Orderer {
            organization: orderer_org,
            nodes,
            batch_timeout_ms: positive(&raw_orderer.batch_timeout_ms, "batch_timeout_ms")?,
            batch_size,
            raft,
        };

        if self.channels.is_empty() {
            return Err(at(&self.name, "a network needs at least one channel"));
        }
        limit(&self.channels, &self.name, "channels")?;
        let mut channel_names = BTreeSet::new();
        let mut channels = Vec::new();
        for raw in &self.channels {
            // Fabric's channel name rule.
            let ok = raw.name.len() < 250
                && raw.name.starts_with(|c: char| c.is_ascii_lowercase())
                && raw
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'));
            if !ok {
                return Err(at(
                    &raw.name,
                    format!(
                        "channel name '{}' must start with a–z and use a–z, 0–9, '.', '-'",
                        &*raw.name
                    ),
                ));
            }
            if !channel_names.insert(raw.name.to_string()) {
                return Err(at(&raw.name, format!("channel {} is listed twice", &*raw.name)));
            }
            if raw.organizations.is_empty() {
                return Err(at(&raw.name, "a channel needs at least one organisation"));
            }
            let mut members = Vec::new();
            for org in &raw.organizations {
                let msp = org_names
                    .get(org.as_str())
                    .ok_or_else(|| at(org, format!("no organisation is called {}", &**org)))?;
                if members.contains(msp) {
                    return Err(at(org, format!("{} is listed twice", &**org)));
                }
                members.push(msp.clone());
            }
            let member_set: BTreeSet<&str> = members.iter().map(String::as_str).collect();
            limit(&raw.chaincodes, &raw.name, "chaincodes")?;
            let mut chaincodes = Vec::new();
            for cc in &raw.chaincodes {
                let cc_name = check_name(&cc.name, "chaincode name")?;
                if chaincodes.iter().any(|c: &Chaincode| c.name == cc_name) {
                    return Err(at(&cc.name, format!("chaincode {cc_name} is defined twice here")));
                }
                let mut functions = BTreeMap::new();
                for (function, policy) in &cc.functions {
                    let ok = !function.is_empty()
                        && function.len() <= 64
                        && function.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !ok {
                        return Err(at(
                            policy,
                            format!("function name '{function}' must be 1–64 of A–Z, a–z, 0–9, '_'"),
                        ));
                    }
                    functions.insert(function.clone(), check_policy(policy, &member_set)?);
                }
                limit(&cc.collections, &cc.name, "collections")?;
                let mut collections: Vec<Collection> = Vec::new();
                for raw in &cc.collections {
                    let name = check_name(&raw.name, "collection name")?;
                    if collections.iter().any(|c| c.name == name) {
                        return Err(at(&raw.name, format!("collection {name} is defined twice here")));
                    }
                    if raw.members.is_empty() {
                        return Err(at(&raw.name, "a collection needs at least one member organisation"));
                    }
                    let mut collection_members = Vec::new();
                    for org in &raw.members {
                        let msp = org_names
                            .get(org.as_str())
                            .filter(|msp| member_set.contains(msp.as_str()))
                            .ok_or_else(|| at(org, format!("{} is not a member of this channel", &**org)))?;
                        if collection_members.contains(msp) {
                            return Err(at(org, format!("{} is listed twice", &**org)));
                        }
                        collection_members.push(msp.clone());
                    }
                    if *raw.required_peer_count > *raw.max_peer_count {
                        return Err(at(
                            &raw.required_peer_count,
                            "required_peer_count must not exceed max_peer_count",
                        ));
                    }
                    collections.push(Collection {
                        name,
                        members: collection_members,
                        required_peer_count: *raw.required_peer_count,
                        max_peer_count: *raw.max_peer_count,
                        block_to_live: raw.block_to_live,
                        member_only_read: raw.member_only_read,
                        member_only_write: raw.member_only_write,
                    });
                }
                if cc.sequence == 0 {
                    return Err(at(&cc.name, "a chaincode definition's sequence starts at 1"));
                }
                chaincodes.push(Chaincode {
                    name: cc_name,
                    version: check_name(&cc.version, "version")?,
                    sequence: cc.sequence,
                    endorsement_policy: check_policy(&cc.endorsement_policy, &member_set)?,
                    functions,
                    collections,
                });
            }
            channels.push(Channel {
                name: raw.name.to_string(),
                members,
                chaincodes,
            });
        }
        Ok(Network {
            name,
            organizations,
            orderer,
            channels,
        })
    }
}

impl Network {
    /// The organisation with this MSP id.
    pub fn organization(&self, msp_id: &str) -> Option<&Organization> {
        self.organizations.iter().find(|o| o.msp_id == msp_id)
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }
}

/// A channel's member organisations and their named policies, for implicit meta policies.
pub struct ChannelView<'a> {
    pub network: &'a Network,
    pub channel: &'a Channel,
}

impl crate::policy::ChannelPolicies for ChannelView<'_> {
    fn organisations(&self) -> Vec<String> {
        self.channel.members.clone()
    }
    fn org_policy(&self, msp_id: &str, name: &str) -> Option<SignaturePolicy> {
        self.network.organization(msp_id)?.policies.get(name).cloned()
    }
}

/// The example network shipped with warga: BPJS Kesehatan, Puskesmas and RumahSakit, three
/// orderers, the `bpjs-main` channel of all three and a regional channel of two.
pub const BPJS_EXAMPLE: &str = include_str!("../../../network/bpjs.yaml");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{MspRole, Signer};

    #[test]
    fn the_bpjs_example_network_is_valid() {
        let network = Network::parse(BPJS_EXAMPLE).unwrap();
        assert_eq!(network.organizations.len(), 3);
        let puskesmas = &network.organizations[1];
        assert_eq!(puskesmas.users, ["User1", "User2"]);
        assert_eq!(puskesmas.user_attributes["User2"]["facility"], "P3578020");
        assert_eq!(network.orderer.nodes.len(), 3);
        let main = network.channel("bpjs-main").unwrap();
        assert_eq!(main.members, ["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP"]);
        let bpjs = &main.chaincodes[0];
        assert_eq!(bpjs.policy_for("IssueCard").to_string(), "MAJORITY Endorsement");
        assert_eq!(
            bpjs.policy_for("RecordVisit").to_string(),
            "AND('BPJSMSP.peer', OR('PuskesmasMSP.peer', 'RumahSakitMSP.peer'))"
        );
        let clinical = bpjs.collection("clinical-rumahsakit").unwrap();
        assert_eq!(clinical.members, ["BPJSMSP", "RumahSakitMSP"]);
        assert!(clinical.member_only_read && clinical.member_only_write);
        assert_eq!(
            (
                clinical.required_peer_count,
                clinical.max_peer_count,
                clinical.block_to_live
            ),
            (1, 3, 0)
        );
        assert!(!clinical.is_member("PuskesmasMSP"));
        let view = ChannelView {
            network: &network,
            channel: main,
        };
        let peer = |msp: &str| Signer {
            id: msp.into(),
            msp_id: msp.into(),
            roles: vec![MspRole::Peer],
        };
        assert!(
            bpjs.policy_for("IssueCard")
                .is_satisfied(&[peer("BPJSMSP"), peer("RumahSakitMSP")], &view)
        );
        assert!(!bpjs.policy_for("IssueCard").is_satisfied(&[peer("BPJSMSP")], &view));
        let regional = network.channels.iter().find(|c| c.name != "bpjs-main").unwrap();
        assert!(regional.members.len() < main.members.len());
    }

    fn refused(edit: impl Fn(&str) -> String) -> NetworkError {
        Network::parse(&edit(BPJS_EXAMPLE)).unwrap_err()
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    /// The network files shipped for containers and Kubernetes are valid.
    #[test]
    fn the_deployment_network_files_parse() {
        for (file, text) in [
            ("compose", include_str!("../../../deploy/compose/network.yaml")),
            (
                "kubernetes",
                include_str!("../../../deploy/kubernetes/base/network.yaml"),
            ),
        ] {
            let network = Network::parse(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(network.orderer.nodes.len(), 3, "{file}");
            assert!(
                network.orderer.nodes.iter().all(|n| n.listen.ip().is_unspecified()),
                "{file}"
            );
        }
    }

    /// A containerised network: every node binds all interfaces on its own machine and is
    /// dialled by a DNS name.
    #[test]
    fn nodes_bind_one_address_and_are_dialled_at_another() {
        let contained = BPJS_EXAMPLE
            .replace(
                "      listen: 127.0.0.1:7050\n",
                "      listen: 0.0.0.0:7050\n      address: orderer0.orderer:7050\n",
            )
            .replace(
                "      listen: 127.0.0.1:8050\n",
                "      listen: 0.0.0.0:7050\n      address: orderer1.orderer:7050\n",
            );
        let network = Network::parse(&contained).unwrap();
        let nodes = &network.orderer.nodes;
        assert_eq!(
            (nodes[0].listen.to_string().as_str(), nodes[0].address.as_str()),
            ("0.0.0.0:7050", "orderer0.orderer:7050")
        );
        assert_eq!(nodes[1].address, "orderer1.orderer:7050");
        assert_eq!(nodes[2].address, "127.0.0.1:9050", "the default is where it binds");

        // Binding every interface needs an address to dial; an address is host:port; each once.
        let error =
            Network::parse(&BPJS_EXAMPLE.replace("listen: 127.0.0.1:9050", "listen: 0.0.0.0:9050")).unwrap_err();
        assert!(error.message.contains("give the address others dial"), "{error}");
        assert_eq!(error.line, line_of(BPJS_EXAMPLE, "listen: 127.0.0.1:9050"));
        for bad in ["orderer0.orderer", "orderer_0:7050", "orderer0.orderer:0", "-x:7050"] {
            let text = contained.replace("address: orderer1.orderer:7050", &format!("address: {bad}"));
            let error = Network::parse(&text).unwrap_err();
            assert!(error.message.contains("is not host:port"), "{bad}: {error}");
        }
        let twice = contained.replace("address: orderer1.orderer:7050", "address: orderer0.orderer:7050");
        assert!(Network::parse(&twice).unwrap_err().message.contains("used twice"));
    }

    #[test]
    fn errors_name_the_line() {
        let example = BPJS_EXAMPLE;
        let cases: Vec<(String, &str, &str)> = vec![
            (
                example.replace(
                    "AND('BPJSMSP.peer', 'PuskesmasMSP.peer')",
                    "AND('BPJSMSP.peer' 'PuskesmasMSP.peer')",
                ),
                "RecordVisit: AND('BPJSMSP.peer' 'PuskesmasMSP.peer')",
                "expected ',' or ')'",
            ),
            (
                example.replacen("members: [BPJS, RumahSakit]", "members: [BPJS, Klinik]", 1),
                "members: [BPJS, Klinik]",
                "Klinik is not a member of this channel",
            ),
            (
                example.replacen("required_peer_count: 1", "required_peer_count: 4", 1),
                "required_peer_count: 4",
                "must not exceed max_peer_count",
            ),
            (
                example.replacen("- name: clinical-rumahsakit", "- name: clinical-puskesmas", 1),
                "- name: clinical-puskesmas",
                "defined twice",
            ),
            (
                example.replacen("- Puskesmas\n", "- Klinik\n", 1),
                "- Klinik",
                "no organisation is called Klinik",
            ),
            (
                example.replace("election_tick: 10", "election_tick: 1"),
                "election_tick:",
                "greater than heartbeat_tick",
            ),
            (
                example.replace("name: bpjs-main", "name: BPJS_Main"),
                "name: BPJS_Main",
                "channel name",
            ),
            (
                example.replace("127.0.0.1:7151", "127.0.0.1:7051"),
                "127.0.0.1:7051",
                "used twice",
            ),
            (
                example.replacen("User2: { facility: P3578020 }", "User3: { facility: P3578020 }", 1),
                "User3:",
                "not among the users",
            ),
            (
                example.replacen("User2: { facility: P3578020 }", "User2: { \"bad name\": P3578020 }", 1),
                "User2:",
                "attribute name",
            ),
            (
                example.replacen(
                    "    users: [User1]\n",
                    "    users: [User1]\n    ca_url: http://127.0.0.1:7054\n",
                    1,
                ),
                "ca_url:",
                "https://",
            ),
            (
                example.replacen("preferred_max_bytes: 2097152", "preferred_max_bytes: 99999999", 1),
                "preferred_max_bytes:",
                "must not exceed",
            ),
        ];
        for (text, needle, message) in cases {
            let error = Network::parse(&text).unwrap_err();
            assert!(error.message.contains(message), "{error}");
            let expected = if ["127.0.0.1:7051", "- name: clinical-puskesmas"].contains(&needle) {
                // The second use is the one at fault.
                text.lines()
                    .enumerate()
                    .filter(|(_, l)| l.contains(needle))
                    .nth(1)
                    .unwrap()
                    .0
                    + 1
            } else {
                line_of(&text, needle)
            };
            assert_eq!(error.line, expected, "{error}");
        }
        let misspelt = BPJS_EXAMPLE.replace("batch_timeout_ms:", "batch_timeout:");
        let unknown = Network::parse(&misspelt).unwrap_err();
        assert!(unknown.message.contains("batch_timeout"), "{unknown}");
        assert_eq!(
            (unknown.line, unknown.column),
            (line_of(&misspelt, "batch_timeout:"), 3),
            "{unknown}"
        );
        let twice = refused(|t| {
            t.replacen(
                "  batch_timeout_ms: 250\n",
                "  batch_timeout_ms: 250\n  batch_timeout_ms: 300\n",
                1,
            )
        });
        assert!(twice.message.to_lowercase().contains("duplicate"), "{twice}");
        let syntax = refused(|t| format!("{t}\n  - : : ["));
        assert!(!syntax.message.is_empty());
    }
}
