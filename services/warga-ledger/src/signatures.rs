//! The audit records of officers' signatures, written in groups: a signature is used only
//! once its record is durable (the signer waits), but records that arrive together share
//! one database transaction — group commit, as a database's own log does it — so a busy
//! counter does not pay one transaction per signature.

use tokio::sync::{mpsc, oneshot};
use warga_store::Store;
use warga_store::audit::{AuditRecord, Outcome};

/// Most records one transaction takes.
const GROUP_MAX: usize = 256;

struct Pending {
    actor: String,
    target: String,
    sha256: String,
    done: oneshot::Sender<Result<(), String>>,
}

/// Where signers hand their records.
pub struct SignatureLog {
    queue: mpsc::Sender<Pending>,
}

impl SignatureLog {
    /// Starts the writer (a task on the current runtime), which ends with the last handle.
    pub fn start(store: Store) -> SignatureLog {
        let (queue, mut incoming) = mpsc::channel::<Pending>(4 * GROUP_MAX);
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut group = vec![first];
                while group.len() < GROUP_MAX {
                    match incoming.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                let written = write(&store, &group).await.map_err(|e| e.to_string());
                if let Err(error) = &written {
                    tracing::error!(%error, records = group.len(), "cannot write signature audit records");
                }
                for pending in group {
                    let _ = pending.done.send(written.clone());
                }
            }
        });
        SignatureLog { queue }
    }

    /// Records that `actor` signed a message with this SHA-256 under `target`; returns once
    /// the record is committed.
    pub async fn record(&self, actor: String, target: String, sha256: String) -> Result<(), String> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Pending {
                actor,
                target,
                sha256,
                done,
            })
            .await
            .map_err(|_| "the signature audit writer stopped".to_owned())?;
        written
            .await
            .map_err(|_| "the signature audit writer stopped".to_owned())?
    }
}

/// The group's records in one transaction and — on SQLite — one round trip to the writer.
async fn write(store: &Store, group: &[Pending]) -> Result<(), warga_store::StoreError> {
    let inserts = group
        .iter()
        .map(|pending| {
            warga_store::audit::insert(&AuditRecord {
                actor: &pending.actor,
                action: "ledger.sign",
                target: &pending.target,
                outcome: Outcome::Success,
                details: Some(serde_json::json!({ "sha256": pending.sha256 })),
            })
        })
        .collect();
    let mut tx = store.begin().await?;
    tx.execute_all(inserts).await?;
    tx.commit().await
}
