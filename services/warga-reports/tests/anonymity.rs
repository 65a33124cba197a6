//! The anonymity leak test (R-S2/S4): anonymous reports filed from a known account, with a
//! recognisable user agent, a NIK, a phone number, an e-mail address and the reporter's
//! name in the text and GPS in the photo. Then every row the submissions wrote (every table,
//! every column, compared with a dump taken before), the photo files, the logs (captured as
//! JSON, with their spans), the exported traces (every span with its attributes and events,
//! as an OpenTelemetry exporter receives them) and the metrics are searched for each of
//! those identifiers: no hits. A public report's request, for contrast, is attributed — so the capture is shown to
//! see what it should. On SQLite and on PostgreSQL.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use serde_json::json;
use warga_population::links::{self, LinkAsk, LinkDecision};
use warga_population::residents::{self, NewResident};
use warga_testkit::{Engine, TestApp, spawn_app};

/// Everything the process logs, as JSON lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every span exported, as an OpenTelemetry collector would receive it.
#[derive(Clone)]
struct Traces(opentelemetry_sdk::trace::InMemorySpanExporter);

impl Traces {
    /// The spans exported after the first `from`, each with its attributes and events.
    fn text(&self, from: usize) -> (usize, String) {
        let spans = self.0.get_finished_spans().unwrap();
        let text = spans[from.min(spans.len())..]
            .iter()
            .map(|span| format!("{span:?}"))
            .collect::<Vec<_>>()
            .join("\n");
        (spans.len(), text)
    }
}

async fn linked(app: &TestApp, subject: &str, nik: &str, name: &str) -> String {
    let resident: NewResident = serde_json::from_value(json!({
        "nik": nik, "full_name": name, "birth_place": "Jakarta", "birth_date": "1995-03-12", "sex": "male",
        "address": "Jl. Kebon Kacang Raya No. 5", "rt_rw": "003/007", "village": "3171071006", "district": "317107",
        "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
    }))
    .unwrap();
    residents::register(&app.platform, &resident, "user:capil")
        .await
        .unwrap();
    let ask = LinkAsk {
        nik: nik.into(),
        birth_date: "1995-03-12".into(),
    };
    let request = links::ask(&app.platform, subject, subject, &ask).await.unwrap();
    let decision = LinkDecision {
        approve: true,
        reason: None,
    };
    links::decide(&app.platform, &request, &decision, "user:capil")
        .await
        .unwrap();
    app.token(subject, &["citizen"]).await
}

/// Every row of every table, one line each (`table|col1|col2…`), as text.
async fn dump(app: &TestApp) -> std::collections::BTreeSet<String> {
    use sqlx::Row;
    let reader = app.platform.store.reader();
    let postgres = app.platform.config.database.url.is_some()
        || reader.connect_options().database_url.as_str().starts_with("postgres");
    let tables: Vec<String> = if postgres {
        sqlx::query("SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
    } else {
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }
    .fetch_all(reader)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut lines = std::collections::BTreeSet::new();
    for table in tables {
        let columns: Vec<String> = if postgres {
            sqlx::query("SELECT CAST(column_name AS TEXT) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1")
                .bind(&table)
        } else {
            sqlx::query("SELECT name FROM pragma_table_info($1)").bind(&table)
        }
        .fetch_all(reader)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
        // Binary columns as hex (searched for below as well).
        let text = columns
            .iter()
            .map(|c| {
                if postgres {
                    format!("COALESCE(CAST(\"{c}\" AS TEXT), '')")
                } else {
                    format!("COALESCE(CASE WHEN typeof(\"{c}\") = 'blob' THEN hex(\"{c}\") ELSE CAST(\"{c}\" AS TEXT) END, '')")
                }
            })
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        for row in sqlx::query(&format!("SELECT {text} FROM \"{table}\""))
            .fetch_all(reader)
            .await
            .unwrap()
        {
            lines.insert(format!("{table}|{}", row.get::<String, _>(0)));
        }
    }
    lines
}

/// A JPEG whose EXIF carries a GPS marker.
fn photo_with_gps() -> Vec<u8> {
    let pixels = image::RgbImage::from_pixel(32, 24, image::Rgb([120, 80, 40]));
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Jpeg)
        .unwrap();
    let app1 = b"Exif\0\0GPSLatitude -6.1862 GPS-LEAK-MARKER-5511".to_vec();
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend_from_slice(&[0xFF, 0xE1]);
    jpeg.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    jpeg.extend_from_slice(&app1);
    jpeg.extend_from_slice(&plain[2..]);
    jpeg
}

/// Files under `dir`, recursively, as bytes.
fn files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files(&path));
            } else {
                out.push(std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

const AGENT: &str = "LeakProbe/4.2 (Android 14; Pixel-Rahasia-7731)";
const ANONYMOUS: &str = "citizen-anonymous-9c2e";

async fn leak_test(engine: Engine, captured: &Captured, traces: &Traces) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let public = linked(&app, "citizen-public-7f3a", "3171071203950005", "Budi Santoso").await;
    let anonymous = linked(&app, ANONYMOUS, "3171071203950013", "Agus Wijaya").await;
    let body = |title: &str, description: &str| {
        json!({"title": title, "description": description, "category": "jalan-rusak",
               "latitude": -6.19, "longitude": 106.81, "district": "317107", "visibility": "public"})
    };
    let filed = app
        .client
        .post(format!("{}/api/v1/reports", app.url))
        .bearer_auth(&public)
        .json(&body(
            "Jalan berlubang terbuka",
            "Lubang besar di tengah jalan, berbahaya.",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    app.settled().await;
    let before = dump(&app).await;
    let log_mark = captured.text().len();
    let (trace_mark, _) = traces.text(0);

    // Two anonymous reports: JSON, and multipart with a photo carrying GPS.
    let text = "Saya Agus Wijaya (NIK 3171071203950013, HP 0812-3456-7890 atau +62 812 3456 7890, \
                surel agus.wijaya@contoh.co.id) melihat pungutan liar di jembatan.";
    let filed = app
        .client
        .post(format!("{}/api/v1/reports/anonymous", app.url))
        .bearer_auth(&anonymous)
        .header("user-agent", AGENT)
        .header("x-forwarded-for", "203.0.113.77")
        .json(&body("Pungutan liar oleh Agus Wijaya", text))
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    let (content_type, form) = {
        let boundary = "leak-test-boundary";
        let mut form = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"photos\"; filename=\"IMG_Agus_Wijaya.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n",
            body("Jembatan retak dekat rumah Agus", text)
        )
        .into_bytes();
        form.extend_from_slice(&photo_with_gps());
        form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), form)
    };
    let filed = app
        .client
        .post(format!("{}/api/v1/reports/anonymous", app.url))
        .bearer_auth(&anonymous)
        .header("user-agent", AGENT)
        .header("content-type", content_type)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    let receipt: serde_json::Value = filed.json().await.unwrap();
    let report_id = receipt["report"]["id"].as_str().unwrap().to_owned();
    // Every time the submissions wrote — the reports and their timelines, the outbox and
    // its bookkeeping, the consumers' rows — is a whole hour, and so dates nothing finer.
    app.settled().await;
    let submitted: Vec<String> = dump(&app).await.difference(&before).cloned().collect();
    // Deadlines are counted from the hour (to the end of a working day, a warning at a
    // share of the time), so they are not whole hours themselves: they are checked to be
    // the same for both reports, filed at different moments of the same hour.
    let ids: Vec<&str> = submitted
        .iter()
        .filter(|line| line.starts_with("outbox|"))
        .filter_map(|line| line.split("\"report_id\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(ids.len(), 2);
    let timers_of = |id: &str| -> std::collections::BTreeSet<String> {
        submitted
            .iter()
            .filter(|line| line.starts_with("report_timers|") && line.contains(id))
            .map(|line| line.replace(id, ""))
            .collect()
    };
    assert_eq!(timers_of(ids[0]).len(), 4);
    assert_eq!(timers_of(ids[0]), timers_of(ids[1]), "deadlines from the hour alone");
    let exact: Vec<&String> = submitted
        .iter()
        .filter(|line| !line.starts_with("report_timers|"))
        .filter(|line| {
            line.split('|').any(|field| {
                field
                    .parse::<i64>()
                    .is_ok_and(|ms| (1_500_000_000_000..2_500_000_000_000).contains(&ms) && ms % 3_600_000 != 0)
            })
        })
        .collect();
    assert!(exact.is_empty(), "times finer than the hour: {exact:#?}");
    // The department acts on it, so the consumers write too.
    let pu = {
        let claims = warga_auth::AccessClaims {
            roles: vec!["officer".into()],
            department: Some("dinas-pu".into()),
            officer_level: Some("staff".into()),
            ..warga_auth::AccessClaims::new("officer-pu", &app.platform.config.identity.audience)
        };
        app.token_with(claims).await
    };
    let acted = app
        .client
        .post(format!("{}/api/v1/reports/{report_id}/triage", app.url))
        .bearer_auth(&pu)
        .json(&json!({"action": "acknowledge"}))
        .send()
        .await
        .unwrap();
    assert_eq!(acted.status(), 200);
    app.settled().await;

    let written: Vec<String> = dump(&app).await.difference(&before).cloned().collect();
    assert!(
        written.iter().any(|line| line.contains(&report_id)),
        "the dump sees the anonymous reports' rows"
    );
    assert!(
        written.iter().any(|line| line.starts_with("report_photos|")),
        "and the photo's row"
    );
    let logs = captured.text()[log_mark..].to_owned();
    assert!(
        logs.contains("/api/v1/reports/anonymous"),
        "the anonymous requests were logged"
    );
    let (_, traced) = traces.text(trace_mark);
    assert!(
        traced.contains("/api/v1/reports/anonymous"),
        "the anonymous requests were traced"
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let photo_files = files(&app.platform.config.data_dir.join("reports"));
    assert_eq!(photo_files.len(), 1, "the photo's sealed file");
    let identifiers = [
        ANONYMOUS,
        "3171071203950013",
        "Agus",
        "Wijaya",
        "0812-3456-7890",
        "812 3456 7890",
        "81234567890",
        "agus.wijaya",
        "contoh.co.id",
        "LeakProbe",
        "Pixel-Rahasia",
        "203.0.113.77",
        "GPS-LEAK-MARKER",
    ];
    for identifier in identifiers {
        let hex: String = identifier.bytes().map(|b| format!("{b:02x}")).collect();
        let rows: Vec<&String> = written
            .iter()
            .filter(|line| line.contains(identifier) || line.to_ascii_lowercase().contains(&hex))
            .collect();
        assert!(rows.is_empty(), "{identifier:?} was stored: {rows:#?}");
        assert!(!logs.contains(identifier), "{identifier:?} reached the logs");
        assert!(!traced.contains(identifier), "{identifier:?} reached the traces");
        assert!(!metrics.contains(identifier), "{identifier:?} reached the metrics");
        for file in &photo_files {
            assert!(
                !file.windows(identifier.len()).any(|w| w == identifier.as_bytes()),
                "{identifier:?} is in a photo file"
            );
        }
    }
    // The anonymous reports' times are hours, everywhere they were written.
    assert!(
        written
            .iter()
            .filter(|line| line.starts_with("reports|") && line.contains("|anonymous|"))
            .count()
            == 2
    );
}

#[tokio::test]
async fn anonymous_reports_leave_no_trace_of_their_reporter() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Logs as JSON and spans to an in-memory exporter, set before the test kit's own
    // subscriber (which then stays out of the way).
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let traces = Traces(exporter);
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("warga")))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(move || writer.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
        )
        .init();
    leak_test(Engine::Sqlite, &captured, &traces).await;
    leak_test(Engine::Postgres, &captured, &traces).await;
    let logs = captured.text();
    assert!(
        logs.contains("citizen-public-7f3a"),
        "the capture sees a public report's subject"
    );
    assert!(traces.text(0).1.contains("citizen-public-7f3a"), "so do the traces");
}
