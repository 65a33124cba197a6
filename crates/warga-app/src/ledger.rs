//! The embedded ledger network of `warga up`.

use warga_config::Config;
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_node::embedded::EmbeddedNetwork;
use warga_ledger_node::settings::LedgerConfig;

use crate::AppError;

/// The configured network file (or the BPJS example), its orderers and one peer per member
/// organisation of the configured channel, under `data_dir/ledger`.
pub(crate) async fn start(config: &Config) -> Result<EmbeddedNetwork, AppError> {
    let ledger = config.section::<LedgerConfig>();
    let text = match &ledger.network {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| AppError::Usage(format!("ledger.network: cannot read {}: {e}", path.display())))?,
        None => BPJS_EXAMPLE.to_owned(),
    };
    let network = Network::parse(&text).map_err(|e| AppError::Usage(format!("ledger.network: {e}")))?;
    if network.channel(&ledger.channel).is_none() {
        return Err(AppError::Usage(format!(
            "ledger.channel: no channel {} in the network file",
            ledger.channel
        )));
    }
    // The platform's channel first, then every other channel served.
    let mut channels = vec![ledger.channel.clone()];
    let others: Vec<String> = if ledger.channels.is_empty() {
        network.channels.iter().map(|c| c.name.clone()).collect()
    } else {
        ledger.channels.clone()
    };
    for name in others {
        if network.channel(&name).is_none() {
            return Err(AppError::Usage(format!(
                "ledger.channels: no channel {name} in the network file"
            )));
        }
        if !channels.contains(&name) {
            channels.push(name);
        }
    }
    EmbeddedNetwork::start_channels(
        network,
        &channels,
        &config.data_dir.join("ledger"),
        ledger.ephemeral_ports,
        warga_ledger_node::revocation::REFRESH_DEFAULT,
    )
    .await
    .map_err(|e| AppError::Ledger(e.to_string()))
}

/// Points the ledger's web gateway at the embedded network: its crypto directory, the peer
/// and the CA of each organisation it runs (their actual addresses, ephemeral ports
/// included).
pub(crate) fn configure_gateway(config: &mut Config, network: &EmbeddedNetwork) {
    let section = config.section_mut::<LedgerConfig>();
    section.crypto = Some(network.crypto.clone());
    for peer in &network.peers {
        section
            .peers
            .insert(peer.organization.msp_id.clone(), peer.node.address.clone());
    }
    for ca in &network.cas {
        section.cas.insert(ca.msp_id.clone(), ca.url.clone());
    }
}
