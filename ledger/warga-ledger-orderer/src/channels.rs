//! The channels one orderer process serves: one [`OrdererNode`] — its own Raft group, chain
//! and block cutter — per channel, as etcdraft runs one Raft instance per channel. The gRPC
//! services route every call by the channel it names.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use warga_ledger_proto::v1;

use crate::OrdererNode;

/// The channels served, by name. Held only to look up or change the map (never across an
/// await).
#[derive(Default)]
pub struct Channels(RwLock<BTreeMap<String, Arc<OrdererNode>>>);

impl Channels {
    /// The orderer of `channel`, if this process serves it.
    pub fn get(&self, channel: &str) -> Option<Arc<OrdererNode>> {
        self.read().get(channel).cloned()
    }

    /// Serves `node`'s channel; refused when one of that name is served already.
    pub fn insert(&self, node: Arc<OrdererNode>) -> Result<(), String> {
        let mut map = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.contains_key(&node.channel) {
            return Err(format!("channel {} is served already", node.channel));
        }
        map.insert(node.channel.clone(), node);
        Ok(())
    }

    /// Stops routing to `channel`; the caller shuts its orderer down.
    pub fn remove(&self, channel: &str) -> Option<Arc<OrdererNode>> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(channel)
    }

    /// Every channel's orderer, by name.
    pub fn all(&self) -> Vec<Arc<OrdererNode>> {
        self.read().values().cloned().collect()
    }

    /// What the channel participation API lists: each channel, its height, and this
    /// orderer's part in its Raft group.
    pub fn list(&self) -> Vec<v1::ChannelParticipation> {
        self.all()
            .iter()
            .map(|node| {
                let metrics = node.raft.metrics().borrow().clone();
                let status = if metrics.current_leader == Some(node.id) {
                    "leader"
                } else if metrics.membership_config.membership().voter_ids().any(|v| v == node.id) {
                    "consenter"
                } else {
                    "follower"
                };
                v1::ChannelParticipation {
                    name: node.channel.clone(),
                    height: node.height(),
                    status: status.to_owned(),
                }
            })
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<OrdererNode>>> {
        // A poisoned lock only means a thread panicked while holding it; the map is intact.
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
