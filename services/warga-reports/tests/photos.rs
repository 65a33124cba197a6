//! Photos of reports through HTTPS on SQLite and PostgreSQL: what a citizen's camera put in
//! a photo (GPS, the camera's make, the orientation) is gone from what warga stores and
//! serves — checked with an EXIF reader warga did not write — the file on disk is sealed,
//! each photo is served only to those who may see its report (the receipt holder for an
//! anonymous one), a department resolves with a photo, and bad uploads are refused by
//! field with nothing stored.

use std::io::Cursor;

use axum::Router;
use serde_json::{Value, json};
use warga_testkit::{Engine, TestApp, spawn_app_with};

mod support;
use support::*;

/// A camera's JPEG: 64 × 48 pixels, EXIF with GPS coordinates, the camera's make and
/// orientation 6 (turned: shown upright it is 48 × 64).
fn camera_jpeg() -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 120]));
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Jpeg)
        .unwrap();
    let make = exif::Field {
        tag: exif::Tag::Make,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Ascii(vec![b"KameraRahasia".to_vec()]),
    };
    let orientation = exif::Field {
        tag: exif::Tag::Orientation,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Short(vec![6]),
    };
    let latitude = exif::Field {
        tag: exif::Tag::GPSLatitude,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Rational(vec![(6, 1).into(), (11, 1).into(), (1034, 100).into()]),
    };
    let latitude_ref = exif::Field {
        tag: exif::Tag::GPSLatitudeRef,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Ascii(vec![b"S".to_vec()]),
    };
    let mut writer = exif::experimental::Writer::new();
    for field in [&make, &orientation, &latitude, &latitude_ref] {
        writer.push_field(field);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff.into_inner());
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend_from_slice(&[0xFF, 0xE1]);
    jpeg.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    jpeg.extend_from_slice(&app1);
    jpeg.extend_from_slice(&plain[2..]);
    // The reader warga did not write sees what a camera would have put there.
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(&jpeg))
        .unwrap();
    assert!(exif.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY).is_some());
    jpeg
}

fn png() -> Vec<u8> {
    let pixels = image::RgbaImage::from_pixel(30, 20, image::Rgba([200, 10, 10, 100]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(pixels)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Every file in the photo store, with its modification time (ms).
fn stored_files(app: &TestApp) -> Vec<(Vec<u8>, i64)> {
    let root = app.platform.config.data_dir.join("reports").join("photos");
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for dir in dirs {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
            let ms = modified.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
            out.push((std::fs::read(&path).unwrap(), i64::try_from(ms).unwrap()));
        }
    }
    out
}

async fn bytes_of(response: reqwest::Response) -> (u16, String, Vec<u8>) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.bytes().await.unwrap().to_vec())
}

fn assert_no_metadata(jpeg: &[u8]) {
    match exif::Reader::new().read_from_container(&mut Cursor::new(jpeg)) {
        Err(exif::Error::NotFound(_)) => {}
        other => panic!(
            "the served photo still has EXIF: {:?}",
            other.map(|e| e.fields().count())
        ),
    }
    for secret in [&b"KameraRahasia"[..], b"Exif", b"http://ns.adobe.com/xap"] {
        assert!(!jpeg.windows(secret.len()).any(|w| w == secret), "{secret:?} survived");
    }
}

async fn field_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let problem: Value = response.json().await.unwrap();
    (status, problem["field"].as_str().unwrap_or_default().to_owned())
}

async fn photos_of_reports(engine: Engine) {
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], |config| {
        let reports = config.section_mut::<warga_reports::config::ReportsConfig>();
        reports.photo_max_bytes = 256 * 1024;
    })
    .await
    else {
        return;
    };
    let citizen = linked_citizen(&app, "citizen-photo", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let other = linked_citizen(&app, "citizen-other", NIK_B, "1995-03-12", "male", "Budi Santoso").await;
    let dinas_pu = officer(&app, "officer-pu", "dinas-pu").await;
    let dlh = officer(&app, "officer-dlh", "dlh").await;
    let camera = camera_jpeg();

    // A public report with two photos: the camera's JPEG and a PNG with transparency.
    let response = post_form(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        &report("Jalan berlubang di Kebon Kacang", "jalan-rusak", "public"),
        &[
            ("photos", "IMG_0001.JPG", "image/jpeg", camera.clone()),
            ("photos", "peta.png", "image/png", png()),
        ],
    )
    .await;
    assert_eq!(response.status(), 201);
    let submitted: Value = response.json().await.unwrap();
    let public_id = submitted["report"]["id"].as_str().unwrap().to_owned();
    let photos = submitted["report"]["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2);
    assert_eq!(photos[0]["content_type"], "image/jpeg");
    assert_eq!(
        (photos[0]["width"].as_i64(), photos[0]["height"].as_i64()),
        (Some(48), Some(64))
    );
    assert_eq!(photos[1]["content_type"], "image/png");
    assert_eq!(photos[0]["source"], "reporter");

    // Anyone may see a public report's photo: upright, and without a trace of the camera.
    let (status, content_type, served) =
        bytes_of(get(&app, &format!("/api/v1/reports/{public_id}/photos/1"), None).await).await;
    assert_eq!((status, content_type.as_str()), (200, "image/jpeg"));
    assert_no_metadata(&served);
    let decoded = image::load_from_memory(&served).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (48, 64));
    let (status, content_type, _) =
        bytes_of(get(&app, &format!("/api/v1/reports/{public_id}/photos/2"), None).await).await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    assert_eq!(
        get(&app, &format!("/api/v1/reports/{public_id}/photos/3"), None)
            .await
            .status(),
        404
    );

    // On disk: sealed files, none holding the photo, its metadata or anything readable.
    let files = stored_files(&app);
    assert_eq!(files.len(), 2);
    for (bytes, _) in &files {
        assert!(image::guess_format(bytes).is_err(), "a stored file is not an image");
        assert!(
            !bytes
                .windows(served.len().min(64))
                .any(|w| w == &served[..served.len().min(64)])
        );
        assert!(!bytes.windows(13).any(|w| w == b"KameraRahasia"));
    }

    // A private report's photo: its reporter and its department, no one else.
    let response = post_form(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        &report("Saluran tersumbat di gang", "jalan-rusak", "private"),
        &[("photos", "a.jpg", "image/jpeg", camera.clone())],
    )
    .await;
    assert_eq!(response.status(), 201);
    let private: Value = response.json().await.unwrap();
    let private_id = private["report"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/reports/{private_id}/photos/1");
    assert_eq!(get(&app, &path, Some(&citizen)).await.status(), 200);
    assert_eq!(get(&app, &path, Some(&dinas_pu)).await.status(), 200);
    assert_eq!(get(&app, &path, Some(&other)).await.status(), 404);
    assert_eq!(get(&app, &path, Some(&dlh)).await.status(), 404, "another department");
    assert_eq!(get(&app, &path, None).await.status(), 404);

    // An anonymous report's photo: the department, and the receipt holder by the code.
    let response = post_form(
        &app,
        "/api/v1/reports/anonymous",
        Some(&citizen),
        &report("Pungutan liar di jembatan", "jalan-rusak", "anonymous"),
        &[("photos", "b.webp", "application/octet-stream", camera.clone())],
    )
    .await;
    assert_eq!(response.status(), 201);
    let anonymous: Value = response.json().await.unwrap();
    let anonymous_id = anonymous["report"]["id"].as_str().unwrap().to_owned();
    let receipt = anonymous["receipt"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/reports/{anonymous_id}/photos/1");
    assert_eq!(
        get(&app, &path, Some(&citizen)).await.status(),
        404,
        "not by the account"
    );
    assert_eq!(get(&app, &path, None).await.status(), 404);
    assert_eq!(get(&app, &path, Some(&dinas_pu)).await.status(), 200);
    let (status, _, by_receipt) = bytes_of(
        post(
            &app,
            "/api/v1/reports/receipt/photos/1",
            None,
            json!({ "code": receipt }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_no_metadata(&by_receipt);
    let wrong = format!("{anonymous_id}.AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(
        post(&app, "/api/v1/reports/receipt/photos/1", None, json!({ "code": wrong }))
            .await
            .status(),
        400
    );
    // Its file's time is the report's coarse hour, like the report's own times.
    let created = anonymous["report"]["created_at_ms"].as_i64().unwrap();
    assert_eq!(created % 3_600_000, 0);
    let files = stored_files(&app);
    assert_eq!(files.len(), 4);
    assert!(files.iter().any(|(_, modified)| *modified == created));

    // The department resolves with a photo of the repaired road; the reporter sees it.
    let response = post_form(
        &app,
        &format!("/api/v1/reports/{public_id}/triage"),
        Some(&dinas_pu),
        &json!({ "action": "start" }),
        &[("photos", "x.jpg", "image/jpeg", camera.clone())],
    )
    .await;
    assert_eq!(
        field_of(response).await,
        (400, "photos".into()),
        "a photo only with a resolution"
    );
    let started = post(
        &app,
        &format!("/api/v1/reports/{public_id}/triage"),
        Some(&dinas_pu),
        json!({ "action": "start" }),
    )
    .await;
    assert_eq!(started.status(), 200);
    let response = post_form(
        &app,
        &format!("/api/v1/reports/{public_id}/triage"),
        Some(&dinas_pu),
        &json!({ "action": "resolve", "note": "Jalan sudah ditambal." }),
        &[("photos", "selesai.jpg", "image/jpeg", camera.clone())],
    )
    .await;
    assert_eq!(response.status(), 200);
    let resolved = get(&app, &format!("/api/v1/reports/{public_id}"), Some(&citizen)).await;
    let resolved: Value = resolved.json().await.unwrap();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["photos"][2]["source"], "department");
    assert_eq!(resolved["photos"][2]["number"], 3);
    assert_eq!(
        get(&app, &format!("/api/v1/reports/{public_id}/photos/3"), None)
            .await
            .status(),
        200
    );

    // Bad uploads: refused by field, and nothing of the report stored.
    let before = (
        count(&app, "SELECT COUNT(*) FROM reports").await,
        stored_files(&app).len(),
    );
    let submit = |files: Vec<(&'static str, &'static str, &'static str, Vec<u8>)>| {
        let app = &app;
        let citizen = citizen.clone();
        async move {
            post_form(
                app,
                "/api/v1/reports",
                Some(&citizen),
                &report("Pohon tumbang di jalan", "jalan-rusak", "public"),
                &files,
            )
            .await
        }
    };
    let html = b"<html><body><script>alert(document.cookie)</script></body></html>".to_vec();
    assert_eq!(
        field_of(submit(vec![("photos", "foto.jpg", "image/jpeg", html)]).await).await,
        (400, "photos[0]".into()),
        "a page named and declared as a JPEG"
    );
    let mut polyglot = camera.clone();
    polyglot.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00<script>alert(1)</script>");
    assert_eq!(
        field_of(
            submit(vec![
                ("photos", "ok.jpg", "image/jpeg", png()),
                ("photos", "p.jpg", "image/jpeg", polyglot)
            ])
            .await
        )
        .await,
        (400, "photos[1]".into()),
        "a JPEG with an archive after its end"
    );
    let six = (0..6).map(|_| ("photos", "f.png", "image/png", png())).collect();
    assert_eq!(field_of(submit(six).await).await, (400, "photos".into()));
    assert_eq!(
        field_of(submit(vec![("lampiran", "f.png", "image/png", png())]).await).await,
        (400, "lampiran".into())
    );
    let mut big = camera.clone();
    big.resize(300 * 1024, 0);
    assert_eq!(
        field_of(submit(vec![("photos", "besar.jpg", "image/jpeg", big)]).await).await,
        (400, "photos[0]".into()),
        "larger than a photo may be"
    );
    let huge = vec![0u8; 2 * 1024 * 1024];
    let response = submit(vec![("photos", "huge.jpg", "image/jpeg", huge)]).await;
    assert_eq!(response.status(), 413, "larger than a whole form may be");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let response = post_form(
        &app,
        "/api/v1/reports",
        Some(&citizen),
        &json!({ "title": "x" }),
        &[("photos", "ok.png", "image/png", png())],
    )
    .await;
    assert_eq!(field_of(response).await.0, 400, "the form's data names its field too");
    assert_eq!(
        (
            count(&app, "SELECT COUNT(*) FROM reports").await,
            stored_files(&app).len()
        ),
        before,
        "nothing stored of a refused submission"
    );

    // A file no report names is swept once it is old enough; the reports' photos stay.
    let store = warga_reports::attachments::blobs(&app.platform).unwrap();
    let now = warga_core::time::Clock::now_ms(&app.clock);
    store.put("orphan-0123456789", b"sealed".to_vec(), now).await.unwrap();
    let age = warga_reports::attachments::ORPHAN_AGE_MS;
    assert_eq!(
        warga_reports::attachments::sweep(&app.platform, age).await.unwrap(),
        0,
        "too young"
    );
    app.clock.advance_ms(age + 3_600_000);
    assert_eq!(warga_reports::attachments::sweep(&app.platform, age).await.unwrap(), 1);
    assert_eq!(
        i64::try_from(stored_files(&app).len()).unwrap(),
        count(&app, "SELECT COUNT(*) FROM report_photos").await,
        "every report's photo kept, the orphan gone"
    );
}

#[tokio::test]
async fn photos_on_sqlite() {
    photos_of_reports(Engine::Sqlite).await;
}

#[tokio::test]
async fn photos_on_postgres() {
    photos_of_reports(Engine::Postgres).await;
}
