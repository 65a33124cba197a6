//! `warga ledger …`: network files and crypto material of the BPJS ledger.

use std::path::Path;

use crate::cli::{CryptoCommand, LedgerCommand, NetworkCommand};
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
