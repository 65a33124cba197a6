//! The control socket, `data_dir/control.sock`: how a command on the same machine asks the
//! running process for what only it can do — today a backup of the ledger stores it holds
//! open (redb locks a database file to its process). Only the data directory's owner may
//! connect (mode 0600): who can read the data directory may already copy it.
//!
//! The protocol is one JSON line each way: `{"backup":{"to":"/abs/path"}}`, answered with
//! `{"manifest":{…}}` or `{"error":"…"}`. One backup runs at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use warga_store::Store;

use crate::AppError;
use crate::backup::{LedgerStores, Manifest};

/// The socket's name in the data directory.
pub const SOCKET: &str = "control.sock";

/// How long a client waits to connect, and for a backup (a large ledger takes a while).
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
const BACKUP_DEADLINE: Duration = Duration::from_secs(3600);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Request {
    Backup { to: PathBuf },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Response {
    Manifest(Box<Manifest>),
    Error(String),
}

/// What the control socket serves from.
struct Context {
    store: Store,
    ledger: Vec<LedgerStores>,
    data_dir: PathBuf,
    /// One backup at a time.
    busy: tokio::sync::Mutex<()>,
}

/// The control socket of a running process; stopped (and its file removed) by
/// [`ControlSocket::stop`].
pub(crate) struct ControlSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl ControlSocket {
    /// Listens on `data_dir/control.sock`. Another live process answering there (a second
    /// process on the same data directory) keeps it; a stale file is replaced. A socket
    /// that cannot be made is logged and the process runs without one (backups then need
    /// the process stopped).
    pub(crate) async fn start(store: Store, ledger: Vec<LedgerStores>, data_dir: &Path) -> Option<ControlSocket> {
        let path = data_dir.join(SOCKET);
        if path.exists() {
            if UnixStream::connect(&path).await.is_ok() {
                tracing::info!(socket = %path.display(), "another process answers on the control socket; this one has none");
                return None;
            }
            let _ = std::fs::remove_file(&path);
        }
        let listener = match UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(socket = %path.display(), %error, "no control socket: backups of this process's ledger need it stopped");
                return None;
            }
        };
        if let Err(error) = restrict(&path) {
            tracing::warn!(socket = %path.display(), %error, "the control socket's mode could not be set; closing it");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let context = Arc::new(Context {
            store,
            ledger,
            data_dir: data_dir.to_owned(),
            busy: tokio::sync::Mutex::new(()),
        });
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(answer(context.clone(), stream));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "control socket: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tracing::info!(socket = %path.display(), "control socket listening");
        Some(ControlSocket { path, task })
    }

    /// Stops listening (a backup in progress is cut off; its partial directory is removed by
    /// the next attempt's refusal message) and removes the file.
    pub(crate) fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

async fn answer(context: Arc<Context>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let response = match BufReader::new(read).read_line(&mut line).await {
        Err(error) => Response::Error(format!("unreadable request: {error}")),
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Err(error) => Response::Error(format!("unknown request: {error}")),
            Ok(Request::Backup { to }) => {
                let _one = context.busy.lock().await;
                tracing::info!(to = %to.display(), "backup requested on the control socket");
                match crate::backup::take(&context.store, &context.ledger, &context.data_dir, &to).await {
                    Ok(manifest) => Response::Manifest(Box::new(manifest)),
                    Err(error) => Response::Error(error.to_string()),
                }
            }
        },
    };
    let mut bytes = serde_json::to_vec(&response).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    bytes.push(b'\n');
    if let Err(error) = write.write_all(&bytes).await {
        tracing::warn!(%error, "control socket: the client left before the answer");
    }
}

/// Asks the process running on `data_dir` for a backup into `to`; `None` when no process
/// answers there.
pub async fn request_backup(data_dir: &Path, to: &Path) -> Result<Option<Manifest>, AppError> {
    let path = data_dir.join(SOCKET);
    if !path.exists() {
        return Ok(None);
    }
    let stream = match tokio::time::timeout(CONNECT_DEADLINE, UnixStream::connect(&path)).await {
        Ok(Ok(stream)) => stream,
        // A file left by a process that died: nobody answers.
        Ok(Err(_)) => return Ok(None),
        Err(_) => {
            return Err(AppError::Backup(format!(
                "{} did not accept a connection within {} s",
                path.display(),
                CONNECT_DEADLINE.as_secs()
            )));
        }
    };
    let to = std::path::absolute(to).map_err(|e| AppError::Backup(format!("{}: {e}", to.display())))?;
    let (read, mut write) = stream.into_split();
    let mut request = serde_json::to_vec(&Request::Backup { to }).map_err(|e| AppError::Backup(e.to_string()))?;
    request.push(b'\n');
    let exchange = async {
        write.write_all(&request).await?;
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await?;
        Ok::<_, std::io::Error>(line)
    };
    let line = match tokio::time::timeout(BACKUP_DEADLINE, exchange).await {
        Ok(Ok(line)) => line,
        Ok(Err(error)) => return Err(AppError::Backup(format!("the control socket: {error}"))),
        Err(_) => {
            return Err(AppError::Backup(format!(
                "no answer on {} within {} s",
                path.display(),
                BACKUP_DEADLINE.as_secs()
            )));
        }
    };
    match serde_json::from_str::<Response>(&line) {
        Ok(Response::Manifest(manifest)) => Ok(Some(*manifest)),
        Ok(Response::Error(error)) => Err(AppError::Backup(error)),
        Err(error) => Err(AppError::Backup(format!(
            "the running process answered what this warga does not read ({error}): is it another version?"
        ))),
    }
}
