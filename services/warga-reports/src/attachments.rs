//! A report's photos (R1): at most [`MAX_PHOTOS`] from the reporter, and one with each
//! department's resolution. Each is made safe by [`crate::photos::sanitize`] before
//! anything is stored, sealed by the vault (AES-256-GCM under the current data key, bound to
//! its report and place) and kept as an opaque file under a random name; the database
//! keeps the file's name, the data key's id and the photo's size.
//!
//! Files are written before the transaction that records them commits, and removed again
//! if it does not: a failed submission leaves nothing behind that a report points to. The
//! file of an anonymous report carries the report's coarse time as its modification time,
//! so the file system does not keep the exact moment either.
//!
//! The store is the data directory (`<data_dir>/reports/photos`) by default, which suits
//! one machine; gateway replicas share an S3-compatible object store instead
//! (`[reports.photo_store] kind = "s3"`, [`S3Blobs`]). Either sees only sealed bytes under
//! random names. An object store records the moment of each upload itself
//! (`Last-Modified`), which a file's modification time can be made not to.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use warga_http::Platform;
use warga_store::{StoreError, Tx};

use crate::config::{PhotoStoreConfig, PhotoStoreKind};
use crate::error::ReportsError;
use crate::photos::{Photo, PhotoLimits, sanitize};

pub use crate::config::MAX_PHOTOS;

/// A photo as it arrived, before any check.
#[derive(Debug)]
pub struct Upload {
    /// The request's field, for errors (`photos[2]`).
    pub field: String,
    pub bytes: axum::body::Bytes,
}

/// A stored photo, as a reader of the report sees it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PhotoView {
    /// Its place among the report's photos, from 1.
    pub number: i64,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
    pub size_bytes: i64,
    /// `reporter` or `department` (a resolution's photo).
    pub source: String,
}

/// Where sealed files live.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, modified_ms: i64) -> std::io::Result<()>;
    async fn get(&self, key: &str) -> std::io::Result<Vec<u8>>;
    async fn delete(&self, key: &str) -> std::io::Result<()>;
    /// Every file: its key and when it was written (ms since the epoch).
    async fn list(&self) -> std::io::Result<Vec<(String, i64)>>;
}

/// Files under a directory, written atomically (a temporary file, synced, then renamed).
pub struct DiskBlobs {
    root: PathBuf,
}

impl DiskBlobs {
    pub fn new(root: PathBuf) -> DiskBlobs {
        DiskBlobs { root }
    }

    fn path(&self, key: &str) -> std::io::Result<PathBuf> {
        let key = check_key(key)?;
        Ok(self.root.join(&key[..2]).join(key))
    }
}

#[async_trait::async_trait]
impl BlobStore for DiskBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, modified_ms: i64) -> std::io::Result<()> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
            std::fs::create_dir_all(dir)?;
            let tmp = path.with_extension("part");
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(modified_ms).unwrap_or(0));
            file.set_times(std::fs::FileTimes::new().set_accessed(at).set_modified(at))?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    async fn get(&self, key: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path(key)?).await
    }

    async fn delete(&self, key: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn list(&self) -> std::io::Result<Vec<(String, i64)>> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let Ok(dirs) = std::fs::read_dir(&root) else {
                return Ok(out);
            };
            for dir in dirs {
                for file in std::fs::read_dir(dir?.path())? {
                    let file = file?;
                    let name = file.file_name().to_string_lossy().into_owned();
                    // Keys only (a `.part` file is a write in progress).
                    if check_key(&name).is_err() {
                        continue;
                    }
                    let modified = file.metadata()?.modified()?;
                    let ms = modified
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    out.push((name, ms));
                }
            }
            Ok(out)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// Keys are ours (random, URL-safe); anything else is refused, never joined to a path.
fn check_key(key: &str) -> std::io::Result<&str> {
    if key.len() < 8 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad blob key"));
    }
    Ok(key)
}

/// Objects in a bucket of an S3-compatible store (signed with AWS Signature V4), each
/// request bounded by the configured deadline, retries included.
pub struct S3Blobs {
    store: object_store::aws::AmazonS3,
    prefix: String,
}

impl S3Blobs {
    pub fn new(config: &PhotoStoreConfig) -> Result<S3Blobs, ReportsError> {
        let deadline = Duration::from_millis(config.timeout_ms);
        let retry = object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: deadline,
            ..object_store::RetryConfig::default()
        };
        let client = object_store::ClientOptions::new()
            .with_timeout(deadline)
            .with_connect_timeout(deadline.min(Duration::from_secs(5)))
            .with_allow_http(config.allow_http);
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(config.endpoint.clone().unwrap_or_default())
            .with_bucket_name(config.bucket.clone().unwrap_or_default())
            .with_region(config.region.clone())
            .with_access_key_id(config.access_key_id.clone().unwrap_or_default())
            .with_secret_access_key(
                config
                    .secret_access_key
                    .as_ref()
                    .map(|s| s.expose().clone())
                    .unwrap_or_default(),
            )
            // Path-style requests (`endpoint/bucket/key`), which every S3-compatible store
            // answers; virtual hosts need DNS per bucket.
            .with_virtual_hosted_style_request(false)
            .with_allow_http(config.allow_http)
            .with_retry(retry)
            .with_client_options(client)
            .build()
            .map_err(|e| ReportsError::Internal(format!("the photo store's settings: {e}")))?;
        Ok(S3Blobs {
            store,
            prefix: config.prefix.trim_end_matches('/').to_owned(),
        })
    }

    fn path(&self, key: &str) -> std::io::Result<object_store::path::Path> {
        let key = check_key(key)?;
        let name = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        object_store::path::Path::parse(name).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    }
}

fn object_error(error: object_store::Error) -> std::io::Error {
    match error {
        object_store::Error::NotFound { .. } => std::io::Error::new(std::io::ErrorKind::NotFound, error),
        other => std::io::Error::other(other),
    }
}

#[async_trait::async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, _modified_ms: i64) -> std::io::Result<()> {
        use object_store::ObjectStoreExt;
        self.store
            .put(&self.path(key)?, object_store::PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(object_error)
    }

    async fn get(&self, key: &str) -> std::io::Result<Vec<u8>> {
        use object_store::ObjectStoreExt;
        let object = self.store.get(&self.path(key)?).await.map_err(object_error)?;
        Ok(object.bytes().await.map_err(object_error)?.to_vec())
    }

    async fn delete(&self, key: &str) -> std::io::Result<()> {
        use object_store::ObjectStoreExt;
        match self.store.delete(&self.path(key)?).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(error) => Err(object_error(error)),
        }
    }

    async fn list(&self) -> std::io::Result<Vec<(String, i64)>> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let prefix = (!self.prefix.is_empty()).then(|| object_store::path::Path::from(self.prefix.as_str()));
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(object_error)?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                let key = meta.location.filename()?.to_owned();
                check_key(&key).ok()?;
                Some((key, meta.last_modified.timestamp_millis()))
            })
            .collect())
    }
}

/// The stores in use, built once per configuration: an object store's client keeps its
/// connections between requests.
static STORES: LazyLock<Mutex<HashMap<String, Arc<dyn BlobStore>>>> = LazyLock::new(Mutex::default);

/// The platform's store of photos, as `[reports.photo_store]` says.
pub fn blobs(platform: &Platform) -> Result<Arc<dyn BlobStore>, ReportsError> {
    let config = crate::settings(platform).photo_store.clone();
    let identity = match config.kind {
        PhotoStoreKind::Disk => format!("disk\n{}", platform.config.data_dir.display()),
        PhotoStoreKind::S3 => format!(
            "s3\n{}\n{}\n{}\n{}\n{}\n{}",
            config.endpoint.as_deref().unwrap_or_default(),
            config.bucket.as_deref().unwrap_or_default(),
            config.prefix,
            config.access_key_id.as_deref().unwrap_or_default(),
            config
                .secret_access_key
                .as_ref()
                .map(|s| s.expose().as_str())
                .unwrap_or_default(),
            config.timeout_ms,
        ),
    };
    let mut stores = STORES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(store) = stores.get(&identity) {
        return Ok(store.clone());
    }
    let store: Arc<dyn BlobStore> = match config.kind {
        PhotoStoreKind::Disk => Arc::new(DiskBlobs::new(platform.config.data_dir.join("reports").join("photos"))),
        PhotoStoreKind::S3 => Arc::new(S3Blobs::new(&config)?),
    };
    stores.insert(identity, store.clone());
    Ok(store)
}

/// Checks and re-encodes uploads off the async threads; the first bad one fails them all.
pub async fn prepare(uploads: Vec<Upload>, limits: PhotoLimits) -> Result<Vec<Photo>, ReportsError> {
    tokio::task::spawn_blocking(move || {
        uploads
            .iter()
            .map(|upload| sanitize(&upload.field, &upload.bytes, limits))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ReportsError::Internal(format!("photo task: {e}")))?
}

fn context(report_id: &str, number: i64) -> String {
    format!("report:{report_id}:photo:{number}")
}

/// Files sealed and written, to be removed again if the transaction recording them fails.
pub struct Written {
    store: Arc<dyn BlobStore>,
    keys: Vec<String>,
    /// The photos as their readers will see them once the transaction commits.
    pub views: Vec<PhotoView>,
}

impl Written {
    /// Removes the files (the transaction did not commit).
    pub async fn discard(self) {
        for key in &self.keys {
            if let Err(error) = self.store.delete(key).await {
                tracing::warn!(%error, "removing the file of a photo whose report was not stored");
            }
        }
    }
}

/// Seals and writes `photos` and records them in `tx`, numbered after the report's
/// existing photos.
pub async fn attach(
    platform: &Platform,
    tx: &mut Tx,
    report_id: &str,
    source: &str,
    photos: Vec<Photo>,
    at_ms: i64,
) -> Result<Written, ReportsError> {
    let store = blobs(platform)?;
    let mut written = Written {
        store: store.clone(),
        keys: Vec::new(),
        views: Vec::new(),
    };
    if photos.is_empty() {
        return Ok(written);
    }
    let result = async {
        let last: i64 = sqlx::query("SELECT COALESCE(MAX(number), 0) FROM report_photos WHERE report_id = $1")
            .bind(report_id)
            .fetch_one(tx.conn())
            .await
            .map_err(StoreError::from)?
            .get(0);
        for (i, photo) in photos.into_iter().enumerate() {
            let number = last + 1 + i64::try_from(i).unwrap_or(0);
            let (key_id, sealed) = platform
                .vault
                .seal_bytes(&photo.bytes, &context(report_id, number))
                .await?;
            let key = warga_auth::random_token(16)?;
            // Recorded before the write: a write that failed late may still have landed.
            written.keys.push(key.clone());
            store.put(&key, sealed, at_ms).await.map_err(|error| {
                tracing::error!(%error, "the photo store refused or did not answer a write");
                ReportsError::Unavailable(
                    "penyimpanan foto sedang tidak dapat dihubungi; coba lagi sebentar lagi".into(),
                )
            })?;
            sqlx::query(
                "INSERT INTO report_photos (report_id, number, blob_key, key_id, content_type, width, height, \
                 size_bytes, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(report_id)
            .bind(number)
            .bind(&key)
            .bind(&key_id)
            .bind(photo.content_type)
            .bind(i64::from(photo.width))
            .bind(i64::from(photo.height))
            .bind(i64::try_from(photo.bytes.len()).unwrap_or(i64::MAX))
            .bind(source)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
            written.views.push(PhotoView {
                number,
                content_type: photo.content_type.to_owned(),
                width: i64::from(photo.width),
                height: i64::from(photo.height),
                size_bytes: i64::try_from(photo.bytes.len()).unwrap_or(i64::MAX),
                source: source.to_owned(),
            });
        }
        Ok::<(), ReportsError>(())
    }
    .await;
    match result {
        Ok(()) => Ok(written),
        Err(error) => {
            written.discard().await;
            Err(error)
        }
    }
}

/// Files left by writes whose transaction never committed — a photo written after its
/// deadline had passed, a process killed between the write and the commit — are removed
/// once older than `older_than_ms` and named by no report. Returns how many.
pub async fn sweep(platform: &Platform, older_than_ms: i64) -> Result<usize, ReportsError> {
    let store = blobs(platform)?;
    let cutoff = platform.clock.now_ms() - older_than_ms;
    let listed = store
        .list()
        .await
        .map_err(|e| ReportsError::Unavailable(format!("listing the photo store: {e}")))?;
    let mut removed = 0;
    for (key, modified_ms) in listed {
        if modified_ms >= cutoff {
            continue;
        }
        let named: i64 = sqlx::query("SELECT COUNT(*) FROM report_photos WHERE blob_key = $1")
            .bind(&key)
            .fetch_one(platform.store.reader())
            .await
            .map_err(StoreError::from)?
            .get(0);
        if named == 0 {
            store
                .delete(&key)
                .await
                .map_err(|e| ReportsError::Unavailable(format!("removing an orphaned photo: {e}")))?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "orphaned photo files removed");
    }
    Ok(removed)
}

/// Removes orphaned photo files every hour (any replica; removing twice is harmless).
pub struct PhotoSweepJob {
    pub platform: Platform,
}

/// Files younger than this are never removed: their transaction may still be open.
pub const ORPHAN_AGE_MS: i64 = 24 * 3_600_000;

#[async_trait::async_trait]
impl warga_http::Job for PhotoSweepJob {
    fn name(&self) -> &'static str {
        "reports-photo-sweep"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(3_600)
    }
    async fn run(&self) -> Result<usize, String> {
        sweep(&self.platform, ORPHAN_AGE_MS).await.map_err(|e| e.to_string())
    }
}

/// A report's photos, in order.
pub async fn list(platform: &Platform, report_id: &str) -> Result<Vec<PhotoView>, ReportsError> {
    let rows = sqlx::query(
        "SELECT number, content_type, width, height, size_bytes, source FROM report_photos \
         WHERE report_id = $1 ORDER BY number",
    )
    .bind(report_id)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    Ok(rows
        .iter()
        .map(|r| PhotoView {
            number: r.get(0),
            content_type: r.get(1),
            width: r.get(2),
            height: r.get(3),
            size_bytes: r.get(4),
            source: r.get(5),
        })
        .collect())
}

/// One photo's content type and bytes, opened. The caller has checked the reader may see
/// the report.
pub async fn open(platform: &Platform, report_id: &str, number: i64) -> Result<(String, Vec<u8>), ReportsError> {
    let row =
        sqlx::query("SELECT blob_key, key_id, content_type FROM report_photos WHERE report_id = $1 AND number = $2")
            .bind(report_id)
            .bind(number)
            .fetch_optional(platform.store.reader())
            .await
            .map_err(StoreError::from)?
            .ok_or(ReportsError::NotFound)?;
    let (key, key_id, content_type): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    let sealed = blobs(platform)?.get(&key).await.map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            ReportsError::Internal(format!("a recorded photo's file is missing: {error}"))
        } else {
            tracing::error!(%error, "the photo store refused or did not answer a read");
            ReportsError::Unavailable("penyimpanan foto sedang tidak dapat dihubungi; coba lagi sebentar lagi".into())
        }
    })?;
    let bytes = platform
        .vault
        .open_bytes(&key_id, sealed, &context(report_id, number))
        .await?;
    Ok((content_type, bytes))
}
