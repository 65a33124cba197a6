//! Orderers connected in one process: Raft messages are calls on the target's `Raft`. Links
//! can be cut and healed, which is how tests partition the cluster deterministically.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use openraft::error::{
    Fatal, InstallSnapshotError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, SnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, Raft, Snapshot, Vote};

use crate::TypeConfig;
use crate::catch_up::{BlockSource, Pulled, Puller};
use crate::store::OrdererDb;

#[derive(Debug, thiserror::Error)]
#[error("orderer {0} is unreachable")]
struct Down(u64);

#[derive(Default)]
struct Links {
    nodes: BTreeMap<u64, Raft<TypeConfig>>,
    /// Each orderer's blocks, for catching up after a snapshot.
    stores: BTreeMap<u64, OrdererDb>,
    /// Cut links, both directions: (lower id, higher id).
    cut: BTreeSet<(u64, u64)>,
}

/// The in-process "network" of a cluster of orderers.
#[derive(Clone, Default)]
pub struct Router(Arc<Mutex<Links>>);

impl Router {
    /// Makes orderer `id` (its Raft and its blocks) reachable.
    pub fn add(&self, id: u64, raft: Raft<TypeConfig>, db: OrdererDb) {
        let mut links = self.links();
        links.nodes.insert(id, raft);
        links.stores.insert(id, db);
    }

    /// Makes orderer `id` unreachable (as if its process died).
    pub fn remove(&self, id: u64) {
        let mut links = self.links();
        links.nodes.remove(&id);
        links.stores.remove(&id);
    }

    /// Cuts every link of `id` to the others.
    pub fn isolate(&self, id: u64) {
        let mut links = self.links();
        let others: Vec<u64> = links.nodes.keys().copied().filter(|n| *n != id).collect();
        for other in others {
            links.cut.insert((id.min(other), id.max(other)));
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.links().cut.clear();
    }

    /// The factory orderer `id` builds its connections with.
    pub fn node(&self, id: u64) -> NodeNetwork {
        NodeNetwork {
            id,
            router: self.clone(),
        }
    }

    fn links(&self) -> std::sync::MutexGuard<'_, Links> {
        // A poisoned lock only means a test thread panicked; the data is still usable.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn target(&self, from: u64, to: u64) -> Result<Raft<TypeConfig>, Down> {
        let links = self.links();
        if links.cut.contains(&(from.min(to), from.max(to))) {
            return Err(Down(to));
        }
        links.nodes.get(&to).cloned().ok_or(Down(to))
    }
}

/// Blocks pulled by one orderer from the others' stores, over the router's links.
struct RouterPuller {
    me: u64,
    router: Router,
}

impl Puller for RouterPuller {
    fn pull(&self, from: u64, to: u64) -> Pulled<'_> {
        Box::pin(async move {
            let stores: Vec<OrdererDb> = {
                let links = self.router.links();
                links
                    .stores
                    .iter()
                    .filter(|(id, _)| **id != self.me && !links.cut.contains(&(self.me.min(**id), self.me.max(**id))))
                    .map(|(_, db)| db.clone())
                    .collect()
            };
            for db in stores {
                let blocks = db.encoded_blocks(from, to).map_err(|e| e.to_string())?;
                if !blocks.is_empty() {
                    return Ok(blocks);
                }
            }
            Ok(Vec::new())
        })
    }
}

impl BlockSource for NodeNetwork {
    fn clone_source(&self, me: u64) -> std::sync::Arc<dyn Puller> {
        std::sync::Arc::new(RouterPuller {
            me,
            router: self.router.clone(),
        })
    }
}

/// One orderer's view of the router.
pub struct NodeNetwork {
    id: u64,
    router: Router,
}

/// A connection from one orderer to another.
pub struct Connection {
    from: u64,
    to: u64,
    router: Router,
}

impl RaftNetworkFactory<TypeConfig> for NodeNetwork {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Connection {
        Connection {
            from: self.id,
            to: target,
            router: self.router.clone(),
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self
            .router
            .target(self.from, self.to)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        // Snapshots travel whole through `full_snapshot`; chunked transfer is not used.
        let raft = self
            .router
            .target(self.from, self.to)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        drop(raft);
        Err(RPCError::Unreachable(Unreachable::new(&Down(self.to))))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let raft = self
            .router
            .target(self.from, self.to)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        raft.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<u64>,
        snapshot: Snapshot<TypeConfig>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<u64>, StreamingError<TypeConfig, Fatal<u64>>> {
        let raft = self
            .router
            .target(self.from, self.to)
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))?;
        raft.install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::RemoteError(RemoteError::new(self.to, e)))
    }
}
