//! A channel's configuration in the chain, as Fabric keeps it: the genesis block carries
//! the first [`ChannelConfig`]; every later change is a **configuration transaction** — a
//! [`ConfigUpdate`] (the whole next configuration, one sequence higher) with the signatures
//! of the admins its modification policies ask for — ordered into a block of its own and
//! applied by every peer at that block.
//!
//! What a configuration holds: the member organisations with their MSP roots (CA and TLS
//! CA certificates), revocation lists and named policies; the ordering organisation, its
//! consenters and batch settings; the channel's own policies (Admins, Readers, Writers);
//! the chaincode definitions. Node addresses are not part of it (they are each node's own
//! business, in the network file).
//!
//! Who must sign ([`required_policies`], Fabric's `mod_policy` per group):
//! - a member organisation's own section (its certificates, revocation lists, policies):
//!   that organisation's `Admins`;
//! - the ordering organisation's section (consenters, batch settings, its certificates):
//!   the ordering organisation's admin;
//! - anything else — admitting or removing an organisation, the channel's policies, the
//!   chaincode definitions: the channel's `Admins` policy (by default
//!   `MAJORITY Admins`: most member organisations' admins).
//!
//! [`check_update`] is a pure function of the current configuration, the update and the
//! membership the current configuration defines: orderers and every peer — and a replay
//! years later — reach the same verdict.

use std::collections::{BTreeMap, BTreeSet};

use crate::network::{Chaincode, Channel, Collection, Network};
use crate::policy::{ChannelPolicies, Policy, SignaturePolicy, Signer};
use crate::tx::{Creator, Encoder, Hash, sha256};
use crate::validate::Membership;

/// The MSP roots of one organisation, as PEM: its CA certificates and its TLS CA
/// certificates.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MspRoots {
    pub root_certs: Vec<String>,
    pub tls_root_certs: Vec<String>,
}

/// A member organisation's section.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    pub msp_id: String,
    pub name: String,
    pub domain: String,
    /// CA certificates (PEM): identities of this organisation are issued by one of them.
    pub root_certs: Vec<String>,
    pub tls_root_certs: Vec<String>,
    /// Revocation lists (PEM), each signed by one of the organisation's CAs.
    #[serde(default)]
    pub crls: Vec<String>,
    /// Named signature policies (`Endorsement`, `Readers`, `Writers`, `Admins`, …).
    pub policies: BTreeMap<String, String>,
}

/// Fabric's BatchSize.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSizeConfig {
    pub max_message_count: u32,
    pub absolute_max_bytes: u32,
    pub preferred_max_bytes: u32,
}

/// The ordering organisation's section.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdererConfig {
    pub msp_id: String,
    pub domain: String,
    pub root_certs: Vec<String>,
    pub tls_root_certs: Vec<String>,
    #[serde(default)]
    pub crls: Vec<String>,
    /// The Raft group's members by host name (`orderer0.orderer.warga.local`).
    pub consenters: Vec<String>,
    pub batch_timeout_ms: u64,
    pub batch_size: BatchSizeConfig,
}

/// A private data collection's definition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    pub name: String,
    pub members: Vec<String>,
    pub required_peer_count: u32,
    pub max_peer_count: u32,
    pub block_to_live: u64,
    pub member_only_read: bool,
    pub member_only_write: bool,
}

/// A chaincode definition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaincodeConfig {
    pub name: String,
    /// Selects the compiled-in contract of this name and version.
    pub version: String,
    /// The definition's sequence: 1 for the first, one more with every change.
    pub sequence: u64,
    pub endorsement_policy: String,
    #[serde(default)]
    pub functions: BTreeMap<String, String>,
    #[serde(default)]
    pub collections: Vec<CollectionConfig>,
}

/// A channel's configuration at one sequence.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub network: String,
    pub channel: String,
    /// 0 in the genesis block; one higher with every applied update.
    pub sequence: u64,
    /// The member organisations, in the channel's order.
    pub organizations: Vec<OrgConfig>,
    pub orderer: OrdererConfig,
    /// The channel's policies: `Admins`, `Readers`, `Writers` (Fabric's implicit meta
    /// policies by default).
    pub policies: BTreeMap<String, String>,
    pub chaincodes: Vec<ChaincodeConfig>,
}

/// One MSP's part of a configuration.
pub struct MspSection<'a> {
    pub msp_id: &'a String,
    pub root_certs: &'a [String],
    pub tls_root_certs: &'a [String],
    pub crls: &'a [String],
}

impl From<&Collection> for CollectionConfig {
    fn from(c: &Collection) -> CollectionConfig {
        CollectionConfig {
            name: c.name.clone(),
            members: c.members.clone(),
            required_peer_count: c.required_peer_count,
            max_peer_count: c.max_peer_count,
            block_to_live: c.block_to_live,
            member_only_read: c.member_only_read,
            member_only_write: c.member_only_write,
        }
    }
}

impl From<&CollectionConfig> for Collection {
    fn from(c: &CollectionConfig) -> Collection {
        Collection {
            name: c.name.clone(),
            members: c.members.clone(),
            required_peer_count: c.required_peer_count,
            max_peer_count: c.max_peer_count,
            block_to_live: c.block_to_live,
            member_only_read: c.member_only_read,
            member_only_write: c.member_only_write,
        }
    }
}

/// Why a configuration or an update is refused: a sentence naming what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// The default channel policies, as Fabric's `configtx.yaml` profiles give them.
fn default_policies() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Admins".to_owned(), "MAJORITY Admins".to_owned()),
        ("Readers".to_owned(), "ANY Readers".to_owned()),
        ("Writers".to_owned(), "ANY Writers".to_owned()),
        // Fabric's: who approves a chaincode definition (here, the organisations' admins).
        ("LifecycleEndorsement".to_owned(), "MAJORITY Admins".to_owned()),
    ])
}

impl ChannelConfig {
    /// The first configuration of `channel` (the genesis block's), with each
    /// organisation's MSP roots from `roots` (by MSP id, the orderer's included).
    pub fn from_network(
        network: &Network,
        channel: &Channel,
        roots: &BTreeMap<String, MspRoots>,
    ) -> Result<ChannelConfig, ConfigError> {
        let roots_of = |msp_id: &str| {
            roots
                .get(msp_id)
                .cloned()
                .ok_or_else(|| ConfigError(format!("no CA certificate for {msp_id}")))
        };
        let mut organizations = Vec::new();
        for msp_id in &channel.members {
            let Some(org) = network.organization(msp_id) else {
                return refuse(format!("no organisation {msp_id} in the network"));
            };
            let MspRoots {
                root_certs,
                tls_root_certs,
            } = roots_of(msp_id)?;
            organizations.push(OrgConfig {
                msp_id: org.msp_id.clone(),
                name: org.name.clone(),
                domain: org.domain.clone(),
                root_certs,
                tls_root_certs,
                crls: Vec::new(),
                policies: org.policies.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
            });
        }
        let o = &network.orderer;
        let MspRoots {
            root_certs,
            tls_root_certs,
        } = roots_of(&o.organization.msp_id)?;
        let config = ChannelConfig {
            network: network.name.clone(),
            channel: channel.name.clone(),
            sequence: 0,
            organizations,
            orderer: OrdererConfig {
                msp_id: o.organization.msp_id.clone(),
                domain: o.organization.domain.clone(),
                root_certs,
                tls_root_certs,
                crls: Vec::new(),
                consenters: o.nodes.iter().map(|n| n.host.clone()).collect(),
                batch_timeout_ms: o.batch_timeout_ms,
                batch_size: BatchSizeConfig {
                    max_message_count: o.batch_size.max_message_count,
                    absolute_max_bytes: o.batch_size.absolute_max_bytes,
                    preferred_max_bytes: o.batch_size.preferred_max_bytes,
                },
            },
            policies: default_policies(),
            chaincodes: channel.chaincodes.iter().map(chaincode_config).collect(),
        };
        config.resolve()?;
        Ok(config)
    }

    /// The canonical JSON a block carries (fields in declaration order, maps sorted).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Indented JSON, for people to read and edit (parses back to the same value).
    pub fn to_pretty_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a configuration as a block or a file holds it.
    pub fn from_json(text: &str) -> Result<ChannelConfig, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError(format!("not a channel configuration: {e}")))
    }

    /// Every MSP of the configuration — the member organisations', then the ordering
    /// organisation's — as (MSP id, CA certificates, TLS CA certificates, revocation lists).
    pub fn msp_sections(&self) -> impl Iterator<Item = MspSection<'_>> {
        self.organizations
            .iter()
            .map(|o| MspSection {
                msp_id: &o.msp_id,
                root_certs: &o.root_certs,
                tls_root_certs: &o.tls_root_certs,
                crls: &o.crls,
            })
            .chain(std::iter::once(MspSection {
                msp_id: &self.orderer.msp_id,
                root_certs: &self.orderer.root_certs,
                tls_root_certs: &self.orderer.tls_root_certs,
                crls: &self.orderer.crls,
            }))
    }

    /// The member organisation with this MSP id.
    pub fn organization(&self, msp_id: &str) -> Option<&OrgConfig> {
        self.organizations.iter().find(|o| o.msp_id == msp_id)
    }

    /// Checks the configuration's own consistency and parses its policies.
    pub fn resolve(&self) -> Result<ResolvedConfig, ConfigError> {
        if self.organizations.is_empty() {
            return refuse("a channel needs at least one organisation");
        }
        let mut org_policies = BTreeMap::new();
        for org in &self.organizations {
            if org.root_certs.is_empty() {
                return refuse(format!("{} has no CA certificate", org.msp_id));
            }
            if org.msp_id == self.orderer.msp_id {
                return refuse(format!("{} is the ordering organisation", org.msp_id));
            }
            let mut policies = BTreeMap::new();
            for (name, text) in &org.policies {
                match Policy::parse(text) {
                    Ok(Policy::Signature(policy)) => {
                        if let Some(other) = policy.organisations().iter().find(|o| **o != org.msp_id) {
                            return refuse(format!("{}'s policy {name} names {other}", org.msp_id));
                        }
                        policies.insert(name.clone(), policy);
                    }
                    Ok(Policy::ImplicitMeta { .. }) => {
                        return refuse(format!("{}'s policy {name} must be a signature policy", org.msp_id));
                    }
                    Err(e) => return refuse(format!("{}'s policy {name}: {e}", org.msp_id)),
                }
            }
            for needed in ["Endorsement", "Readers", "Writers", "Admins"] {
                if !policies.contains_key(needed) {
                    return refuse(format!("{} has no {needed} policy", org.msp_id));
                }
            }
            if org_policies.insert(org.msp_id.clone(), policies).is_some() {
                return refuse(format!("{} is listed twice", org.msp_id));
            }
        }
        let members: Vec<String> = self.organizations.iter().map(|o| o.msp_id.clone()).collect();
        let member_set: BTreeSet<&str> = members.iter().map(String::as_str).collect();
        let policy = |text: &str, what: &str| -> Result<Policy, ConfigError> {
            let policy = Policy::parse(text).map_err(|e| ConfigError(format!("{what}: {e}")))?;
            if let Policy::Signature(signature) = &policy
                && let Some(other) = signature
                    .organisations()
                    .into_iter()
                    .find(|o| !member_set.contains(o.as_str()))
            {
                return refuse(format!("{what} names {other}, which is not a member"));
            }
            Ok(policy)
        };
        let mut channel_policies = BTreeMap::new();
        for needed in ["Admins", "Readers", "Writers", "LifecycleEndorsement"] {
            let Some(text) = self.policies.get(needed) else {
                return refuse(format!("the channel has no {needed} policy"));
            };
            channel_policies.insert(needed.to_owned(), policy(text, &format!("channel policy {needed}"))?);
        }
        let o = &self.orderer;
        if o.root_certs.is_empty() {
            return refuse("the ordering organisation has no CA certificate");
        }
        let mut hosts = BTreeSet::new();
        if o.consenters.is_empty() || !o.consenters.iter().all(|h| hosts.insert(h.as_str())) {
            return refuse("the consenters must be at least one, each named once");
        }
        if o.batch_size.max_message_count == 0
            || o.batch_size.preferred_max_bytes == 0
            || o.batch_size.preferred_max_bytes > o.batch_size.absolute_max_bytes
            || o.batch_timeout_ms == 0
        {
            return refuse("the batch settings must be positive, preferred_max_bytes ≤ absolute_max_bytes");
        }
        let mut chaincodes: Vec<Chaincode> = Vec::new();
        for cc in &self.chaincodes {
            if chaincodes.iter().any(|c| c.name == cc.name) {
                return refuse(format!("chaincode {} is defined twice", cc.name));
            }
            if cc.sequence == 0 {
                return refuse(format!("chaincode {}'s sequence starts at 1", cc.name));
            }
            let mut functions = BTreeMap::new();
            for (function, text) in &cc.functions {
                functions.insert(
                    function.clone(),
                    policy(text, &format!("{}'s policy for {function}", cc.name))?,
                );
            }
            let mut collections = Vec::new();
            for c in &cc.collections {
                if let Some(other) = c.members.iter().find(|m| !member_set.contains(m.as_str())) {
                    return refuse(format!("collection {} names {other}, which is not a member", c.name));
                }
                collections.push(Collection::from(c));
            }
            chaincodes.push(Chaincode {
                name: cc.name.clone(),
                version: cc.version.clone(),
                sequence: cc.sequence,
                endorsement_policy: policy(&cc.endorsement_policy, &format!("{}'s endorsement policy", cc.name))?,
                functions,
                collections,
            });
        }
        Ok(ResolvedConfig {
            config: self.clone(),
            channel: Channel {
                name: self.channel.clone(),
                members,
                chaincodes,
            },
            org_policies,
            channel_policies,
        })
    }
}

fn chaincode_config(cc: &Chaincode) -> ChaincodeConfig {
    ChaincodeConfig {
        name: cc.name.clone(),
        version: cc.version.clone(),
        sequence: cc.sequence,
        endorsement_policy: cc.endorsement_policy.to_string(),
        functions: cc.functions.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        collections: cc.collections.iter().map(CollectionConfig::from).collect(),
    }
}

/// A chaincode definition as JSON, for people.
pub fn definition_json(definition: &ChaincodeConfig) -> String {
    serde_json::to_string(definition).unwrap_or_default()
}

/// A configuration checked and parsed: the channel (members, chaincodes with their
/// policies) that validation uses, and the policies it evaluates.
#[derive(Clone, Debug)]
pub struct ResolvedConfig {
    pub config: ChannelConfig,
    pub channel: Channel,
    org_policies: BTreeMap<String, BTreeMap<String, SignaturePolicy>>,
    channel_policies: BTreeMap<String, Policy>,
}

impl ResolvedConfig {
    /// The channel's policy `Admins`, `Readers` or `Writers`.
    pub fn channel_policy(&self, name: &str) -> Option<&Policy> {
        self.channel_policies.get(name)
    }

    pub fn sequence(&self) -> u64 {
        self.config.sequence
    }
}

impl ChannelPolicies for ResolvedConfig {
    fn organisations(&self) -> Vec<String> {
        self.channel.members.clone()
    }
    fn org_policy(&self, msp_id: &str, name: &str) -> Option<SignaturePolicy> {
        self.org_policies.get(msp_id)?.get(name).cloned()
    }
}

/// What the MSP layer checks of a configuration that the pure core cannot: that every
/// certificate parses and is a CA, and every revocation list is signed by its
/// organisation's CA.
pub trait CertificateCheck {
    fn check(&self, config: &ChannelConfig) -> Result<(), String>;
}

/// A proposed change: the whole next configuration, for the sequence it replaces.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    pub channel: String,
    /// The sequence of the configuration this update replaces.
    pub base_sequence: u64,
    /// The next configuration (its `sequence` is `base_sequence + 1`).
    pub config: ChannelConfig,
}

impl ConfigUpdate {
    /// An update from `current` to `next` (whose sequence is set to the next one).
    pub fn new(current: &ChannelConfig, mut next: ChannelConfig) -> ConfigUpdate {
        next.sequence = current.sequence + 1;
        ConfigUpdate {
            channel: current.channel.clone(),
            base_sequence: current.sequence,
            config: next,
        }
    }

    /// What an admin signs: the update's canonical bytes under a domain tag.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new("warga.config-update.v1");
        e.str(&serde_json::to_string(self).unwrap_or_default());
        e.finish()
    }
}

/// An admin's signature over an update.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSignature {
    pub signer: Creator,
    #[serde(with = "crate::tx::base64_bytes")]
    pub signature: Vec<u8>,
}

/// A configuration transaction: the update and the signatures collected for it. What a
/// configuration block carries (as JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEnvelope {
    pub update: ConfigUpdate,
    pub signatures: Vec<ConfigSignature>,
}

impl ConfigEnvelope {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Indented JSON, for people to read (parses back to the same value).
    pub fn to_pretty_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<ConfigEnvelope, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError(format!("not a configuration update: {e}")))
    }

    /// Its id in logs and answers: the SHA-256 of the update's signed bytes.
    pub fn id(&self) -> Hash {
        sha256(&self.update.signed_bytes())
    }
}

/// The policies an update from `current` to `next` must satisfy, each with what it
/// guards — Fabric's modification policies, group by group.
pub fn required_policies(current: &ResolvedConfig, next: &ChannelConfig) -> Vec<(String, Policy)> {
    let now = &current.config;
    let mut required: Vec<(String, Policy)> = Vec::new();
    let mut channel_admins = Vec::new();
    let before: BTreeMap<&str, &OrgConfig> = now.organizations.iter().map(|o| (o.msp_id.as_str(), o)).collect();
    let after: BTreeMap<&str, &OrgConfig> = next.organizations.iter().map(|o| (o.msp_id.as_str(), o)).collect();
    for (msp_id, org) in &after {
        match before.get(msp_id) {
            None => channel_admins.push(format!("admitting {msp_id}")),
            Some(old) if old != org => match current.org_policy(msp_id, "Admins") {
                Some(admins) => required.push((format!("{msp_id}'s section"), Policy::Signature(admins))),
                None => channel_admins.push(format!("{msp_id}'s section")),
            },
            Some(_) => {}
        }
    }
    for msp_id in before.keys() {
        if !after.contains_key(msp_id) {
            channel_admins.push(format!("removing {msp_id}"));
        }
    }
    let order_of = |c: &ChannelConfig| c.organizations.iter().map(|o| o.msp_id.clone()).collect::<Vec<_>>();
    if before.len() == after.len() && before.keys().all(|k| after.contains_key(k)) && order_of(now) != order_of(next) {
        channel_admins.push("the members' order".to_owned());
    }
    if now.policies != next.policies {
        channel_admins.push("the channel's policies".to_owned());
    }
    let lifecycle = now.chaincodes != next.chaincodes;
    if now.network != next.network {
        channel_admins.push("the network's name".to_owned());
    }
    if now.orderer != next.orderer {
        match Policy::parse(&format!("'{}.admin'", now.orderer.msp_id)) {
            Ok(policy) => required.push(("the ordering service's section".to_owned(), policy)),
            Err(_) => channel_admins.push("the ordering service's section".to_owned()),
        }
    }
    if !channel_admins.is_empty()
        && let Some(admins) = current.channel_policy("Admins")
    {
        required.push((channel_admins.join(", "), admins.clone()));
    }
    if lifecycle && let Some(approvers) = current.channel_policy("LifecycleEndorsement") {
        required.push(("the chaincode definitions".to_owned(), approvers.clone()));
    }
    required
}

/// Fabric's lifecycle rules for definitions: a changed definition's sequence is one more
/// than the one in force, an unchanged one keeps it, a new chaincode starts at 1, and none
/// is removed.
fn check_definitions(now: &ChannelConfig, next: &ChannelConfig) -> Result<(), ConfigError> {
    for old in &now.chaincodes {
        match next.chaincodes.iter().find(|c| c.name == old.name) {
            None => return refuse(format!("chaincode {} cannot be removed", old.name)),
            Some(new) if new == old => {}
            Some(new) if new.sequence != old.sequence + 1 => {
                return refuse(format!(
                    "chaincode {}'s new definition must have sequence {}, not {}",
                    old.name,
                    old.sequence + 1,
                    new.sequence
                ));
            }
            Some(_) => {}
        }
    }
    for new in &next.chaincodes {
        if !now.chaincodes.iter().any(|c| c.name == new.name) && new.sequence != 1 {
            return refuse(format!("a new chaincode {} starts at sequence 1", new.name));
        }
    }
    Ok(())
}

/// Judges a configuration transaction against the current configuration: the right
/// channel and sequence, a well-formed next configuration (certificates checked by `certs`),
/// and signatures of identities valid under the **current** configuration satisfying every
/// policy the change requires. Returns the next configuration, resolved.
pub fn check_update(
    current: &ResolvedConfig,
    envelope: &ConfigEnvelope,
    membership: &dyn Membership,
    certs: &dyn CertificateCheck,
) -> Result<ResolvedConfig, ConfigError> {
    let update = &envelope.update;
    let now = &current.config;
    if update.channel != now.channel || update.config.channel != now.channel {
        return refuse(format!(
            "the update is for channel {}, not {}",
            update.channel, now.channel
        ));
    }
    if update.base_sequence != now.sequence {
        return refuse(format!(
            "the update replaces configuration {}, the channel's is {}",
            update.base_sequence, now.sequence
        ));
    }
    if update.config.sequence != now.sequence + 1 {
        return refuse(format!(
            "the next configuration's sequence must be {}",
            now.sequence + 1
        ));
    }
    let unchanged = ChannelConfig {
        sequence: update.config.sequence,
        ..now.clone()
    };
    if update.config == unchanged {
        return refuse("the update changes nothing");
    }
    let next = update.config.resolve()?;
    check_definitions(now, &update.config)?;
    certs.check(&update.config).map_err(ConfigError)?;
    let message = update.signed_bytes();
    let mut signers: Vec<Signer> = Vec::new();
    for signature in &envelope.signatures {
        let known =
            signature.signer.msp_id == now.orderer.msp_id || now.organization(&signature.signer.msp_id).is_some();
        if !known || !membership.verify(&signature.signer, &message, &signature.signature) {
            continue;
        }
        if let Ok(signer) = membership.identify(&signature.signer) {
            signers.push(signer);
        }
    }
    for (what, policy) in required_policies(current, &update.config) {
        if !policy.is_satisfied(&signers, current) {
            return refuse(format!("{what} needs the signatures of {policy}"));
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::BPJS_EXAMPLE;

    fn config() -> ChannelConfig {
        let network = Network::parse(BPJS_EXAMPLE).unwrap();
        let channel = network.channel("bpjs-main").unwrap();
        let roots = ["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP", "OrdererMSP"]
            .into_iter()
            .map(|m| {
                (
                    m.to_owned(),
                    MspRoots {
                        root_certs: vec![format!("ca of {m}")],
                        tls_root_certs: vec![format!("tls ca of {m}")],
                    },
                )
            })
            .collect();
        ChannelConfig::from_network(&network, channel, &roots).unwrap()
    }

    #[test]
    fn the_genesis_configuration_resolves_to_the_network_files_channel() {
        let config = config();
        let resolved = config.resolve().unwrap();
        let network = Network::parse(BPJS_EXAMPLE).unwrap();
        assert_eq!(&resolved.channel, network.channel("bpjs-main").unwrap());
        assert_eq!(ChannelConfig::from_json(&config.to_json()).unwrap(), config);
        assert_eq!(config.to_json(), config.clone().to_json(), "canonical");
        let json = config.to_json();
        assert!(json.contains("OR('PuskesmasMSP.peer', 'RumahSakitMSP.peer')"));
        assert!(
            json.contains("\"clinical-puskesmas\""),
            "collections are part of the configuration"
        );
        // Genesis blocks differ per channel and are the same however often they are made.
        let genesis = crate::block::Block::genesis(json.clone());
        assert_eq!(genesis.header, crate::block::Block::genesis(json).header);
        let mut regional = config.clone();
        regional.channel = "jatim-puskesmas".into();
        assert_ne!(genesis.header, crate::block::Block::genesis(regional.to_json()).header);
    }

    #[test]
    fn each_change_needs_its_groups_admins() {
        let current = config().resolve().unwrap();
        let policies = |next: &ChannelConfig| -> Vec<String> {
            required_policies(&current, next)
                .into_iter()
                .map(|(_, p)| p.to_string())
                .collect()
        };
        let mut crl = current.config.clone();
        crl.organizations[1].crls.push("a list".into());
        assert_eq!(policies(&crl), ["'PuskesmasMSP.admin'"]);
        let mut batch = current.config.clone();
        batch.orderer.batch_timeout_ms = 100;
        assert_eq!(policies(&batch), ["'OrdererMSP.admin'"]);
        let mut readers = current.config.clone();
        readers.policies.insert("Readers".into(), "MAJORITY Readers".into());
        assert_eq!(policies(&readers), ["MAJORITY Admins"]);
        let mut admitted = current.config.clone();
        let mut new = admitted.organizations[2].clone();
        new.msp_id = "RSUDMSP".into();
        new.policies = new
            .policies
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("RumahSakitMSP", "RSUDMSP")))
            .collect();
        admitted.organizations.push(new);
        assert_eq!(policies(&admitted), ["MAJORITY Admins"]);
        assert!(admitted.resolve().is_ok());
        let mut foreign = current.config.clone();
        foreign.organizations[0]
            .policies
            .insert("Admins".into(), "'PuskesmasMSP.admin'".into());
        assert!(foreign.resolve().unwrap_err().0.contains("names PuskesmasMSP"));
    }
}
