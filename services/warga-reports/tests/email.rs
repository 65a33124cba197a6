//! Reporters' updates by e-mail (R4) on SQLite and PostgreSQL, through a real SMTP server
//! this test starts on its own port: `aiosmtpd` (PyPI) with its Maildir handler, run by
//! `WARGA_TEST_PYTHON` (or `python3`). A citizen gives an address; a status change of their
//! report arrives once, in Indonesian, with the event's id as its Message-ID; with the mail
//! server down the message waits, and after the server is back and the backoff has passed
//! it arrives, once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};
use warga_testkit::{Engine, port_for_child, spawn_app_with, wait_for};

mod support;
use support::*;

/// An aiosmtpd process delivering into a Maildir.
struct MailServer {
    python: String,
    port: u16,
    maildir: tempfile::TempDir,
    child: Option<Child>,
}

impl MailServer {
    async fn start(&mut self) {
        let child = Command::new(&self.python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A path that does not exist yet: the handler creates the Maildir there.
            .arg(self.maildir.path().join("mail"))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        let port = self.port;
        wait_for("the mail server to listen", Duration::from_secs(30), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The messages received, as text (quoted-printable lines joined again).
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap().replace("=\n", ""))
            .collect()
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn python() -> Option<String> {
    let python = std::env::var("WARGA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_aiosmtpd = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if has_aiosmtpd {
        return Some(python);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI=true and no aiosmtpd for {python}: the e-mail test cannot run"
    );
    eprintln!("skipped: no aiosmtpd (pip install aiosmtpd, or set WARGA_TEST_PYTHON)");
    None
}

async fn email(engine: Engine) {
    let Some(python) = python() else {
        return;
    };
    let mut server = MailServer {
        python,
        port: port_for_child(),
        maildir: tempfile::tempdir().unwrap(),
        child: None,
    };
    server.start().await;
    let smtp = format!("smtp://127.0.0.1:{}", server.port);
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], move |config| {
        let reports = config.section_mut::<warga_reports::config::ReportsConfig>();
        reports.webhook_poll_ms = 3_600_000;
        reports.email.smtp_url = Some(warga_config::Secret::new(smtp));
        reports.email.from = "JagaWarga Kota <jagawarga@pemkot.example.go.id>".into();
        reports.email.timeout_ms = 5_000;
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let job = warga_reports::deliveries::DeliveryJob::new(
        app.platform.clone(),
        "worker-a",
        warga_reports::channels(&app.platform).unwrap(),
    );
    let response = app
        .client
        .put(format!("{}/api/v1/reports/contact", app.url))
        .bearer_auth(&siti)
        .json(&json!({ "email": "siti.aminah@contoh.go.id" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM report_contacts WHERE email_sealed LIKE '%contoh%'"
        )
        .await,
        0,
        "the address is sealed"
    );

    let filed: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Drainase meluap di Jalan Anggrek", "saluran-tersumbat", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = filed["report"]["id"].as_str().unwrap().to_owned();
    triage(&app, &pu, &id, "acknowledge").await;
    app.settled().await;
    assert_eq!(job.deliver_due().await.unwrap(), 1);
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert!(message.contains("To: siti.aminah@contoh.go.id"), "{message}");
    assert!(message.contains("Subject: Pembaruan laporan JagaWarga"), "{message}");
    assert!(message.contains("sudah diverifikasi dinas"), "{message}");
    assert!(message.contains(&format!("/laporan/{id}")), "{message}");
    assert!(
        message.contains("@jagawarga>"),
        "a Message-ID from the event: {message}"
    );

    // The mail server down: the message waits, and arrives once it is back.
    server.stop();
    triage(&app, &pu, &id, "start").await;
    app.settled().await;
    assert_eq!(job.deliver_due().await.unwrap(), 0);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM report_webhook_deliveries WHERE channel = 'email' AND state = 'pending' \
             AND last_error IS NOT NULL"
        )
        .await,
        1
    );
    server.start().await;
    assert_eq!(job.deliver_due().await.unwrap(), 0, "not before its backoff");
    app.clock.advance_ms(2_000);
    assert_eq!(job.deliver_due().await.unwrap(), 1);
    assert_eq!(job.deliver_due().await.unwrap(), 0);
    let messages = server.messages();
    assert_eq!(messages.len(), 2, "each update once");
    assert_eq!(messages.iter().filter(|m| m.contains("sedang dikerjakan")).count(), 1);
}

#[tokio::test]
async fn email_on_sqlite() {
    email(Engine::Sqlite).await;
}

#[tokio::test]
async fn email_on_postgres() {
    email(Engine::Postgres).await;
}
