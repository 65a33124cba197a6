//! A channel's MSPs as its configuration in the chain defines them: each organisation's CA
//! certificate and the revocation lists the configuration carries. What commit-time
//! validation judges identities with — the same on every peer at the same block, and on a
//! replay.

use std::collections::BTreeMap;
use std::path::Path;

use warga_ledger_core::block::Block;
use warga_ledger_core::config::{
    CertificateCheck, ChannelConfig, ConfigEnvelope, MspRoots, OrgConfig, ResolvedConfig, check_update,
};
use warga_ledger_core::network::{Channel, Network};

use crate::generate::organization_dir;
use crate::{Msp, MspError, Msps, certificate_pem_to_der, revocation_list_der};

impl Msps {
    /// The MSPs of a channel's configuration, judged as at commit (no validity window):
    /// every member organisation and the ordering organisation, each trusting its one CA
    /// certificate, with the configuration's revocation lists applied.
    pub fn from_config(config: &ChannelConfig) -> Result<Msps, MspError> {
        let mut msps = Msps::new(0).timeless();
        for section in config.msp_sections() {
            let (msp_id, crls) = (section.msp_id, section.crls);
            let [root] = section.root_certs else {
                return Err(MspError::Malformed(format!(
                    "{msp_id} must name exactly one CA certificate, not {}",
                    section.root_certs.len()
                )));
            };
            let mut msp = Msp::new(msp_id.clone(), certificate_pem_to_der(root.as_bytes())?)?;
            for crl in crls {
                msp.apply_revocation_list(&revocation_list_der(crl.as_bytes())?)?;
            }
            msps.insert(msp);
        }
        Ok(msps)
    }
}

/// The certificate checks of a configuration update: every CA certificate parses and is a
/// CA, every TLS CA certificate parses, every revocation list is signed by its
/// organisation's CA.
pub struct ConfigCertificates;

impl CertificateCheck for ConfigCertificates {
    fn check(&self, config: &ChannelConfig) -> Result<(), String> {
        Msps::from_config(config).map_err(|e| e.to_string())?;
        for section in config.msp_sections() {
            let (msp_id, roots) = (section.msp_id, section.tls_root_certs);
            if roots.is_empty() {
                return Err(format!("{msp_id} names no TLS CA certificate"));
            }
            for pem in roots {
                certificate_pem_to_der(pem.as_bytes()).map_err(|e| format!("{msp_id}'s TLS CA: {e}"))?;
            }
        }
        Ok(())
    }
}

/// Each organisation's CA and TLS CA certificates as `generate` wrote them (`msp/cacerts`,
/// `msp/tlscacerts`), by MSP id, the ordering organisation's included.
pub fn msp_roots(network: &Network, crypto: &Path) -> Result<BTreeMap<String, MspRoots>, MspError> {
    let read = |path: std::path::PathBuf| {
        std::fs::read_to_string(&path).map_err(|e| MspError::Malformed(format!("{}: {e}", path.display())))
    };
    let mut roots = BTreeMap::new();
    for (msp_id, domain, orderer) in crate::generate::organizations(network) {
        let msp = organization_dir(crypto, orderer, domain).join("msp");
        roots.insert(
            msp_id.to_owned(),
            MspRoots {
                root_certs: vec![read(msp.join(format!("cacerts/ca.{domain}-cert.pem")))?],
                tls_root_certs: vec![read(msp.join(format!("tlscacerts/tlsca.{domain}-cert.pem")))?],
            },
        );
    }
    Ok(roots)
}

/// The section an organisation of `network` (called `name`) brings into a channel's
/// configuration when it is admitted: its MSP id, domain and policies from the network
/// file, its CA and TLS CA certificates from its crypto directory (`generate`'s layout).
pub fn organization_section(network: &Network, name: &str, crypto: &Path) -> Result<OrgConfig, MspError> {
    let org = network
        .organizations
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| MspError::Malformed(format!("no organisation {name} in the network file")))?;
    let msp = organization_dir(crypto, false, &org.domain).join("msp");
    let read = |path: std::path::PathBuf| {
        std::fs::read_to_string(&path).map_err(|e| MspError::Malformed(format!("{}: {e}", path.display())))
    };
    Ok(OrgConfig {
        msp_id: org.msp_id.clone(),
        name: org.name.clone(),
        domain: org.domain.clone(),
        root_certs: vec![read(msp.join(format!("cacerts/ca.{}-cert.pem", org.domain)))?],
        tls_root_certs: vec![read(msp.join(format!("tlscacerts/tlsca.{}-cert.pem", org.domain)))?],
        crls: Vec::new(),
        policies: org.policies.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
    })
}

/// A channel's first configuration: the network file's channel with the organisations'
/// certificates from the crypto directory.
pub fn genesis_config(network: &Network, channel: &Channel, crypto: &Path) -> Result<ChannelConfig, MspError> {
    let roots = msp_roots(network, crypto)?;
    ChannelConfig::from_network(network, channel, &roots).map_err(|e| MspError::Malformed(e.to_string()))
}

/// A channel's genesis block, the same on every node given the same network file and CA
/// certificates.
pub fn genesis_block(network: &Network, channel: &Channel, crypto: &Path) -> Result<Block, MspError> {
    Ok(Block::genesis(genesis_config(network, channel, crypto)?.to_json()))
}

/// Judges a configuration transaction against the configuration `current`, with the MSPs
/// `current` defines (as at commit: no clock): the next configuration, resolved, or why the
/// update does not apply. Orderers, peers and replays call this alike.
pub fn judge_update(current: &ChannelConfig, envelope: &ConfigEnvelope) -> Result<ResolvedConfig, String> {
    let resolved = current.resolve().map_err(|e| e.to_string())?;
    let msps = Msps::from_config(current).map_err(|e| e.to_string())?;
    check_update(&resolved, envelope, &msps, &ConfigCertificates).map_err(|e| e.to_string())
}
