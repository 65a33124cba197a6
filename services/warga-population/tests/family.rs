//! Family cards (Kartu Keluarga) through HTTPS: a card made for registered residents, a
//! newborn and an incoming member added, a marriage splitting a member off, the whole family
//! moving with its letter, a head's death and a new head — each change counted once in the
//! household statistics, on SQLite and on PostgreSQL.

use warga_testkit as common;

use axum::Router;
use common::{Engine, TestApp, spawn_app};
use serde_json::{Value, json};

const TANAH_ABANG: &str = "3171071006";
const MENTENG: &str = "3171061001";
const BANDUNG_SUKARASA: &str = "3273011001";

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", app.url);
    let request = match method {
        "GET" => app.client.get(url),
        _ => app.client.post(url),
    };
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn person(nik: &str, name: &str, birth_date: &str, sex: &str, village: &str) -> Value {
    json!({
        "nik": nik, "full_name": name, "birth_place": "Jakarta", "birth_date": birth_date, "sex": sex,
        "address": if village == TANAH_ABANG { "Jl. Kebon Kacang Raya No. 5" } else { "Jl. Cikini Raya No. 12" },
        "rt_rw": "003/007", "village": village, "district": &village[..6],
        "religion": "Islam", "marital_status": "Kawin", "occupation": "Karyawan Swasta"
    })
}

async fn register(app: &TestApp, token: &str, body: Value) -> String {
    let (status, resident) = call(app, "POST", "/api/v1/population/residents", token, Some(body)).await;
    assert_eq!(status, 201, "{resident}");
    resident["id"].as_str().unwrap().to_owned()
}

fn member_ids(family: &Value, list: &str) -> Vec<String> {
    family[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["resident_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_family_card_lives_through_births_marriages_and_moves_sqlite() {
    a_family_card_lives_through_births_marriages_and_moves(Engine::Sqlite).await;
}

#[tokio::test]
async fn a_family_card_lives_through_births_marriages_and_moves_postgres() {
    a_family_card_lives_through_births_marriages_and_moves(Engine::Postgres).await;
}

async fn a_family_card_lives_through_births_marriages_and_moves(engine: Engine) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let registrar = app.token("registry-officer-1", &["registry_officer"]).await;
    let officer = app.token("officer-1", &["officer"]).await;
    let budi = register(
        &app,
        &registrar,
        person("3171071407850001", "Budi Santoso", "1985-07-14", "male", TANAH_ABANG),
    )
    .await;
    let siti = register(
        &app,
        &registrar,
        person("3171075203880002", "Siti Aminah", "1988-03-12", "female", TANAH_ABANG),
    )
    .await;
    let rina = register(
        &app,
        &registrar,
        person("3171076001980003", "Rina Santoso", "1998-01-20", "female", TANAH_ABANG),
    )
    .await;
    let sri = register(
        &app,
        &registrar,
        person("3171064109550004", "Sri Wahyuni", "1955-09-01", "female", MENTENG),
    )
    .await;
    let joko = register(
        &app,
        &registrar,
        person("3171070511960005", "Joko Prasetyo", "1996-11-05", "male", MENTENG),
    )
    .await;

    // A KK number is checked like a NIK: region and date of issue; refusals name the field,
    // titled in Bahasa Indonesia.
    let (status, problem) = call(
        &app,
        "POST",
        "/api/v1/population/families",
        &registrar,
        Some(json!({"kk_number": "3171075203150001", "head": budi})),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["type"], "urn:warga:problem:kk-issue-date");
    assert_eq!(problem["field"], "kk_number");
    assert_eq!(problem["title"], "Nomor KK tidak memuat tanggal terbit yang sah");
    assert_eq!(
        problem["detail"],
        "angka ke-7 sampai ke-12 bukan tanggal terbit (hhbbtt)"
    );
    let (status, problem) = call(
        &app,
        "POST",
        "/api/v1/population/families",
        &registrar,
        Some(json!({"head": budi, "members": [{"resident_id": siti, "relationship": "kepala_keluarga"}]})),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("members[0].relationship")),
        "{problem}"
    );
    // Only registry officers make cards.
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/population/families",
        &officer,
        Some(json!({"head": budi})),
    )
    .await;
    assert_eq!(status, 403);

    // The card: Budi heads it, Siti his wife, Rina their daughter; warga issues the number.
    let (status, card) = call(
        &app,
        "POST",
        "/api/v1/population/families",
        &registrar,
        Some(json!({"head": budi, "members": [
            {"resident_id": siti, "relationship": "istri"},
            {"resident_id": rina, "relationship": "anak"}
        ]})),
    )
    .await;
    assert_eq!(status, 201, "{card}");
    let family = card["id"].as_str().unwrap().to_owned();
    let number = card["kk_number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("317107") && number.ends_with("0001"), "{number}");
    warga_population::family::parse_number(&number, &warga_population::regions::REGIONS).unwrap();
    assert_eq!(card["head"], budi.as_str());
    assert_eq!(
        member_ids(&card, "members"),
        vec![budi.clone(), siti.clone(), rina.clone()]
    );
    assert_eq!(card["members"][1]["relationship"], "istri");
    assert_eq!(card["address"]["village"], TANAH_ABANG);
    // One card at a time.
    let (status, problem) = call(
        &app,
        "POST",
        "/api/v1/population/families",
        &registrar,
        Some(json!({"head": siti})),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(
        problem["detail"],
        "Siti Aminah sudah tercatat dalam KK lain: tambahkan sebagai anggota (keluar dari KK lama) atau pisahkan"
    );

    // A newborn is registered with the card in one step, at the card's address.
    let (status, card) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/members"),
        &registrar,
        Some(json!({"relationship": "anak", "reason": "kelahiran", "newborn": {
            "nik": "3171071005240006", "full_name": "Andi Santoso", "birth_place": "Jakarta",
            "birth_date": "2024-05-10", "sex": "male", "religion": "Islam"}})),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    let andi = card["members"][3]["resident_id"].as_str().unwrap().to_owned();
    assert_eq!(card["members"][3]["joined_reason"], "kelahiran");
    let (_, newborn) = call(
        &app,
        "GET",
        &format!("/api/v1/population/residents/{andi}?purpose=pelayanan+KK"),
        &registrar,
        None,
    )
    .await;
    assert_eq!(
        (newborn["village"].as_str(), newborn["marital_status"].as_str()),
        (Some(TANAH_ABANG), Some("Belum Kawin"))
    );
    // A newborn whose NIK is wrong registers nothing.
    let (status, problem) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/members"),
        &registrar,
        Some(json!({"relationship": "anak", "reason": "kelahiran", "newborn": {
            "nik": "3171071105240007", "full_name": "Ani Santoso", "birth_place": "Jakarta",
            "birth_date": "2024-05-10", "sex": "female", "religion": "Islam"}})),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("birth_date")),
        "{problem}"
    );

    // Siti's mother comes to live with them from Menteng: she moves to the card's address.
    let (status, card) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/members"),
        &registrar,
        Some(json!({"resident_id": sri, "relationship": "mertua", "reason": "pindah_datang"})),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["members"].as_array().unwrap().len(), 5);
    let (_, record) = call(
        &app,
        "GET",
        &format!("/api/v1/population/residents/{sri}?purpose=pelayanan+KK"),
        &registrar,
        None,
    )
    .await;
    assert_eq!(record["village"], TANAH_ABANG);
    assert_eq!(record["previous_addresses"][0]["village"], MENTENG);
    assert_eq!(record["families"][0]["family_id"], family.as_str());

    // A member of a shared card does not move alone.
    let (status, problem) = call(
        &app,
        "POST",
        &format!("/api/v1/population/residents/{siti}/move"),
        &registrar,
        Some(json!({"address": "Jl. Cikini Raya No. 1", "rt_rw": "001/001", "village": MENTENG, "district": "317106"})),
    )
    .await;
    assert_eq!(status, 409, "{problem}");

    // Rina marries Joko: she is split off to a card of her own in Menteng, and he joins it.
    let (status, problem) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/split"),
        &registrar,
        Some(json!({"members": [{"resident_id": rina, "relationship": "istri"}], "reason": "perkawinan"})),
    )
    .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("members")), "{problem}");
    let (status, rinas) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/split"),
        &registrar,
        Some(json!({"members": [{"resident_id": rina, "relationship": "kepala_keluarga"}], "reason": "perkawinan",
                    "address": {"address": "Jl. Cikini Raya No. 20", "rt_rw": "002/001", "village": MENTENG, "district": "317106"}})),
    )
    .await;
    assert_eq!(status, 201, "{rinas}");
    let rinas_family = rinas["id"].as_str().unwrap().to_owned();
    assert_ne!(rinas["kk_number"], number.as_str());
    assert!(rinas["kk_number"].as_str().unwrap().starts_with("317106"));
    let (status, rinas) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{rinas_family}/members"),
        &registrar,
        Some(json!({"resident_id": joko, "relationship": "suami", "reason": "perkawinan"})),
    )
    .await;
    assert_eq!(status, 200, "{rinas}");
    assert_eq!(member_ids(&rinas, "members"), vec![rina.clone(), joko.clone()]);
    let (_, record) = call(
        &app,
        "GET",
        &format!("/api/v1/population/residents/{rina}?purpose=pelayanan+KK"),
        &registrar,
        None,
    )
    .await;
    let memberships = record["families"].as_array().unwrap();
    assert_eq!(memberships.len(), 2, "the history is kept: {record}");
    assert_eq!(
        (
            memberships[0]["family_id"].as_str(),
            memberships[0]["relationship"].as_str()
        ),
        (Some(rinas_family.as_str()), Some("kepala_keluarga"))
    );
    assert_eq!(
        (
            memberships[1]["family_id"].as_str(),
            memberships[1]["left_reason"].as_str()
        ),
        (Some(family.as_str()), Some("perkawinan"))
    );

    // The rest of the family moves to Bandung together, with a letter of the move.
    let (status, problem) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/move"),
        &registrar,
        Some(json!({"to": {"address": "Jl. Setiabudi No. 7", "rt_rw": "004/002", "village": "3273011999", "district": "327301"},
                    "moved_on": "2026-11-30", "reason": "pekerjaan"})),
    )
    .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("to.village")),
        "{problem}"
    );
    let (status, letter) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/move"),
        &registrar,
        Some(json!({"to": {"address": "Jl. Setiabudi No. 7", "rt_rw": "004/002", "village": BANDUNG_SUKARASA, "district": "327301"},
                    "moved_on": "2026-11-30", "reason": "pekerjaan"})),
    )
    .await;
    assert_eq!(status, 201, "{letter}");
    assert!(
        letter["number"].as_str().unwrap().starts_with("SKPWNI/317107/"),
        "{letter}"
    );
    assert_eq!(letter["classification"], "antar_provinsi");
    assert_eq!(letter["head_name"], "Budi Santoso");
    assert_eq!(letter["kk_number"], number.as_str());
    assert_eq!(letter["members"].as_array().unwrap().len(), 4);
    assert_eq!(letter["from"]["village"], TANAH_ABANG);
    let (status, again) = call(
        &app,
        "GET",
        &format!(
            "/api/v1/population/families/{family}/moves/{}?purpose=pelayanan+pindah",
            letter["id"].as_str().unwrap()
        ),
        &registrar,
        None,
    )
    .await;
    assert_eq!((status, &again["number"]), (200, &letter["number"]));
    for member in [&budi, &siti, &andi, &sri] {
        let (_, record) = call(
            &app,
            "GET",
            &format!("/api/v1/population/residents/{member}?purpose=pelayanan+KK"),
            &registrar,
            None,
        )
        .await;
        assert_eq!(
            (record["village"].as_str(), record["province"].as_str()),
            (Some(BANDUNG_SUKARASA), Some("32"))
        );
    }

    // Budi dies: he leaves the card, which has no head until Siti is named.
    let (status, _) = call(
        &app,
        "POST",
        &format!("/api/v1/population/residents/{budi}/death"),
        &registrar,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, card) = call(
        &app,
        "GET",
        &format!("/api/v1/population/families/{family}?purpose=pemutakhiran+KK"),
        &registrar,
        None,
    )
    .await;
    assert!(card["head"].is_null(), "{card}");
    assert_eq!(card["former_members"][0]["left_reason"], "kematian");
    let (status, card) = call(
        &app,
        "POST",
        &format!("/api/v1/population/families/{family}/head"),
        &registrar,
        Some(json!({"resident_id": siti})),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["head"], siti.as_str());
    assert_eq!(card["moves"].as_array().unwrap().len(), 1);

    // Reads need a purpose and are audited; other officers see no card.
    let (status, problem) = call(
        &app,
        "GET",
        &format!("/api/v1/population/families/{family}"),
        &registrar,
        None,
    )
    .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("purpose")));
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/v1/population/families/{family}?purpose=ingin+tahu"),
        &officer,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, found) = call(
        &app,
        "POST",
        "/api/v1/population/families/lookup",
        &registrar,
        Some(json!({"kk_number": number, "purpose": "pelayanan KK"})),
    )
    .await;
    assert_eq!((status, found["id"].as_str()), (200, Some(family.as_str())));
    let purposes: Vec<String> =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'population.family.read'")
            .fetch_all(app.db.store.reader())
            .await
            .unwrap();
    assert!(purposes.iter().any(|d| d.contains("pemutakhiran KK")), "{purposes:?}");

    // Households: Siti's (Siti, Andi, Sri in Bandung) and Rina's (Rina, Joko in Jakarta),
    // each change counted once.
    app.settled().await;
    let (_, stats) = call(&app, "GET", "/api/v1/stats", &officer, None).await;
    assert_eq!(
        (stats["households"].as_i64(), stats["household_members"].as_i64()),
        (Some(2), Some(5)),
        "{stats}"
    );
    let households = |code: &str| {
        stats["by_region"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["code"] == code)
            .map(|r| r["households"].as_i64().unwrap())
    };
    assert_eq!((households("31"), households("32")), (Some(1), Some(1)));
    let rebuilt = warga_population::residents::rebuild_stats(&app.db.store).await.unwrap();
    assert_eq!(
        (rebuilt.households, rebuilt.rows_differing),
        (2, 0),
        "live counts agree with the cards"
    );
}

#[tokio::test]
async fn a_citizen_reads_their_own_family_card_only() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let registrar = app.token("registry-officer-1", &["registry_officer"]).await;
    let budi = register(
        &app,
        &registrar,
        person("3171071407850001", "Budi Santoso", "1985-07-14", "male", TANAH_ABANG),
    )
    .await;
    let joko = register(
        &app,
        &registrar,
        person("3171070511960005", "Joko Prasetyo", "1996-11-05", "male", MENTENG),
    )
    .await;
    let (_, card) = call(
        &app,
        "POST",
        "/api/v1/population/families",
        &registrar,
        Some(json!({"head": budi})),
    )
    .await;
    let family = card["id"].as_str().unwrap().to_owned();
    let (_, other) = call(
        &app,
        "POST",
        "/api/v1/population/families",
        &registrar,
        Some(json!({"head": joko})),
    )
    .await;
    let other = other["id"].as_str().unwrap().to_owned();
    // Budi's account, linked to his record by a registry officer.
    let citizen = app.token("citizen-budi", &["citizen"]).await;
    let (status, asked) = call(
        &app,
        "POST",
        "/api/v1/population/me/link",
        &citizen,
        Some(json!({"nik": "3171071407850001", "birth_date": "1985-07-14"})),
    )
    .await;
    assert_eq!(status, 202, "{asked}");
    let (status, _) = call(
        &app,
        "POST",
        &format!(
            "/api/v1/population/link-requests/{}/decision",
            asked["id"].as_str().unwrap()
        ),
        &registrar,
        Some(json!({"approve": true})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, mine) = call(
        &app,
        "GET",
        &format!("/api/v1/population/families/{family}"),
        &citizen,
        None,
    )
    .await;
    assert_eq!((status, mine["kk_number"].as_str()), (200, card["kk_number"].as_str()));
    let (status, _) = call(
        &app,
        "GET",
        &format!("/api/v1/population/families/{other}"),
        &citizen,
        None,
    )
    .await;
    assert_eq!(status, 403, "another family's card is not theirs");
}
