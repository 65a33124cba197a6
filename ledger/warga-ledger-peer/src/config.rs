//! The channel's configuration as this ledger's blocks made it: the genesis block's, then
//! each valid configuration transaction's. Commit-time validation judges every block with
//! the configuration of the block before it — members, chaincode definitions, policies,
//! and MSPs with the revocation lists the configuration carries — so every peer, and a
//! replay, reaches the same codes.

use std::sync::Arc;

use warga_ledger_core::block::{Block, BlockData};
use warga_ledger_core::config::{ChannelConfig, ConfigEnvelope, ResolvedConfig, check_update};
use warga_ledger_msp::Msps;
use warga_ledger_msp::channel::ConfigCertificates;

/// A configuration in force: parsed, with its MSPs (judged as at commit: no clock).
#[derive(Clone, Debug)]
pub struct ChannelState {
    pub resolved: ResolvedConfig,
    pub msps: Msps,
    /// The block that made it (0: the genesis block).
    pub block: u64,
}

impl ChannelState {
    /// The configuration `config`, made by block `block`.
    pub fn new(config: &ChannelConfig, block: u64) -> Result<ChannelState, String> {
        let resolved = config.resolve().map_err(|e| e.to_string())?;
        let msps = Msps::from_config(config).map_err(|e| e.to_string())?;
        Ok(ChannelState { resolved, msps, block })
    }

    /// The configuration a genesis block carries.
    pub fn genesis(block: &Block) -> Result<ChannelState, String> {
        let BlockData::Config(json) = &block.data else {
            return Err("block 0 carries no configuration".into());
        };
        let config = ChannelConfig::from_json(json).map_err(|e| e.to_string())?;
        ChannelState::new(&config, 0)
    }

    pub fn sequence(&self) -> u64 {
        self.resolved.sequence()
    }

    /// Judges configuration block `block` (whose data is `envelope`, JSON) against this
    /// configuration: the configuration it makes when valid, else why it does not apply.
    pub fn judge(&self, envelope: &str, block: u64) -> Result<Arc<ChannelState>, String> {
        let envelope = ConfigEnvelope::from_json(envelope).map_err(|e| e.to_string())?;
        let next =
            check_update(&self.resolved, &envelope, &self.msps, &ConfigCertificates).map_err(|e| e.to_string())?;
        let msps = Msps::from_config(&next.config).map_err(|e| e.to_string())?;
        Ok(Arc::new(ChannelState {
            resolved: next,
            msps,
            block,
        }))
    }
}
