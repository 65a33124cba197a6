//! Photos in an S3-compatible object store (`[reports.photo_store] kind = "s3"`), against a
//! real S3 server this test starts on a port of its own choosing: `s3s-fs` (crates.io,
//! AWS Signature V4 checked on every request), found as `WARGA_TEST_S3S_FS` or on `PATH`.
//! A photo is stored sealed in the bucket (nothing under the data directory), read back
//! for those who may see it, and not readable from the store without the keys; with the
//! store frozen (SIGSTOP) a submission with a photo fails within its deadline as a 503
//! problem with nothing recorded, and with the store dead likewise, while reports without
//! photos are still accepted. An object no report names is swept once old enough.

use std::io::{BufRead, BufReader, Cursor};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use warga_reports::config::{PhotoStoreConfig, PhotoStoreKind, ReportsConfig};
use warga_testkit::{Engine, spawn_app_with};

mod support;
use support::*;

const ACCESS_KEY: &str = "jagawarga-test";
const SECRET_KEY: &str = "rahasia-uji-penyimpanan-objek-0123456789";
const BUCKET: &str = "jagawarga-photos";

/// An `s3s-fs` process serving `root` (one directory per bucket).
struct S3Server {
    child: Child,
    url: String,
    root: tempfile::TempDir,
}

impl S3Server {
    /// Starts it on a port the kernel picks and reads the address from its log.
    fn start(binary: &str) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let mut child = Command::new(binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
            ])
            .arg(root.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("s3s-fs starts");
        let stdout = child.stdout.take().unwrap();
        let (found, address) = std::sync::mpsc::channel();
        // Reads its log to the end (a full pipe would stop it), passing the address on.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("s3s-fs: {line}");
                if let Some(at) = line.find("http://127.0.0.1:") {
                    let url: String = line[at..].chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = found.send(url);
                }
            }
        });
        let url = address
            .recv_timeout(Duration::from_secs(30))
            .expect("s3s-fs reports its address within 30 s");
        S3Server { child, url, root }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Every object in the bucket (s3s-fs keeps its metadata beside them, hidden).
    fn objects(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut dirs = vec![self.root.path().join(BUCKET)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let hidden = path.file_name().unwrap().to_string_lossy().starts_with('.');
                if path.is_dir() {
                    dirs.push(path);
                } else if !hidden {
                    out.push(std::fs::read(&path).unwrap());
                }
            }
        }
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<String> {
    let binary = std::env::var("WARGA_TEST_S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
    if Command::new(&binary).arg("--version").output().is_ok() {
        return Some(binary);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI=true and no s3s-fs ({binary}): the object store test cannot run"
    );
    eprintln!("skipped: no s3s-fs (cargo install s3s-fs --features binary, or set WARGA_TEST_S3S_FS)");
    None
}

fn jpeg() -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 90]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

async fn photos_in_an_object_store(engine: Engine) {
    let Some(binary) = binary() else {
        return;
    };
    let server = S3Server::start(&binary);
    let endpoint = server.url.clone();
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], move |config| {
        config.section_mut::<ReportsConfig>().photo_store = PhotoStoreConfig {
            kind: PhotoStoreKind::S3,
            endpoint: Some(endpoint),
            bucket: Some(BUCKET.into()),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(warga_config::Secret::new(SECRET_KEY.into())),
            prefix: "laporan/foto".into(),
            allow_http: true,
            timeout_ms: 2_000,
            ..PhotoStoreConfig::default()
        };
    })
    .await
    else {
        return;
    };
    let citizen = linked_citizen(&app, "citizen-s3", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let other = linked_citizen(&app, "citizen-other", NIK_B, "1995-03-12", "male", "Budi Santoso").await;
    let dinas_pu = officer(&app, "officer-pu", "dinas-pu").await;

    // A private report with a photo: the photo goes to the bucket, sealed.
    let response = post_form(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        &report("Saluran tersumbat di Jalan Kenari", "jalan-rusak", "private"),
        &[("photos", "IMG_0002.JPG", "image/jpeg", jpeg())],
    )
    .await;
    assert_eq!(response.status(), 201);
    let submitted: Value = response.json().await.unwrap();
    let id = submitted["report"]["id"].as_str().unwrap().to_owned();
    let objects = server.objects();
    assert_eq!(objects.len(), 1, "one object in the bucket");
    assert!(
        image::guess_format(&objects[0]).is_err(),
        "the object is sealed, not an image"
    );
    assert!(
        !app.platform.config.data_dir.join("reports").join("photos").exists(),
        "nothing under the data directory"
    );
    let key: String = {
        use sqlx::Row;
        sqlx::query("SELECT blob_key FROM report_photos WHERE report_id = $1")
            .bind(&id)
            .fetch_one(app.platform.store.reader())
            .await
            .unwrap()
            .get(0)
    };
    assert!(
        server
            .root
            .path()
            .join(BUCKET)
            .join("laporan/foto")
            .join(&key)
            .is_file(),
        "named by its random key under the prefix"
    );

    // Served to its reporter and its department, decoded; to no one else.
    for (reader, allowed) in [(&citizen, true), (&dinas_pu, true), (&other, false)] {
        let response = get(&app, &format!("/api/v1/reports/{id}/photos/1"), Some(reader)).await;
        if allowed {
            assert_eq!(response.status(), 200);
            let served = response.bytes().await.unwrap();
            let decoded = image::load_from_memory(&served).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (40, 30));
        } else {
            assert_eq!(response.status(), 404);
        }
    }

    // The store itself refuses a reader without the keys.
    let anonymous = reqwest::Client::new()
        .get(format!("{}/{BUCKET}/laporan/foto/{key}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403, "unsigned reads are refused by the store");

    let reports = "SELECT COUNT(*) FROM reports";
    let photos = "SELECT COUNT(*) FROM report_photos";
    let before = (count(&app, reports).await, count(&app, photos).await);
    let problem_of = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "urn:warga:problem:unavailable", "{problem}");
    };

    // Frozen: the write does not answer; the submission fails at its deadline, cleanly.
    server.signal("-STOP");
    let response = post_form(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        &report("Pohon tumbang di Jalan Melati", "pohon-berbahaya", "public"),
        &[("photos", "pohon.jpg", "image/jpeg", jpeg())],
    )
    .await;
    problem_of(response).await;
    assert_eq!(
        (count(&app, reports).await, count(&app, photos).await),
        before,
        "nothing recorded of a submission whose photo could not be stored"
    );
    // Reading a stored photo fails the same way while the store is frozen.
    problem_of(get(&app, &format!("/api/v1/reports/{id}/photos/1"), Some(&citizen)).await).await;
    server.signal("-CONT");

    // Back: photos are stored again.
    let response = post_form(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        &report("Pohon tumbang di Jalan Mawar", "pohon-berbahaya", "public"),
        &[("photos", "pohon.jpg", "image/jpeg", jpeg())],
    )
    .await;
    assert_eq!(response.status(), 201);
    let before = (count(&app, reports).await, count(&app, photos).await);

    // An object no report names (a write whose transaction never committed) is removed by
    // the sweep once it is old enough; the photos of reports stay.
    let store = warga_reports::attachments::blobs(&app.platform).unwrap();
    store.put("orphan-0123456789", b"sealed".to_vec(), 0).await.unwrap();
    let age = warga_reports::attachments::ORPHAN_AGE_MS;
    assert_eq!(
        warga_reports::attachments::sweep(&app.platform, age).await.unwrap(),
        0,
        "too young"
    );
    app.clock.advance_ms(age + 3_600_000);
    assert!(warga_reports::attachments::sweep(&app.platform, age).await.unwrap() >= 1);
    let left: Vec<String> = store.list().await.unwrap().into_iter().map(|(key, _)| key).collect();
    assert!(!left.contains(&"orphan-0123456789".to_owned()));
    let named: Vec<String> = {
        use sqlx::Row;
        sqlx::query("SELECT blob_key FROM report_photos")
            .fetch_all(app.platform.store.reader())
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    assert!(
        named.iter().all(|key| left.contains(key)),
        "every photo of a report kept"
    );
    let response = get(&app, &format!("/api/v1/reports/{id}/photos/1"), Some(&citizen)).await;
    assert_eq!(response.status(), 200);

    // Dead: refused at once, nothing recorded; a report without photos is still accepted.
    drop(server);
    let response = post_form(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        &report("Sampah menumpuk di pasar", "sampah-liar", "public"),
        &[("photos", "sampah.jpg", "image/jpeg", jpeg())],
    )
    .await;
    problem_of(response).await;
    assert_eq!((count(&app, reports).await, count(&app, photos).await), before);
    let response = post(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        report("Sampah menumpuk di terminal", "sampah-liar", "public"),
    )
    .await;
    assert_eq!(response.status(), 201, "reports without photos do not need the store");
}

#[tokio::test]
async fn photos_in_an_object_store_on_sqlite() {
    photos_in_an_object_store(Engine::Sqlite).await;
}

#[tokio::test]
async fn photos_in_an_object_store_on_postgres() {
    photos_in_an_object_store(Engine::Postgres).await;
}
