//! The ledger's web gateway on the embedded network of `warga up`: officers transact over
//! HTTPS under identities enrolled for them at their organisation's CA on first use, read
//! blocks, transactions and history, follow events resumably — and are refused with
//! problem documents that name what failed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row;
use warga_testkit::{Engine, TestApp, spawn_up};

const NIK: &str = "3578010101900001";
const OTHER_NIK: &str = "3578010101900002";

async fn member_token(app: &TestApp, subject: &str, msp_id: &str, facility: Option<&str>) -> String {
    let claims = warga_auth::AccessClaims {
        roles: vec!["ledger_member".into()],
        msp_id: Some(msp_id.into()),
        facility: facility.map(str::to_owned),
        ..warga_auth::AccessClaims::new(subject, &app.platform.config.identity.audience)
    };
    app.token_with(claims).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}{path}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Registers a resident of Karang Pilang, Surabaya, with `nik` (born 1 January 1990, male);
/// their id.
async fn register(app: &TestApp, nik: &str) -> String {
    let new: warga_population::ktp::NewResident = serde_json::from_value(json!({
        "nik": nik, "full_name": "Budi Santoso", "birth_place": "Surabaya", "birth_date": "1990-01-01",
        "sex": "male", "address": "Jl. Mastrip No. 1", "rt_rw": "001/002", "village": "3578011001",
        "district": "357801", "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
    }))
    .unwrap();
    warga_population::residents::register(&app.platform, &new, "system")
        .await
        .unwrap()
        .id
}

fn today() -> String {
    let date = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// Server-sent events of `path` (a `Last-Event-ID` when given) until a `block` event with
/// id `last`: each as (event, id, data).
async fn read_events(
    app: &TestApp,
    token: &str,
    path: &str,
    resume: Option<u64>,
    last: u64,
) -> Vec<(String, String, Value)> {
    let mut request = app.client.get(format!("{}{path}", app.url)).bearer_auth(token);
    if let Some(resume) = resume {
        request = request.header("last-event-id", resume.to_string());
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let chunk = response.chunk().await.unwrap().expect("the stream stays open");
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let message: String = buffer.drain(..end + 2).collect();
                let (mut kind, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in message.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if kind.is_empty() {
                    continue; // a keep-alive comment
                }
                let done = kind == "block" && id == last.to_string();
                events.push((kind, id, serde_json::from_str(&data).unwrap()));
                if done {
                    return;
                }
            }
        }
    })
    .await
    .expect("the events up to the last block arrive");
    events
}

async fn officers_transact_under_their_own_identities(engine: Engine) {
    let Some(mut app) = spawn_up(engine, |_| {}).await else {
        return;
    };
    register(&app, NIK).await;
    register(&app, OTHER_NIK).await;
    let bpjs = member_token(&app, "bpjs-officer-1", "BPJSMSP", None).await;
    let puskesmas = member_token(&app, "bidan-sari", "PuskesmasMSP", Some("P3578010")).await;

    // A BPJS officer's first transaction enrols them, then commits.
    let (status, issued) = post(
        &app,
        &bpjs,
        "/api/v1/ledger/transactions",
        json!({ "function": "IssueCard", "args": [NIK, "1", "2030-12-31"] }),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["code"], "VALID");
    assert_eq!(issued["result"]["nik"], NIK);
    let tx_id = issued["tx_id"].as_str().unwrap().to_owned();
    let issue_block = issued["block"].as_u64().unwrap();
    // The registry's attestation, which the gateway added, is the transaction's fourth
    // argument; one a caller makes up is refused by the contract on every endorser.
    let (status, forged) = post(
        &app,
        &bpjs,
        "/api/v1/ledger/transactions",
        json!({ "function": "IssueCard", "args": [OTHER_NIK, "1", "2030-12-31", "e30.e30.AAAA"] }),
    )
    .await;
    assert_eq!(status, 403, "{forged}");
    assert!(forged["detail"].as_str().unwrap().contains("attestation"), "{forged}");

    // The identity: enrolled once, at BPJS's CA, with the role and organisation in it; its
    // key sealed (no PEM key anywhere in the database).
    let row = sqlx::query(
        "SELECT enrollment_id, certificate, attributes, key_ref FROM ledger_identities WHERE subject = $1 AND msp_id = $2",
    )
    .bind("bpjs-officer-1")
    .bind("BPJSMSP")
    .fetch_one(app.db.store.reader())
    .await
    .unwrap();
    let enrollment_id: String = row.get(0);
    assert_eq!(enrollment_id, "warga-bpjs-officer-1");
    let certificate_pem: String = row.get(1);
    let attributes: Value = serde_json::from_str(&row.get::<String, _>(2)).unwrap();
    assert_eq!(attributes, json!({ "role": "ledger_member", "org": "BPJSMSP" }));
    let key_ref: String = row.get(3);
    let sealed: String = sqlx::query("SELECT sealed FROM ledger_keys WHERE id = $1")
        .bind(&key_ref)
        .fetch_one(app.db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.contains("PRIVATE KEY"));

    // The committed transaction's creator is exactly that certificate, valid in BPJS's MSP
    // with the attributes the CA wrote.
    let ledger = app.running.as_ref().unwrap().ledger.as_ref().unwrap();
    let wire = ledger
        .client("BPJSMSP", "User1")
        .unwrap()
        .block(issue_block)
        .await
        .unwrap();
    let block = warga_ledger_core::block::Block::try_from(wire).unwrap();
    let tx = block
        .data
        .transactions()
        .iter()
        .find(|t| t.proposal.tx_id == tx_id)
        .expect("the transaction is in its block");
    let certificate_der = warga_ledger_msp::certificate_pem_to_der(certificate_pem.as_bytes()).unwrap();
    assert_eq!(tx.proposal.creator.certificate, certificate_der);
    let now_s = warga_core::time::now_ms() / 1000;
    let msps = warga_ledger_msp::generate::load_msps(&ledger.network, &ledger.crypto, now_s).unwrap();
    let identity = msps.identity_at(&tx.proposal.creator, now_s).unwrap();
    assert_eq!(identity.common_name, "warga-bpjs-officer-1");
    assert_eq!(identity.attributes.get("org").map(String::as_str), Some("BPJSMSP"));
    let attestation = warga_ledger_core::attestation::RegistryKey::verify(
        &warga_ledger_msp::attestor::registry_key(&ledger.crypto).unwrap(),
        &tx.proposal.args[3],
    )
    .unwrap();
    assert_eq!((attestation.sub.as_str(), attestation.status.as_str()), (NIK, "alive"));

    // A second transaction signs with the same identity: no second enrolment.
    let (status, body) = post(
        &app,
        &bpjs,
        "/api/v1/ledger/transactions",
        json!({ "function": "IssueCard", "args": [OTHER_NIK, "2", "2030-12-31"] }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let keys: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_keys WHERE owner = $1")
        .bind("bpjs-officer-1")
        .fetch_one(app.db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 1);

    // Each signature is in the audit log: proposal and transaction, twice
    let audit = |action: &'static str| {
        let store = app.db.store.clone();
        async move {
            sqlx::query("SELECT COUNT(*) FROM audit_log WHERE actor = $1 AND action = $2")
                .bind("user:bpjs-officer-1")
                .bind(action)
                .fetch_one(store.reader())
                .await
                .unwrap()
                .get::<i64, _>(0)
        }
    };
    assert_eq!(audit("ledger.identity.enrol").await, 1);
    // (and the refused one's proposal, signed before the contract refused it).
    assert_eq!(audit("ledger.sign").await, 5);

    // A facility's officer: the facility from their account is in their certificate, and the
    // contract records the visit for it.
    let (status, card) = post(
        &app,
        &puskesmas,
        "/api/v1/ledger/evaluate",
        json!({ "function": "VerifyCard", "args": [NIK] }),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["result"]["status"], "active");
    let (status, visit) = post(
        &app,
        &puskesmas,
        "/api/v1/ledger/transactions",
        json!({ "function": "RecordVisit", "args": ["v-web-1", NIK, today(), "J06.9"] }),
    )
    .await;
    assert_eq!(
        status, 400,
        "a diagnosis in the arguments would be on the chain: {visit}"
    );
    assert!(visit["detail"].as_str().unwrap().contains("transient"), "{visit}");
    let (status, visit) = post(
        &app,
        &puskesmas,
        "/api/v1/ledger/transactions",
        json!({ "function": "RecordVisit", "args": ["v-web-1", NIK, today()],
                "transient": { "clinical": { "diagnosis": "J06.9", "notes": "demam dua hari" } } }),
    )
    .await;
    assert_eq!(status, 201, "{visit}");
    assert_eq!(visit["result"]["facility"], "P3578010");
    assert!(
        !visit.to_string().contains("demam"),
        "the notes are not in the answer: {visit}"
    );
    // The facility reads its visit's private clinical details back (a salt was added).
    let (status, clinical) = post(
        &app,
        &puskesmas,
        "/api/v1/ledger/evaluate",
        json!({ "function": "GetVisitClinical", "args": ["v-web-1"] }),
    )
    .await;
    assert_eq!(status, 200, "{clinical}");
    assert_eq!(clinical["result"]["notes"], "demam dua hari");
    // A hospital officer — a member of the channel, not of the Puskesmas collection — is
    // refused the clinical details; the hash is open to every member.
    let hospital = member_token(&app, "dokter-rs", "RumahSakitMSP", Some("R3578001")).await;
    let (status, refused) = post(
        &app,
        &hospital,
        "/api/v1/ledger/evaluate",
        json!({ "function": "GetVisitClinical", "args": ["v-web-1"] }),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["type"], "urn:warga:problem:ledger-refused");
    let (status, hash) = post(
        &app,
        &hospital,
        "/api/v1/ledger/evaluate",
        json!({ "function": "GetVisitClinicalHash", "args": ["v-web-1"] }),
    )
    .await;
    assert_eq!(status, 200, "{hash}");
    assert_eq!(hash["result"]["sha256"].as_str().map(str::len), Some(64));
    let (status, transaction) = get(
        &app,
        &puskesmas,
        &format!("/api/v1/ledger/transactions/{}/block", visit["tx_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 200, "{transaction}");
    assert!(
        !transaction.to_string().contains("demam"),
        "nothing clinical on the chain"
    );

    let (status, referral) = post(
        &app,
        &puskesmas,
        "/api/v1/ledger/transactions",
        json!({ "function": "CreateReferral", "args": ["r-web-1", NIK, "R3578001", "apendisitis"] }),
    )
    .await;
    assert_eq!(status, 201, "{referral}");
    let last_block = referral["block"].as_u64().unwrap();

    // The patient, whose account is linked to their resident record, sees their own card,
    // visits and referrals; an unlinked citizen sees nothing, an officer is not a patient.
    let ask = warga_population::links::LinkAsk {
        nik: NIK.into(),
        birth_date: "1990-01-01".into(),
    };
    let request = warga_population::links::ask(&app.platform, "citizen-budi", "budi", &ask)
        .await
        .unwrap();
    let approve = warga_population::links::LinkDecision {
        approve: true,
        reason: None,
    };
    warga_population::links::decide(&app.platform, &request, &approve, "user:registrar")
        .await
        .unwrap();
    let budi = app.token("citizen-budi", &["citizen"]).await;
    let (status, mine) = get(&app, &budi, "/api/v1/ledger/me").await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["card"]["status"], "active");
    assert_eq!(mine["card"]["nik"], NIK);
    assert_eq!(mine["visits"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["visits"][0]["visit_id"], "v-web-1");
    assert_eq!(mine["referrals"][0]["referral_id"], "r-web-1");
    let stranger = app.token("citizen-other", &["citizen"]).await;
    let (status, body) = get(&app, &stranger, "/api/v1/ledger/me").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = get(&app, &bpjs, "/api/v1/ledger/me").await;
    assert_eq!(status, 403);

    // Reads.
    let (status, tx_status) = get(&app, &bpjs, &format!("/api/v1/ledger/transactions/{tx_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(tx_status["valid"], true);
    assert_eq!(tx_status["block"], issue_block);
    let (status, its_block) = get(&app, &bpjs, &format!("/api/v1/ledger/transactions/{tx_id}/block")).await;
    assert_eq!(status, 200);
    assert_eq!(its_block["number"], issue_block);
    let listed = its_block["transactions"].as_array().unwrap();
    let mine = listed.iter().find(|t| t["tx_id"] == tx_id.as_str()).unwrap();
    assert_eq!(mine["code"], "VALID");
    assert_eq!(mine["creator"], "BPJSMSP");
    let (status, by_number) = get(&app, &puskesmas, &format!("/api/v1/ledger/blocks/{issue_block}")).await;
    assert_eq!(status, 200);
    assert_eq!(by_number["hash"], its_block["hash"]);
    let (status, channel) = get(&app, &bpjs, "/api/v1/ledger/channel").await;
    assert_eq!(status, 200);
    assert_eq!(channel["channel"], "bpjs-main");
    assert!(channel["height"].as_u64().unwrap() > last_block);
    let (status, history) = get(&app, &bpjs, &format!("/api/v1/ledger/history/card/{NIK}")).await;
    assert_eq!(status, 200);
    let changes = history["modifications"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["tx_id"], tx_id.as_str());
    assert_eq!(changes[0]["value"]["status"], "active");

    // An auditor of BPJS reads the same chain and history, and transacts nothing — not even
    // an evaluation, which would sign under an identity an auditor does not get.
    let auditor = {
        let claims = warga_auth::AccessClaims {
            roles: vec!["ledger_auditor".into()],
            msp_id: Some("BPJSMSP".into()),
            ..warga_auth::AccessClaims::new("auditor-bpjs", &app.platform.config.identity.audience)
        };
        app.token_with(claims).await
    };
    let (status, audited) = get(&app, &auditor, &format!("/api/v1/ledger/history/card/{NIK}")).await;
    assert_eq!(status, 200, "{audited}");
    assert_eq!(audited, history);
    let (status, block) = get(&app, &auditor, &format!("/api/v1/ledger/blocks/{issue_block}")).await;
    assert_eq!(status, 200, "{block}");
    assert_eq!(block["hash"], its_block["hash"]);
    for (path, body) in [
        (
            "/api/v1/ledger/transactions",
            json!({ "function": "IssueCard", "args": [OTHER_NIK, "1", "2030-12-31"] }),
        ),
        (
            "/api/v1/ledger/evaluate",
            json!({ "function": "VerifyCard", "args": [NIK] }),
        ),
    ] {
        let (status, refused) = post(&app, &auditor, path, body).await;
        assert_eq!(status, 403, "{path}: {refused}");
        assert!(refused["detail"].as_str().unwrap().contains("auditor"), "{refused}");
    }

    // Events from the start: the card's chaincode event comes before its block's event.
    let events = read_events(&app, &bpjs, "/api/v1/ledger/events?from=0", None, last_block).await;
    let position = |kind: &str, matches: &dyn Fn(&Value) -> bool| {
        events
            .iter()
            .position(|(k, _, data)| k == kind && matches(data))
            .unwrap_or_else(|| panic!("no {kind} event as expected in {events:?}"))
    };
    let issued_event = position("chaincode", &|d| {
        d["name"] == "CardIssued" && d["payload"]["nik"] == NIK
    });
    let issued_block = position("block", &|d| d["block"] == issue_block);
    assert!(issued_event < issued_block);
    assert_eq!(events[issued_block].1, issue_block.to_string());
    assert_eq!(events[issued_event].2["tx_id"], tx_id.as_str());
    // Resumed after the card's block: the next block comes first, nothing before it.
    let resumed = read_events(&app, &bpjs, "/api/v1/ledger/events", Some(issue_block), last_block).await;
    let first_block = resumed.iter().find(|(k, _, _)| k == "block").unwrap();
    assert_eq!(first_block.1, (issue_block + 1).to_string());
    assert!(
        resumed
            .iter()
            .all(|(_, _, d)| d["block"].as_u64().unwrap() > issue_block)
    );

    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_transact_under_their_own_identities_sqlite() {
    officers_transact_under_their_own_identities(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officers_transact_under_their_own_identities_postgres() {
    officers_transact_under_their_own_identities(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_problems_that_name_what_failed() {
    let Some(mut app) = spawn_up(Engine::Sqlite, |_| {}).await else {
        return;
    };
    register(&app, NIK).await;
    let bpjs = member_token(&app, "bpjs-officer-2", "BPJSMSP", None).await;
    let puskesmas = member_token(&app, "perawat-budi", "PuskesmasMSP", None).await;
    let stranger = member_token(&app, "someone", "NoSuchMSP", None).await;
    let citizen = app.token("citizen-1", &["citizen"]).await;
    let problem_type = |body: &Value| body["type"].as_str().unwrap_or_default().to_owned();

    // Who may not: decided before the body is read (a broken body still gets 403).
    for token in [&citizen, &stranger] {
        let response = app
            .client
            .post(format!("{}/api/v1/ledger/transactions", app.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let (status, _) = get(&app, token, "/api/v1/ledger/channel").await;
        assert_eq!(status, 403);
    }
    let unauthenticated = app.get("/api/v1/ledger/channel").await;
    assert_eq!(unauthenticated.status(), 401);

    // Bad requests name their field.
    let (status, body) = post(
        &app,
        &bpjs,
        "/api/v1/ledger/transactions",
        json!({ "function": "Issue Card", "args": [] }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "function");
    let (status, body) = post(
        &app,
        &bpjs,
        "/api/v1/ledger/transactions",
        json!({ "function": "IssueCard", "args": [NIK], "extra": 1 }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(&app, &bpjs, "/api/v1/ledger/transactions/abc").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "tx_id");
    let (status, _) = get(&app, &bpjs, &format!("/api/v1/ledger/transactions/{}", "0".repeat(64))).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &bpjs, "/api/v1/ledger/blocks/999999").await;
    assert_eq!(status, 404);
    let (status, body) = get(&app, &bpjs, "/api/v1/ledger/blocks/minus-one").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "number");

    // The contract's refusals, by kind, with its reason.
    let issue = |nik: &str, class: &str| json!({ "function": "IssueCard", "args": [nik, class, "2030-12-31"] });
    let (status, body) = post(&app, &bpjs, "/api/v1/ledger/transactions", issue(NIK, "7")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(problem_type(&body), "urn:warga:problem:ledger-refused");
    assert!(body["detail"].as_str().unwrap().contains("class"), "{body}");
    let (status, body) = post(&app, &puskesmas, "/api/v1/ledger/transactions", issue(NIK, "1")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(problem_type(&body), "urn:warga:problem:ledger-refused");
    let (status, body) = post(&app, &bpjs, "/api/v1/ledger/transactions", issue(NIK, "1")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(&app, &bpjs, "/api/v1/ledger/transactions", issue(NIK, "1")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(problem_type(&body), "urn:warga:problem:ledger-refused");
    // A facility's officer whose account names no facility: the contract says so.
    let (status, body) = post(
        &app,
        &puskesmas,
        "/api/v1/ledger/transactions",
        json!({ "function": "RecordVisit", "args": ["v-1", NIK, today()],
                "transient": { "clinical": { "diagnosis": "J06.9" } } }),
    )
    .await;
    assert!(status == 400 || status == 403, "{status} {body}");
    assert!(body["detail"].as_str().unwrap().contains("facility"), "{body}");

    // In Bahasa Indonesia by default, English on request.
    let english = app
        .client
        .post(format!("{}/api/v1/ledger/transactions", app.url))
        .bearer_auth(&bpjs)
        .header("accept-language", "en")
        .json(&issue(NIK, "1"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(english["title"], "The ledger refused the transaction");
    assert_eq!(body_title(&app, &bpjs).await, "Ledger menolak transaksi");

    app.shutdown().await;
}

async fn body_title(app: &TestApp, token: &str) -> String {
    let (_, body) = post(
        app,
        token,
        "/api/v1/ledger/transactions",
        json!({ "function": "IssueCard", "args": [NIK, "1", "2030-12-31"] }),
    )
    .await;
    body["title"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_loses_its_ledger_identity() {
    let Some(mut app) = spawn_up(Engine::Sqlite, |_| {}).await else {
        return;
    };
    register(&app, NIK).await;
    register(&app, OTHER_NIK).await;
    // A real account: an officer of BPJS with the ledger role.
    let mut tx = app.platform.store.begin().await.unwrap();
    let account = warga_identity::accounts::create(
        &mut tx,
        warga_identity::accounts::NewAccount {
            username: "bpjs.budi".into(),
            display_name: "Budi (BPJS)".into(),
            password: "Kopi-Tubruk-Pagi-Hari".into(),
            roles: [warga_core::identity::Role::LedgerMember].into_iter().collect(),
            msp_id: Some("BPJSMSP".into()),
            ..Default::default()
        },
        "system",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let token = member_token(&app, &account.id, "BPJSMSP", None).await;
    let (status, body) = post(
        &app,
        &token,
        "/api/v1/ledger/transactions",
        json!({ "function": "IssueCard", "args": [NIK, "3", "2030-12-31"] }),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // Disabled by an administrator: the consumer revokes the identity at BPJS's CA.
    let mut tx = app.platform.store.begin().await.unwrap();
    warga_identity::accounts::disable(&mut tx, &account.id, "user:admin")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.settled().await;
    let status: String = sqlx::query("SELECT status FROM ledger_identities WHERE subject = $1")
        .bind(&account.id)
        .fetch_one(app.db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "revoked");
    let ledger = app.running.as_ref().unwrap().ledger.as_ref().unwrap();
    let state: Value = serde_json::from_slice(
        &std::fs::read(
            warga_ledger_msp::generate::organization_dir(&ledger.crypto, false, "bpjs.warga.local")
                .join("ca/state.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let enrollment_id = format!("warga-{}", account.id);
    let serials: Vec<&Value> = state["issued"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["enrollment_id"] == enrollment_id.as_str())
        .map(|i| &i["serial"])
        .collect();
    assert_eq!(serials.len(), 1);
    assert!(
        state["revoked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| &r["serial"] == serials[0]),
        "the CA lists the certificate as revoked: {state}"
    );

    // Even a token still in hand signs nothing more.
    let (status, body) = post(
        &app,
        &token,
        "/api/v1/ledger/transactions",
        json!({ "function": "IssueCard", "args": [OTHER_NIK, "3", "2030-12-31"] }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("dicabut"), "{body}");

    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_vouches_for_patients_and_a_death_suspends_the_card_once() {
    let Some(mut app) = spawn_up(Engine::Sqlite, |_| {}).await else {
        return;
    };
    let bpjs = member_token(&app, "bpjs-officer-3", "BPJSMSP", None).await;
    let issue = |nik: &str| json!({ "function": "IssueCard", "args": [nik, "2", "2030-12-31"] });

    // No card for a NIK the registry does not know.
    let (status, body) = post(&app, &bpjs, "/api/v1/ledger/transactions", issue(NIK)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "urn:warga:problem:not-a-resident");
    assert_eq!(body["field"], "args[0]");
    assert_eq!(body["title"], "NIK tidak terdaftar sebagai penduduk");

    // Registered: the card is issued.
    let resident = register(&app, NIK).await;
    let (status, body) = post(&app, &bpjs, "/api/v1/ledger/transactions", issue(NIK)).await;
    assert_eq!(status, 201, "{body}");

    // The registry records the death: the card is suspended through the bus.
    warga_population::residents::record_death(&app.platform, &resident, "system")
        .await
        .unwrap();
    app.settled().await;
    let verify = || async {
        let (status, card) = post(
            &app,
            &bpjs,
            "/api/v1/ledger/evaluate",
            json!({ "function": "VerifyCard", "args": [NIK] }),
        )
        .await;
        assert_eq!(status, 200, "{card}");
        card["result"]["status"].as_str().unwrap_or_default().to_owned()
    };
    warga_testkit::wait_for("the card suspended", Duration::from_secs(30), || async {
        verify().await == "suspended"
    })
    .await;
    // The job marks its row once the ledger answered, a moment after the commit the read saw.
    let marked = || async {
        sqlx::query("SELECT status FROM ledger_card_suspensions WHERE resident_id = $1")
            .bind(&resident)
            .fetch_one(app.db.store.reader())
            .await
            .unwrap()
            .get::<String, _>(0)
            != "pending"
    };
    warga_testkit::wait_for("the suspension marked", Duration::from_secs(30), marked).await;
    let row = sqlx::query("SELECT status, outcome, tx_id FROM ledger_card_suspensions WHERE resident_id = $1")
        .bind(&resident)
        .fetch_one(app.db.store.reader())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "done");
    assert_eq!(row.get::<String, _>(1), "suspended");
    let tx_id: String = row.get(2);
    let (_, history) = get(&app, &bpjs, &format!("/api/v1/ledger/history/card/{NIK}")).await;
    let changes = history["modifications"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{history}");
    assert_eq!(changes[1]["tx_id"], tx_id.as_str());
    assert_eq!(changes[1]["value"]["reason"], warga_ledger::vouch::DEATH_REASON);

    // A replay — as after a crash between the ledger's commit and the row's mark — does
    // nothing twice: the contract refuses a second suspension and the row says so.
    sqlx::query("UPDATE ledger_card_suspensions SET status = 'pending' WHERE resident_id = $1")
        .bind(&resident)
        .execute(app.db.store.writer())
        .await
        .unwrap();
    let job = warga_ledger::vouch::CardSuspender::new(
        app.platform.clone(),
        warga_ledger::access::Gateway::new(&app.platform),
    );
    warga_http::Job::run(&job).await.unwrap();
    let outcome: String = sqlx::query("SELECT outcome FROM ledger_card_suspensions WHERE resident_id = $1")
        .bind(&resident)
        .fetch_one(app.db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, "already-suspended");
    let (_, history) = get(&app, &bpjs, &format!("/api/v1/ledger/history/card/{NIK}")).await;
    assert_eq!(history["modifications"].as_array().unwrap().len(), 2);

    // And no new card for someone the registry records as deceased.
    let (status, body) = post(&app, &bpjs, "/api/v1/ledger/transactions", issue(NIK)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "urn:warga:problem:resident-deceased");

    app.shutdown().await;
}

/// `warga serve --services …` without the embedded network: a second process of the same
/// deployment reaches the peers and CAs its `[ledger]` section names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_the_embedded_network_uses_the_peers_and_cas_it_is_configured_with() {
    let Some(mut app) = spawn_up(Engine::Sqlite, |_| {}).await else {
        return;
    };
    register(&app, NIK).await;
    let network = app
        .platform
        .config
        .section::<warga_ledger_node::settings::LedgerConfig>()
        .into_owned();
    assert!(network.crypto.is_some() && network.peers.len() == 3 && network.cas.len() == 3);
    let public_url = app.url.clone();
    let replica = warga_testkit::start_replica(&app, |config| {
        // One deployment, one public address (the tokens' issuer).
        config.http.public_url = Some(public_url);
        let ledger = config.section_mut::<warga_ledger_node::settings::LedgerConfig>();
        ledger.enabled = true;
        ledger.crypto = network.crypto.clone();
        ledger.peers = network.peers.clone();
        ledger.cas = network.cas.clone();
    })
    .await;
    assert!(replica.ledger.is_none(), "serve runs no ledger nodes");
    let url = format!("https://localhost:{}", replica.local_addr().port());
    let token = member_token(&app, "bpjs-remote", "BPJSMSP", None).await;
    let response = app
        .client
        .post(format!("{url}/api/v1/ledger/transactions"))
        .bearer_auth(&token)
        .json(&json!({ "function": "IssueCard", "args": [NIK, "1", "2030-12-31"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let channel: Value = app
        .client
        .get(format!("{url}/api/v1/ledger/channel"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(channel["channel"], "bpjs-main");
    replica.shutdown(Duration::from_secs(10)).await.unwrap();
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_issues_cards_to_its_residents() {
    let Some(app) = warga_testkit::spawn_up_demo(Engine::Sqlite).await else {
        return;
    };
    let bpjs = member_token(&app, "bpjs-demo-check", "BPJSMSP", None).await;
    for i in 0..warga_population::residents::DEMO_RESIDENTS.len() {
        let nik = warga_population::residents::demo_nik(i).unwrap();
        assert!(
            warga_population::residents::by_nik(&app.platform, &nik)
                .await
                .unwrap()
                .is_some(),
            "demo resident {nik} is registered"
        );
        let (status, card) = post(
            &app,
            &bpjs,
            "/api/v1/ledger/evaluate",
            json!({ "function": "VerifyCard", "args": [nik] }),
        )
        .await;
        assert_eq!(status, 200, "{card}");
        assert_eq!(card["result"]["status"], "active", "{card}");
    }
    // Seeding again changes nothing.
    warga_ledger::vouch::issue_demo_cards(&app.platform).await.unwrap();
    warga_population::residents::seed_demo_residents(&app.platform)
        .await
        .unwrap();
}
