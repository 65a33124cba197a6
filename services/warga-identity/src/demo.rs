//! The demo world of `warga up --demo`: the seed's five authorities with their officers,
//! the city's top office, registry and ledger officers, and 100 citizens.
//!
//! Every demo account has the same password, [`DEMO_PASSWORD`], hashed once: this is for
//! trying warga out, never for production data. Seeding twice changes nothing.

use std::collections::BTreeSet;

use warga_core::identity::{OfficerLevel, Role};
use warga_http::Platform;

use crate::error::IdentityError;

use crate::accounts::{self, NewAccount};

pub const DEMO_PASSWORD: &str = "Demo-JagaWarga-2026";
pub const CITIZENS: usize = 100;

/// The seed's five authorities: (id, name).
pub const AUTHORITIES: [(&str, &str); 5] = [
    ("dinas-pu", "Dinas Pekerjaan Umum"),
    ("dlh", "Dinas Lingkungan Hidup dan Kebersihan"),
    ("dishub", "Dinas Perhubungan"),
    ("satpol-pp", "Satuan Polisi Pamong Praja"),
    ("damkar", "Dinas Pemadam Kebakaran dan Penyelamatan"),
];

const FIRST: [&str; 20] = [
    "Siti", "Budi", "Dewi", "Agus", "Rina", "Joko", "Ayu", "Bambang", "Fitri", "Hendra", "Indah", "Rizky", "Wulan",
    "Yusuf", "Lestari", "Made", "Nur", "Putu", "Andi", "Maria",
];
const LAST: [&str; 10] = [
    "Aminah", "Santoso", "Lestari", "Wijaya", "Saputra", "Hasibuan", "Siregar", "Nugroho", "Pratama", "Kusuma",
];

/// Who can sign in after seeding, for the banner.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub created: bool,
    pub logins: Vec<(&'static str, String)>,
}

struct Person {
    username: String,
    display_name: String,
    roles: BTreeSet<Role>,
    department: Option<String>,
    level: Option<OfficerLevel>,
    msp_id: Option<String>,
    facility: Option<String>,
}

fn person(username: &str, display_name: &str, roles: &[Role]) -> Person {
    Person {
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        roles: roles.iter().copied().collect(),
        department: None,
        level: None,
        msp_id: None,
        facility: None,
    }
}

fn officer(username: String, display_name: String, department: &str, level: OfficerLevel) -> Person {
    Person {
        department: Some(department.to_owned()),
        level: Some(level),
        ..person(&username, &display_name, &[Role::Officer])
    }
}

fn people() -> Vec<Person> {
    let mut people = Vec::new();
    for (id, name) in AUTHORITIES {
        let short = id.replace('-', "");
        people.push(officer(
            format!("{short}.kepala"),
            format!("Kepala {name}"),
            id,
            OfficerLevel::Head,
        ));
        people.push(officer(
            format!("{short}.staf"),
            format!("Staf {name}"),
            id,
            OfficerLevel::Staff,
        ));
    }
    people.push(officer(
        "walikota".into(),
        "Wali Kota".into(),
        "pemkot",
        OfficerLevel::Top,
    ));
    let mut registry = person("capil.petugas", "Petugas Dukcapil", &[Role::RegistryOfficer]);
    registry.department = Some("disdukcapil".into());
    people.push(registry);
    // The facility codes are the example network's (BPJS's kode faskes).
    for (username, name, msp, facility) in [
        ("bpjs.petugas", "Petugas BPJS Kesehatan", "BPJSMSP", None),
        (
            "puskesmas.petugas",
            "Petugas Puskesmas",
            "PuskesmasMSP",
            Some("P3578010"),
        ),
        ("rs.petugas", "Petugas Rumah Sakit", "RumahSakitMSP", Some("R3578001")),
    ] {
        let mut member = person(username, name, &[Role::LedgerMember]);
        member.msp_id = Some(msp.into());
        member.facility = facility.map(str::to_owned);
        people.push(member);
    }
    let mut auditor = person("bpjs.auditor", "Auditor BPJS Kesehatan", &[Role::LedgerAuditor]);
    auditor.msp_id = Some("BPJSMSP".into());
    people.push(auditor);
    for i in 0..CITIZENS {
        let name = format!(
            "{} {}",
            FIRST[i % FIRST.len()],
            LAST[(i / FIRST.len() + i) % LAST.len()]
        );
        people.push(person(&format!("warga{:03}", i + 1), &name, &[Role::Citizen]));
    }
    people
}

/// Seeds the demo world unless it is there already.
pub async fn seed(platform: &Platform) -> Result<DemoSummary, IdentityError> {
    let logins = vec![
        ("warga (citizen)", "warga001".to_owned()),
        ("petugas dinas (officer, head)", "dinaspu.kepala".to_owned()),
        ("petugas dinas (officer, staff)", "dinaspu.staf".to_owned()),
        ("wali kota (top authority)", "walikota".to_owned()),
        ("petugas dukcapil (registry officer)", "capil.petugas".to_owned()),
        ("petugas BPJS (ledger member)", "bpjs.petugas".to_owned()),
        ("auditor BPJS (ledger auditor)", "bpjs.auditor".to_owned()),
    ];
    if accounts::by_username(platform.store.reader(), "walikota")
        .await?
        .is_some()
    {
        return Ok(DemoSummary { created: false, logins });
    }
    let hash = crate::password::hash(DEMO_PASSWORD.to_owned())
        .await
        .map_err(|e| IdentityError::Internal(e.to_string()))?;
    let mut tx = platform.store.begin().await?;
    let departments = AUTHORITIES.iter().copied().chain([
        ("pemkot", "Pemerintah Kota"),
        ("disdukcapil", "Dinas Kependudukan dan Pencatatan Sipil"),
    ]);
    for (id, name) in departments {
        if !accounts::departments(&platform.store).await?.iter().any(|d| d.id == id) {
            accounts::create_department(&mut tx, id, name, "system:demo").await?;
        }
    }
    for p in people() {
        accounts::create_with_hash(
            &mut tx,
            NewAccount {
                username: p.username,
                display_name: p.display_name,
                email: None,
                password: DEMO_PASSWORD.to_owned(),
                roles: p.roles,
                department_id: p.department,
                officer_level: p.level,
                msp_id: p.msp_id,
                facility: p.facility,
                must_change_password: false,
            },
            hash.clone(),
            "system:demo",
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        citizens = CITIZENS,
        authorities = AUTHORITIES.len(),
        "demo world seeded"
    );
    Ok(DemoSummary { created: true, logins })
}
