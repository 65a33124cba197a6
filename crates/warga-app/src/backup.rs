//! Backups of a deployment's data, taken while it serves, and their restore into a fresh
//! data directory.
//!
//! A backup is a directory:
//!
//! ```text
//! backup.json                      the manifest: what was taken, when, and each file's SHA-256
//! warga.db                         the SQLite database (VACUUM INTO: one snapshot)
//! ledger/peers/<host>/<channel>.redb   each peer's ledger (one read transaction each)
//! ledger/orderer/<channel>.redb    one orderer's state, restored to every orderer
//! ledger/crypto/…, keys/…, tls/…, reports/photos/…   every other file of the data directory
//! ```
//!
//! It is written as `<to>.partial` and renamed when whole, the manifest last: a backup that
//! exists under its name is complete. Each store's copy is consistent in itself; across
//! stores the order is what keeps a restore coherent:
//!
//! 1. **the peers** first, each at its own height;
//! 2. **the orderers** next: each orderer's state is copied with its Raft log cut at its last
//!    applied entry (only committed entries), and the copy with the highest applied entry
//!    and no missing blocks is kept. Every block a peer held when copied had been applied by
//!    some orderer before, so the kept orderer is at least as high as every peer: restored
//!    peers only ever catch up, and no restored orderer can order a block a peer's copy
//!    contradicts. All orderers restart from that one copy (identical Raft logs);
//! 3. **the files** (crypto material, keys, certificates, photos), written once or replaced
//!    by rename;
//! 4. **the database** last, so every card on the restored ledger names a resident of the
//!    restored registry. Events still in its outbox are published after the restore, and
//!    the record of handled events travels with it: none is lost or applied twice.
//!
//! PostgreSQL is not copied here: its own tools do it (`pg_basebackup` for a physical copy
//! with point-in-time recovery, `pg_dump` for a logical one; README, "Operating warga").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use warga_ledger_node::embedded::EmbeddedNetwork;
use warga_ledger_orderer::store::OrdererDb;
use warga_ledger_peer::PeerLedger;
use warga_store::{Backend, Store};

use crate::AppError;

/// The manifest's name inside a backup.
pub const MANIFEST: &str = "backup.json";
/// The layout this version writes and reads.
const FORMAT: u32 = 1;

/// What a backup holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The warga version that took it.
    pub version: String,
    /// When it was taken (milliseconds since the Unix epoch).
    pub taken_at_ms: i64,
    /// `sqlite` (in the backup), or `postgresql` (backed up with its own tools).
    pub database: String,
    /// The ledger's first channel (the platform's).
    pub ledger: Option<LedgerManifest>,
    /// The ledger's other channels (the same orderers and their files in `ledger/orderer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<LedgerManifest>,
    pub files: Vec<FileEntry>,
}

/// The ledger's part of a backup.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerManifest {
    pub channel: String,
    /// Each peer's host and its height when copied.
    pub peers: Vec<(String, u64)>,
    /// Every orderer's host (each restored from the one copy).
    pub orderers: Vec<String>,
    /// The orderer whose state was kept, its height and last applied Raft entry.
    pub orderer_copied: String,
    pub orderer_height: u64,
    pub orderer_applied: Option<u64>,
}

/// One file of a backup.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the backup's root, with `/`.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The ledger stores of one channel: open in a running process, or opened from a stopped
/// one's data directory.
#[derive(Clone)]
pub struct LedgerStores {
    pub channel: String,
    pub peers: Vec<(String, Arc<PeerLedger>)>,
    pub orderers: Vec<(String, OrdererDb)>,
}

impl LedgerStores {
    /// The stores of a running embedded network, one per channel, the network's own first.
    pub fn of(network: &EmbeddedNetwork) -> Vec<LedgerStores> {
        let mut channels = vec![network.channel.clone()];
        for orderer in &network.orderers {
            for node in orderer.channels.all() {
                if !channels.contains(&node.channel) {
                    channels.push(node.channel.clone());
                }
            }
        }
        channels
            .into_iter()
            .map(|channel| LedgerStores {
                peers: network
                    .peers
                    .iter()
                    .filter_map(|p| Some((p.node.host.clone(), p.peer(&channel)?.ledger.clone())))
                    .collect(),
                orderers: network
                    .orderers
                    .iter()
                    .filter_map(|o| Some((o.me.host.clone(), o.channel(&channel)?.db.clone())))
                    .collect(),
                channel,
            })
            .collect()
    }

    /// The stores of every channel under `ledger_dir` of a process that is not running,
    /// `first` (the platform's channel) first.
    pub fn open_all(ledger_dir: &Path, first: &str) -> Result<Vec<LedgerStores>, AppError> {
        let mut channels = vec![first.to_owned()];
        for kind in ["peers", "orderers"] {
            let Ok(hosts) = std::fs::read_dir(ledger_dir.join(kind)) else {
                continue;
            };
            for host in hosts.filter_map(Result::ok) {
                let Ok(files) = std::fs::read_dir(host.path()) else {
                    continue;
                };
                for file in files.filter_map(Result::ok) {
                    let path = file.path();
                    if path.extension().is_some_and(|e| e == "redb")
                        && let Some(name) = path.file_stem().and_then(|n| n.to_str())
                        && !channels.iter().any(|c| c == name)
                    {
                        channels.push(name.to_owned());
                    }
                }
            }
        }
        let mut all = Vec::new();
        for channel in channels {
            if let Some(stores) = LedgerStores::open(ledger_dir, &channel)? {
                all.push(stores);
            }
        }
        Ok(all)
    }

    /// Opens the stores under `ledger_dir` (`peers/<host>/<channel>.redb`,
    /// `orderers/<host>/<channel>.redb`) of a process that is not running; `None` when there
    /// is no ledger there.
    pub fn open(ledger_dir: &Path, channel: &str) -> Result<Option<LedgerStores>, AppError> {
        let file = format!("{channel}.redb");
        let mut stores = LedgerStores {
            channel: channel.to_owned(),
            peers: Vec::new(),
            orderers: Vec::new(),
        };
        for (host, path) in node_files(&ledger_dir.join("peers"), &file)? {
            let ledger = PeerLedger::open_existing(&path, channel).map_err(|e| in_use(&path, e))?;
            stores.peers.push((host, Arc::new(ledger)));
        }
        for (host, path) in node_files(&ledger_dir.join("orderers"), &file)? {
            let db = OrdererDb::open(&path).map_err(|e| in_use(&path, e))?;
            stores.orderers.push((host, db));
        }
        Ok((!stores.peers.is_empty() || !stores.orderers.is_empty()).then_some(stores))
    }
}

fn in_use(path: &Path, error: impl std::fmt::Display) -> AppError {
    AppError::Backup(format!(
        "cannot open {}: {error} (a running warga holds it: back up through that process, whose control socket is data_dir/control.sock)",
        path.display()
    ))
}

/// `(host, dir/<host>/<file>)` for every node directory holding `file`, sorted.
fn node_files(dir: &Path, file: &str) -> Result<Vec<(String, PathBuf)>, AppError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path().join(file);
        if path.is_file() {
            out.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
    out.sort();
    Ok(out)
}

fn io(path: &Path, error: std::io::Error) -> AppError {
    AppError::Backup(format!("{}: {error}", path.display()))
}

/// Takes a backup of the deployment whose data directory is `data_dir` into `to` (which must
/// not exist): the ledger's stores, every file, the database — in that order (module
/// documentation).
pub async fn take(store: &Store, ledger: &[LedgerStores], data_dir: &Path, to: &Path) -> Result<Manifest, AppError> {
    if to.exists() {
        return Err(AppError::Backup(format!("{} already exists", to.display())));
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    if absolute(to).starts_with(absolute(data_dir)) {
        return Err(AppError::Usage(format!(
            "{} is inside the data directory {}: a backup there is lost with it",
            to.display(),
            data_dir.display()
        )));
    }
    let partial = partial_path(to);
    if partial.exists() {
        return Err(AppError::Backup(format!(
            "{} exists: another backup is being written there, or one was interrupted (remove it)",
            partial.display()
        )));
    }
    std::fs::create_dir_all(&partial).map_err(|e| io(&partial, e))?;
    let result = write_backup(store, ledger, data_dir, &partial).await;
    match result {
        Ok(manifest) => {
            std::fs::rename(&partial, to).map_err(|e| io(to, e))?;
            tracing::info!(to = %to.display(), files = manifest.files.len(), "backup taken");
            Ok(manifest)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&partial);
            tracing::warn!(to = %to.display(), %error, "backup failed; nothing was left behind");
            Err(error)
        }
    }
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    to.with_file_name(name)
}

async fn write_backup(
    store: &Store,
    ledger: &[LedgerStores],
    data_dir: &Path,
    out: &Path,
) -> Result<Manifest, AppError> {
    let mut channels = Vec::new();
    for stores in ledger {
        let stores = stores.clone();
        let out = out.to_owned();
        channels.push(
            tokio::task::spawn_blocking(move || copy_ledger(&stores, &out))
                .await
                .map_err(|e| AppError::Backup(format!("the ledger copy stopped: {e}")))??,
        );
    }
    let ledger_manifest = (!channels.is_empty()).then(|| channels.remove(0));
    {
        let data_dir = data_dir.to_owned();
        let out = out.to_owned();
        tokio::task::spawn_blocking(move || copy_files(&data_dir, &data_dir, &out))
            .await
            .map_err(|e| AppError::Backup(format!("the file copy stopped: {e}")))??;
    }
    let database = match store.backend() {
        Backend::Sqlite => {
            store
                .copy_into(&out.join("warga.db"))
                .await
                .map_err(|e| AppError::Backup(format!("the database copy failed: {e}")))?;
            "sqlite"
        }
        Backend::Postgres => "postgresql",
    };
    let out_owned = out.to_owned();
    let files = tokio::task::spawn_blocking(move || list_files(&out_owned))
        .await
        .map_err(|e| AppError::Backup(format!("the checksums stopped: {e}")))??;
    let manifest = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        taken_at_ms: warga_core::time::now_ms(),
        database: database.to_owned(),
        ledger: ledger_manifest,
        channels,
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| AppError::Backup(e.to_string()))?;
    write_synced(&out.join(MANIFEST), &text)?;
    Ok(manifest)
}

/// Peers first, then the orderers (module documentation).
fn copy_ledger(stores: &LedgerStores, out: &Path) -> Result<LedgerManifest, AppError> {
    let file = format!("{}.redb", stores.channel);
    let mut peers = Vec::new();
    for (host, ledger) in &stores.peers {
        let dir = out.join("ledger/peers").join(host);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let copied = ledger
            .copy_to(&dir.join(&file))
            .map_err(|e| AppError::Backup(format!("peer {host}: {e}")))?;
        peers.push((host.clone(), copied.height));
    }
    let candidates = out.join("ledger/orderer-candidates");
    std::fs::create_dir_all(&candidates).map_err(|e| io(&candidates, e))?;
    let mut best: Option<(String, warga_ledger_orderer::store::OrdererCopy)> = None;
    for (host, db) in &stores.orderers {
        let copied = db
            .copy_to(&candidates.join(host))
            .map_err(|e| AppError::Backup(format!("orderer {host}: {e}")))?;
        if copied.gap {
            continue;
        }
        if best.as_ref().is_none_or(|(_, b)| copied.applied > b.applied) {
            best = Some((host.clone(), copied));
        }
    }
    let Some((from, kept)) = best else {
        return Err(AppError::Backup(
            "no orderer holds its whole chain (each is still filling a snapshot's gap): try again".into(),
        ));
    };
    let highest_peer = peers.iter().map(|(_, h)| *h).max().unwrap_or(0);
    if kept.height < highest_peer {
        return Err(AppError::Backup(format!(
            "the orderers' copy ({} blocks) is behind a peer's ({highest_peer}): try again",
            kept.height
        )));
    }
    let dir = out.join("ledger/orderer");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    std::fs::rename(candidates.join(&from), dir.join(&file)).map_err(|e| io(&dir, e))?;
    std::fs::remove_dir_all(&candidates).map_err(|e| io(&candidates, e))?;
    Ok(LedgerManifest {
        channel: stores.channel.clone(),
        peers,
        orderers: stores.orderers.iter().map(|(h, _)| h.clone()).collect(),
        orderer_copied: from,
        orderer_height: kept.height,
        orderer_applied: kept.applied,
    })
}

/// Whether `relative` (to the data directory) is copied as a file: not the stores copied
/// above, not the control socket.
fn is_plain_file(relative: &Path) -> bool {
    let text = relative.to_string_lossy();
    !(text.starts_with("warga.db")
        || text.starts_with("ledger/peers")
        || text.starts_with("ledger/orderers")
        || text == "control.sock")
}

fn copy_files(root: &Path, dir: &Path, out: &Path) -> Result<(), AppError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path).to_owned();
        if !is_plain_file(&relative) {
            continue;
        }
        let kind = entry.file_type().map_err(|e| io(&path, e))?;
        if kind.is_dir() {
            copy_files(root, &path, out)?;
        } else if kind.is_file() {
            let target = out.join(&relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            // std::fs::copy keeps the permission bits (private keys stay 0600).
            std::fs::copy(&path, &target).map_err(|e| io(&path, e))?;
        }
    }
    Ok(())
}

/// Every file under `root` with its size and SHA-256, sorted by path (the manifest excluded).
fn list_files(root: &Path) -> Result<Vec<FileEntry>, AppError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let path = entry.path();
            if entry.file_type().map_err(|e| io(&path, e))?.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if name == MANIFEST {
                continue;
            }
            let (bytes, sha256) = digest(&path)?;
            out.push(FileEntry {
                path: name,
                bytes,
                sha256,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// A file's size and SHA-256 (hex), read in pieces.
fn digest(path: &Path) -> Result<(u64, String), AppError> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| io(path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        context.update(&buffer[..n]);
    }
    let hex = context.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Ok((bytes, hex))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).map_err(|e| io(path, e))?;
    file.write_all(bytes).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// Reads a backup's manifest and checks every file it lists (size and SHA-256) and that it
/// lists every file there.
pub fn check(from: &Path) -> Result<Manifest, AppError> {
    let path = from.join(MANIFEST);
    let text = std::fs::read(&path).map_err(|e| {
        AppError::Backup(format!(
            "{} is not a warga backup: {}: {e}",
            from.display(),
            path.display()
        ))
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| AppError::Backup(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(AppError::Backup(format!(
            "{}: format {} (this warga reads format {FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    let found = list_files(from)?;
    for expected in &manifest.files {
        match found.iter().find(|f| f.path == expected.path) {
            None => {
                return Err(AppError::Backup(format!(
                    "{} is missing from the backup",
                    expected.path
                )));
            }
            Some(file) if file != expected => {
                return Err(AppError::Backup(format!(
                    "{} is damaged: its size or SHA-256 differs from the manifest",
                    expected.path
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.iter().find(|f| !manifest.files.iter().any(|e| e.path == f.path)) {
        return Err(AppError::Backup(format!(
            "{} is in the backup but not in its manifest",
            extra.path
        )));
    }
    Ok(manifest)
}

/// Restores the backup in `from` as the data directory `data_dir`, which must not exist or
/// be empty: every file checked against the manifest first, then written to
/// `<data_dir>.restoring` and renamed into place — a data directory that appears is whole.
/// Every orderer starts from the one orderer copy.
pub fn restore(from: &Path, data_dir: &Path) -> Result<Manifest, AppError> {
    let manifest = check(from)?;
    if let Ok(mut entries) = std::fs::read_dir(data_dir)
        && entries.next().is_some()
    {
        return Err(AppError::Usage(format!(
            "data_dir {} is not empty: a backup is restored into a fresh data directory",
            data_dir.display()
        )));
    }
    let mut name = data_dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".restoring");
    let staging = data_dir.with_file_name(name);
    if staging.exists() {
        // An interrupted restore of this same directory: start it again.
        std::fs::remove_dir_all(&staging).map_err(|e| io(&staging, e))?;
    }
    for file in &manifest.files {
        if file.path == MANIFEST {
            continue;
        }
        let source = from.join(&file.path);
        let targets = match (&manifest.ledger, file.path.strip_prefix("ledger/orderer/")) {
            (Some(ledger), Some(name)) => ledger
                .orderers
                .iter()
                .map(|host| staging.join("ledger/orderers").join(host).join(name))
                .collect(),
            _ => vec![staging.join(&file.path)],
        };
        for target in targets {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::copy(&source, &target).map_err(|e| io(&source, e))?;
            std::fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .map_err(|e| io(&target, e))?;
        }
    }
    if data_dir.exists() {
        std::fs::remove_dir(data_dir).map_err(|e| io(data_dir, e))?;
    }
    std::fs::rename(&staging, data_dir).map_err(|e| io(data_dir, e))?;
    tracing::info!(from = %from.display(), data_dir = %data_dir.display(), "backup restored");
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_files_are_copied_as_files() {
        assert!(!is_plain_file(Path::new("warga.db")));
        assert!(!is_plain_file(Path::new("warga.db-wal")));
        assert!(!is_plain_file(Path::new("ledger/peers/peer0/bpjs-main.redb")));
        assert!(!is_plain_file(Path::new("ledger/orderers")));
        assert!(!is_plain_file(Path::new("control.sock")));
        assert!(is_plain_file(Path::new("ledger/crypto/registry/attestor.pem")));
        assert!(is_plain_file(Path::new("keys/master.key")));
    }

    #[test]
    fn a_damaged_or_incomplete_backup_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("b");
        std::fs::create_dir_all(backup.join("keys")).unwrap();
        std::fs::write(backup.join("keys/master.key"), b"secret").unwrap();
        std::fs::write(backup.join("warga.db"), b"database").unwrap();
        let manifest = Manifest {
            format: FORMAT,
            version: "test".into(),
            taken_at_ms: 0,
            database: "sqlite".into(),
            ledger: None,
            channels: Vec::new(),
            files: list_files(&backup).unwrap(),
        };
        std::fs::write(backup.join(MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
        assert_eq!(check(&backup).unwrap().files.len(), 2);

        let target = dir.path().join("data");
        std::fs::write(backup.join("warga.db"), b"databasf").unwrap();
        let error = restore(&backup, &target).unwrap_err().to_string();
        assert!(error.contains("warga.db is damaged"), "{error}");
        assert!(!target.exists() && !dir.path().join("data.restoring").exists());

        std::fs::write(backup.join("warga.db"), b"database").unwrap();
        std::fs::write(backup.join("stray"), b"?").unwrap();
        let error = restore(&backup, &target).unwrap_err().to_string();
        assert!(
            error.contains("stray is in the backup but not in its manifest"),
            "{error}"
        );
        std::fs::remove_file(backup.join("stray")).unwrap();

        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("old"), b"x").unwrap();
        let error = restore(&backup, &target).unwrap_err().to_string();
        assert!(error.contains("not empty"), "{error}");
        std::fs::remove_file(target.join("old")).unwrap();

        restore(&backup, &target).unwrap();
        assert_eq!(std::fs::read(target.join("keys/master.key")).unwrap(), b"secret");
    }
}
