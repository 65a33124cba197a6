//! The BPJS Kesehatan contract: membership cards, facility visits, claims and referrals,
//! with patients identified by NIK.
//!
//! State (JSON values under Fabric-style composite keys):
//! `card/<nik>`, `visit/<nik>/<date>/<visit id>` (so a patient's history is one partial-key
//! query), `visitid/<visit id>` → the visit's key, `claim/<claim id>`, `referral/<id>`.
//! Endorsement policies say which organisations must agree; the contract also checks who
//! invokes (BPJS issues cards and processes claims; Puskesmas and hospitals record visits),
//! as Fabric chaincode checks its invoker — down to the facility: an organisation such as
//! `PuskesmasMSP` stands for many facilities, and a user acts for the one named by the
//! `facility` attribute of their certificate (BPJS's *kode faskes*, written by the CA). A
//! visit records its facility; only that facility claims it; a referral names the referring
//! and the receiving facility, and only the receiving one approves it.
//!
//! The ledger is shared by every member of the channel, so a visit's clinical details —
//! diagnosis (ICD-10) and notes — are private data: `RecordVisit` takes them in the
//! transient field [`CLINICAL_TRANSIENT`] (never in its arguments, which every member
//! reads) and writes them to the collection of BPJS and the treating facility's
//! organisation ([`clinical_collection`]); the channel's blocks carry only their salted
//! hash. No names in clear anywhere.

use serde::{Deserialize, Serialize};

use crate::attestation::{self, RegistryKey};
use crate::chaincode::{ChaincodeError, Contract, Stub};

pub const BPJS_MSP: &str = "BPJSMSP";
pub const PUSKESMAS_MSP: &str = "PuskesmasMSP";
pub const RUMAH_SAKIT_MSP: &str = "RumahSakitMSP";
/// The certificate attribute naming the facility a user acts for.
pub const FACILITY_ATTRIBUTE: &str = "facility";
/// The transient field carrying a visit's clinical details ([`Clinical`] as JSON).
pub const CLINICAL_TRANSIENT: &str = "clinical";
/// Longest clinical notes, in characters.
pub const NOTES_CHARS_MAX: usize = 2000;

/// The private data collection of BPJS and a facility organisation, where a visit's
/// clinical details live.
pub fn clinical_collection(facility_msp: &str) -> Option<&'static str> {
    match facility_msp {
        PUSKESMAS_MSP => Some("clinical-puskesmas"),
        RUMAH_SAKIT_MSP => Some("clinical-rumahsakit"),
        _ => None,
    }
}

/// The transient map `RecordVisit` takes: the clinical details with the client's salt.
pub fn clinical_transient(diagnosis: &str, notes: &str, salt: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let clinical = serde_json::json!({ "diagnosis": diagnosis, "notes": notes, "salt": salt });
    std::collections::BTreeMap::from([(CLINICAL_TRANSIENT.to_owned(), clinical.to_string().into_bytes())])
}

/// Adds `salt` to a `clinical` transient JSON object that has none (clients call it with
/// fresh randomness; the contract reads no randomness of its own).
pub fn salt_clinical(transient: &mut std::collections::BTreeMap<String, Vec<u8>>, salt: &str) {
    let Some(bytes) = transient.get(CLINICAL_TRANSIENT) else {
        return;
    };
    let Ok(serde_json::Value::Object(mut clinical)) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    if clinical.contains_key("salt") {
        return;
    }
    clinical.insert("salt".into(), serde_json::Value::String(salt.to_owned()));
    transient.insert(
        CLINICAL_TRANSIENT.to_owned(),
        serde_json::Value::Object(clinical).to_string().into_bytes(),
    );
}

/// A visit's clinical details, private to BPJS and the facility's organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clinical {
    /// ICD-10 code, e.g. `J06.9`.
    pub diagnosis: String,
    #[serde(default)]
    pub notes: String,
    /// Random, from the client (16–128 characters): without it the hash on the chain
    /// would give a short diagnosis code away to anyone who tries them all.
    pub salt: String,
}

/// Maximum claim amount (rupiah) per diagnosis severity class — an example tariff table in
/// the manner of INA-CBG groups; a deployment sets its own through chaincode upgrade.
/// The most claims one `GetClaims` lists.
pub const CLAIMS_LISTED_MAX: usize = 200;

pub const TARIFFS: [(&str, u64); 4] = [
    ("I", 1_500_000),
    ("II", 5_000_000),
    ("III", 15_000_000),
    ("IV", 50_000_000),
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardStatus {
    Active,
    Inactive,
    Suspended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub nik: String,
    /// Care class 1, 2 or 3.
    pub class: u8,
    pub status: CardStatus,
    /// `YYYY-MM-DD`, inclusive.
    pub valid_until: String,
    pub issued_at_ms: i64,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub visit_id: String,
    pub nik: String,
    pub facility_msp: String,
    /// The facility's code (the recording user's `facility` attribute).
    pub facility: String,
    /// The common name of the user who recorded it.
    pub recorded_by: String,
    pub date: String,
    /// The private data collection holding the diagnosis and notes.
    pub clinical_collection: String,
    pub recorded_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimStatus {
    Submitted,
    Approved,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub claim_id: String,
    pub visit_id: String,
    pub nik: String,
    pub facility_msp: String,
    pub facility: String,
    pub amount: u64,
    pub diagnosis_class: String,
    pub status: ClaimStatus,
    pub approved_amount: Option<u64>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferralStatus {
    Pending,
    Approved,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub referral_id: String,
    pub nik: String,
    pub from_msp: String,
    /// The referring facility's code.
    pub from_facility: String,
    /// The receiving facility's code.
    pub to_facility: String,
    pub reason: String,
    pub status: ReferralStatus,
    pub approved_by: Option<String>,
}

/// The contract. It trusts the population registry's key for the attestations
/// `IssueCard` needs ([`crate::attestation`]).
pub struct Bpjs {
    registry: RegistryKey,
}

impl Bpjs {
    pub fn new(registry: RegistryKey) -> Bpjs {
        Bpjs { registry }
    }
}

fn bad(message: impl Into<String>) -> ChaincodeError {
    ChaincodeError::BadRequest(message.into())
}

fn args<const N: usize>(function: &str, args: &[String]) -> Result<[String; N], ChaincodeError> {
    <[String; N]>::try_from(args.to_vec())
        .map_err(|_| bad(format!("{function} takes {N} arguments, {} given", args.len())))
}

fn nik(value: &str) -> Result<&str, ChaincodeError> {
    if value.len() == 16 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value)
    } else {
        Err(bad("a NIK is 16 digits"))
    }
}

fn id(what: &str, value: &str) -> Result<(), ChaincodeError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!("{what} must be 1–64 of A–Z, a–z, 0–9, '-', '_'")))
    }
}

/// A facility code: 1–32 of `A–Z a–z 0–9 - _ .`.
fn facility_code(value: &str) -> Result<&str, ChaincodeError> {
    let ok = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(value)
    } else {
        Err(bad(format!(
            "'{value}' is not a facility code (1–32 of A–Z, a–z, 0–9, '-', '_', '.')"
        )))
    }
}

/// The facility the invoker acts for: the `facility` attribute of its certificate.
fn invoker_facility(stub: &dyn Stub, what: &str) -> Result<String, ChaincodeError> {
    stub.invoker()
        .attribute(FACILITY_ATTRIBUTE)
        .map(str::to_owned)
        .ok_or_else(|| {
            ChaincodeError::Forbidden(format!(
                "{what} is done for a facility, and the invoker's certificate names none (attribute '{FACILITY_ATTRIBUTE}')"
            ))
        })
}

/// `YYYY-MM-DD` of a real day.
fn date(value: &str) -> Result<time::Date, ChaincodeError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format).map_err(|_| bad(format!("'{value}' is not a date YYYY-MM-DD")))
}

fn today(stub: &dyn Stub) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp(stub.tx_timestamp_ms().div_euclid(1000))
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN)
}

/// The latest calendar day anywhere in Indonesia at the proposal's time: the day in Eastern
/// Indonesia Time (WIT, UTC+9). A facility records a visit on its own local day — at 06:00
/// WIB it is still yesterday in UTC — so a visit is "in the future" only after this day.
fn latest_day_in_indonesia(stub: &dyn Stub) -> time::Date {
    const WIT_S: i64 = 9 * 3_600;
    time::OffsetDateTime::from_unix_timestamp(stub.tx_timestamp_ms().div_euclid(1000).saturating_add(WIT_S))
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN)
}

fn require_msp(stub: &dyn Stub, allowed: &[&str], what: &str) -> Result<(), ChaincodeError> {
    if allowed.contains(&stub.invoker().msp_id.as_str()) {
        Ok(())
    } else {
        Err(ChaincodeError::Forbidden(format!(
            "{what} is for {}; the invoker is of {}",
            allowed.join(" or "),
            stub.invoker().msp_id
        )))
    }
}

fn load<T: for<'de> Deserialize<'de>>(stub: &mut dyn Stub, key: &str, what: &str) -> Result<T, ChaincodeError> {
    let bytes = stub
        .get_state(key)
        .ok_or_else(|| ChaincodeError::NotFound(format!("no {what}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ChaincodeError::Conflict(format!("the stored {what} is unreadable: {e}")))
}

fn store<T: Serialize>(stub: &mut dyn Stub, key: &str, value: &T) -> Result<Vec<u8>, ChaincodeError> {
    let bytes = serde_json::to_vec(value).map_err(|e| bad(e.to_string()))?;
    stub.put_state(key, bytes.clone())?;
    Ok(bytes)
}

fn event(stub: &mut dyn Stub, name: &str, payload: serde_json::Value) {
    stub.set_event(name, payload.to_string().into_bytes());
}

/// The visit's clinical details from the transient field, checked.
fn clinical_input(stub: &dyn Stub) -> Result<Clinical, ChaincodeError> {
    let bytes = stub.transient(CLINICAL_TRANSIENT).ok_or_else(|| {
        bad(format!(
            "RecordVisit needs the clinical details in the transient field '{CLINICAL_TRANSIENT}': {{\"diagnosis\", \"notes\", \"salt\"}}"
        ))
    })?;
    let clinical: Clinical =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("the transient field '{CLINICAL_TRANSIENT}': {e}")))?;
    let diagnosis = &clinical.diagnosis;
    let icd_ok = (3..=8).contains(&diagnosis.len())
        && diagnosis.starts_with(|c: char| c.is_ascii_uppercase())
        && diagnosis.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    if !icd_ok {
        return Err(bad("diagnosis is an ICD-10 code such as J06.9"));
    }
    if clinical.notes.chars().count() > NOTES_CHARS_MAX
        || clinical
            .notes
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(bad(format!("notes are at most {NOTES_CHARS_MAX} printable characters")));
    }
    if !(16..=128).contains(&clinical.salt.len()) || clinical.salt.chars().any(char::is_control) {
        return Err(bad(
            "the salt is 16–128 random printable characters (it keeps the hash on the chain from giving the diagnosis away)",
        ));
    }
    Ok(clinical)
}

/// The card, refusing unless it is active and not expired on `on`.
fn usable_card(stub: &mut dyn Stub, nik: &str, on: time::Date) -> Result<Card, ChaincodeError> {
    let key = stub.create_composite_key("card", &[nik])?;
    let card: Card = load(stub, &key, "card for this NIK")?;
    if card.status != CardStatus::Active {
        return Err(ChaincodeError::Conflict(
            format!("the card is {:?}", card.status).to_lowercase(),
        ));
    }
    if date(&card.valid_until)? < on {
        return Err(ChaincodeError::Conflict(format!(
            "the card expired on {}",
            card.valid_until
        )));
    }
    Ok(card)
}

impl Bpjs {
    fn issue_card(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [nik_arg, class, valid_until, attestation] = args("IssueCard", a)?;
        require_msp(stub, &[BPJS_MSP], "IssueCard")?;
        let nik = nik(&nik_arg)?;
        self.vouched(stub, nik, &attestation)?;
        let class: u8 = class
            .parse()
            .ok()
            .filter(|c| (1..=3).contains(c))
            .ok_or_else(|| bad("class is 1, 2 or 3"))?;
        if date(&valid_until)? < today(stub) {
            return Err(bad("valid_until is in the past"));
        }
        let key = stub.create_composite_key("card", &[nik])?;
        if stub.get_state(&key).is_some() {
            return Err(ChaincodeError::Conflict("a card for this NIK exists".into()));
        }
        let card = Card {
            nik: nik.to_owned(),
            class,
            status: CardStatus::Active,
            valid_until: valid_until.clone(),
            issued_at_ms: stub.tx_timestamp_ms(),
            reason: None,
        };
        let bytes = store(stub, &key, &card)?;
        event(
            stub,
            "CardIssued",
            serde_json::json!({ "nik": nik, "class": class, "valid_until": valid_until }),
        );
        Ok(bytes)
    }

    /// Refuses unless `attestation` is the registry's word, fresh at the proposal's time,
    /// that `nik` is a registered, living resident.
    fn vouched(&self, stub: &dyn Stub, nik: &str, attestation: &str) -> Result<(), ChaincodeError> {
        let refused = |why: String| ChaincodeError::Forbidden(format!("the registry's attestation: {why}"));
        let claims = self.registry.verify(attestation).map_err(refused)?;
        if claims.sub != nik {
            return Err(refused(format!("it is for NIK {}, not {nik}", claims.sub)));
        }
        attestation::fresh(claims.iat, stub.tx_timestamp_ms()).map_err(refused)?;
        if claims.status != attestation::ALIVE {
            return Err(refused(format!(
                "the registry records the resident as {}; a card is issued to living residents only",
                claims.status
            )));
        }
        Ok(())
    }

    fn verify_card(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [nik_arg] = args("VerifyCard", a)?;
        let key = stub.create_composite_key("card", &[nik(&nik_arg)?])?;
        let card: Card = load(stub, &key, "card for this NIK")?;
        let expired = date(&card.valid_until)? < today(stub);
        let status = match (&card.status, expired) {
            (CardStatus::Active, true) => "expired",
            (CardStatus::Active, false) => "active",
            (CardStatus::Inactive, _) => "inactive",
            (CardStatus::Suspended, _) => "suspended",
        };
        Ok(serde_json::json!({ "nik": card.nik, "class": card.class, "status": status, "valid_until": card.valid_until })
            .to_string()
            .into_bytes())
    }

    fn set_card_status(&self, stub: &mut dyn Stub, a: &[String], suspend: bool) -> Result<Vec<u8>, ChaincodeError> {
        let function = if suspend { "SuspendCard" } else { "ReactivateCard" };
        require_msp(stub, &[BPJS_MSP], function)?;
        let (nik_arg, reason) = match (suspend, a) {
            (true, [nik, reason]) => (nik, Some(reason.clone())),
            (false, [nik, valid_until]) => (nik, Some(valid_until.clone())),
            _ => return Err(bad(format!("{function} takes 2 arguments, {} given", a.len()))),
        };
        let key = stub.create_composite_key("card", &[nik(nik_arg)?])?;
        let mut card: Card = load(stub, &key, "card for this NIK")?;
        if suspend {
            if card.status == CardStatus::Suspended {
                return Err(ChaincodeError::Conflict("the card is already suspended".into()));
            }
            card.status = CardStatus::Suspended;
            card.reason = reason;
        } else {
            if card.status == CardStatus::Active && date(&card.valid_until)? >= today(stub) {
                return Err(ChaincodeError::Conflict("the card is active".into()));
            }
            let valid_until = reason.unwrap_or_default();
            if date(&valid_until)? < today(stub) {
                return Err(bad("valid_until is in the past"));
            }
            card.status = CardStatus::Active;
            card.valid_until = valid_until;
            card.reason = None;
        }
        let bytes = store(stub, &key, &card)?;
        let name = if suspend { "CardSuspended" } else { "CardReactivated" };
        event(stub, name, serde_json::json!({ "nik": card.nik }));
        Ok(bytes)
    }

    fn record_visit(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        if a.len() == 4 {
            return Err(bad(format!(
                "the diagnosis goes in the transient field '{CLINICAL_TRANSIENT}', never in the arguments, which every member of the channel reads"
            )));
        }
        let [visit_id, nik_arg, day] = args("RecordVisit", a)?;
        require_msp(stub, &[PUSKESMAS_MSP, RUMAH_SAKIT_MSP], "RecordVisit")?;
        let facility = invoker_facility(stub, "RecordVisit")?;
        id("visit_id", &visit_id)?;
        let nik = nik(&nik_arg)?;
        let on = date(&day)?;
        if on > latest_day_in_indonesia(stub) {
            return Err(bad("a visit cannot be in the future"));
        }
        let clinical = clinical_input(stub)?;
        usable_card(stub, nik, on)?;
        let index = stub.create_composite_key("visitid", &[&visit_id])?;
        if stub.get_state(&index).is_some() {
            return Err(ChaincodeError::Conflict(format!("visit {visit_id} exists")));
        }
        let collection = clinical_collection(&stub.invoker().msp_id)
            .ok_or_else(|| bad("no clinical collection for the invoker's organisation"))?;
        let key = stub.create_composite_key("visit", &[nik, &day, &visit_id])?;
        let visit = Visit {
            visit_id: visit_id.clone(),
            nik: nik.to_owned(),
            facility_msp: stub.invoker().msp_id.clone(),
            facility,
            recorded_by: stub.invoker().common_name.clone(),
            date: day,
            clinical_collection: collection.to_owned(),
            recorded_at_ms: stub.tx_timestamp_ms(),
        };
        stub.put_state(&index, key.clone().into_bytes())?;
        let bytes = store(stub, &key, &visit)?;
        let private_key = stub.create_composite_key("clinical", &[&visit_id])?;
        let clinical_bytes = serde_json::to_vec(&clinical).map_err(|e| bad(e.to_string()))?;
        stub.put_private_data(collection, &private_key, clinical_bytes)?;
        event(
            stub,
            "VisitRecorded",
            serde_json::json!({ "visit_id": visit_id, "nik": nik, "facility": visit.facility }),
        );
        Ok(bytes)
    }

    /// The visit with this id, through its index.
    fn visit_by_id(stub: &mut dyn Stub, visit_id: &str) -> Result<Visit, ChaincodeError> {
        let index = stub.create_composite_key("visitid", &[visit_id])?;
        let visit_key = stub
            .get_state(&index)
            .ok_or_else(|| ChaincodeError::NotFound(format!("no visit {visit_id}")))?;
        load(stub, &String::from_utf8_lossy(&visit_key), "visit")
    }

    /// Whether the invoker may see a visit's clinical details: BPJS, or a user of the
    /// facility that recorded it (not every facility of its organisation).
    fn may_read_clinical(stub: &dyn Stub, visit: &Visit) -> bool {
        let invoker = stub.invoker();
        invoker.msp_id == BPJS_MSP
            || (invoker.msp_id == visit.facility_msp && invoker.attribute(FACILITY_ATTRIBUTE) == Some(&visit.facility))
    }

    /// A visit's clinical details, read from the private data collection this peer holds.
    fn read_clinical(stub: &mut dyn Stub, visit: &Visit) -> Result<Clinical, ChaincodeError> {
        let key = stub.create_composite_key("clinical", &[&visit.visit_id])?;
        let bytes = stub
            .get_private_data(&visit.clinical_collection, &key)?
            .ok_or_else(|| ChaincodeError::NotFound(format!("no clinical details for visit {}", visit.visit_id)))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ChaincodeError::Conflict(format!("the stored clinical details are unreadable: {e}")))
    }

    /// `GetVisitClinical(visit_id)`: the diagnosis and notes of a visit, for BPJS and the
    /// facility that recorded it, from a peer of the collection's organisations.
    fn visit_clinical(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [visit_id] = args("GetVisitClinical", a)?;
        let visit = Self::visit_by_id(stub, &visit_id)?;
        if !Self::may_read_clinical(stub, &visit) {
            return Err(ChaincodeError::Forbidden(format!(
                "a visit's clinical details are for BPJS and the facility that recorded it ({})",
                visit.facility
            )));
        }
        let clinical = Self::read_clinical(stub, &visit)?;
        Ok(serde_json::json!({
            "visit_id": visit.visit_id,
            "collection": visit.clinical_collection,
            "diagnosis": clinical.diagnosis,
            "notes": clinical.notes,
        })
        .to_string()
        .into_bytes())
    }

    /// `GetVisitClinicalHash(visit_id)`: the SHA-256 of a visit's private clinical record as
    /// the channel recorded it — any member may compare it with a copy it was shown.
    fn visit_clinical_hash(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [visit_id] = args("GetVisitClinicalHash", a)?;
        let visit = Self::visit_by_id(stub, &visit_id)?;
        let key = stub.create_composite_key("clinical", &[&visit.visit_id])?;
        let hash = stub
            .get_private_data_hash(&visit.clinical_collection, &key)?
            .ok_or_else(|| ChaincodeError::NotFound(format!("no clinical details for visit {visit_id}")))?;
        Ok(serde_json::json!({
            "visit_id": visit.visit_id,
            "collection": visit.clinical_collection,
            "sha256": crate::tx::hex(&hash),
        })
        .to_string()
        .into_bytes())
    }

    fn patient_history(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [nik_arg] = args("GetPatientHistory", a)?;
        let nik = nik(&nik_arg)?;
        let mut visits = Vec::new();
        for (_, value) in stub.get_state_by_partial_composite_key("visit", &[nik])? {
            let mut shown = serde_json::from_slice::<serde_json::Value>(&value).unwrap_or_default();
            // The diagnosis only for those who may read it, from a peer that holds it.
            if let Ok(visit) = serde_json::from_slice::<Visit>(&value)
                && Self::may_read_clinical(stub, &visit)
                && let Ok(clinical) = Self::read_clinical(stub, &visit)
                && let Some(object) = shown.as_object_mut()
            {
                object.insert("diagnosis".into(), clinical.diagnosis.into());
                object.insert("notes".into(), clinical.notes.into());
            }
            visits.push(shown);
        }
        serde_json::to_vec(&visits).map_err(|e| bad(e.to_string()))
    }

    /// The referrals of a patient, through their index (referrals made since it exists).
    fn patient_referrals(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [nik_arg] = args("GetPatientReferrals", a)?;
        let nik = nik(&nik_arg)?;
        let mut referrals = Vec::new();
        for (_, referral_key) in stub.get_state_by_partial_composite_key("patientreferral", &[nik])? {
            let key = String::from_utf8_lossy(&referral_key).into_owned();
            if let Some(value) = stub.get_state(&key) {
                referrals.push(serde_json::from_slice::<serde_json::Value>(&value).unwrap_or_default());
            }
        }
        serde_json::to_vec(&referrals).map_err(|e| bad(e.to_string()))
    }

    /// BPJS's queue: the claims with a status (`submitted`, `approved`, `rejected`), at most
    /// [`CLAIMS_LISTED_MAX`], in claim id order.
    fn claims_by_status(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [status] = args("GetClaims", a)?;
        require_msp(stub, &[BPJS_MSP], "GetClaims")?;
        let wanted: ClaimStatus = serde_json::from_value(serde_json::Value::String(status.clone()))
            .map_err(|_| bad("the status is submitted, approved or rejected"))?;
        let mut claims = Vec::new();
        for (_, value) in stub.get_state_by_partial_composite_key("claim", &[])? {
            let claim: Claim = serde_json::from_slice(&value).map_err(|e| bad(e.to_string()))?;
            if claim.status == wanted {
                claims.push(claim);
                if claims.len() == CLAIMS_LISTED_MAX {
                    break;
                }
            }
        }
        serde_json::to_vec(&claims).map_err(|e| bad(e.to_string()))
    }

    /// The referrals to the invoker's facility (its certificate's `facility`), through their
    /// index (referrals made since it exists).
    fn incoming_referrals(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [] = args("GetIncomingReferrals", a)?;
        require_msp(stub, &[PUSKESMAS_MSP, RUMAH_SAKIT_MSP], "GetIncomingReferrals")?;
        let facility = invoker_facility(stub, "GetIncomingReferrals")?;
        let mut referrals = Vec::new();
        for (_, referral_key) in stub.get_state_by_partial_composite_key("facilityreferral", &[&facility])? {
            let key = String::from_utf8_lossy(&referral_key).into_owned();
            if let Some(value) = stub.get_state(&key) {
                referrals.push(serde_json::from_slice::<serde_json::Value>(&value).unwrap_or_default());
            }
        }
        serde_json::to_vec(&referrals).map_err(|e| bad(e.to_string()))
    }

    fn submit_claim(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [claim_id, visit_id, amount, class] = args("SubmitClaim", a)?;
        require_msp(stub, &[PUSKESMAS_MSP, RUMAH_SAKIT_MSP], "SubmitClaim")?;
        let facility = invoker_facility(stub, "SubmitClaim")?;
        id("claim_id", &claim_id)?;
        let amount: u64 = amount
            .parse()
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| bad("amount is a positive number of rupiah"))?;
        if !TARIFFS.iter().any(|(c, _)| *c == class) {
            return Err(bad("diagnosis class is I, II, III or IV"));
        }
        let index = stub.create_composite_key("visitid", &[&visit_id])?;
        let visit_key = stub
            .get_state(&index)
            .ok_or_else(|| ChaincodeError::NotFound(format!("no visit {visit_id}")))?;
        let visit: Visit = load(stub, &String::from_utf8_lossy(&visit_key), "visit")?;
        if visit.facility_msp != stub.invoker().msp_id || visit.facility != facility {
            return Err(ChaincodeError::Forbidden(format!(
                "only the facility of the visit ({}) claims it; the invoker acts for {facility}",
                visit.facility
            )));
        }
        let key = stub.create_composite_key("claim", &[&claim_id])?;
        if stub.get_state(&key).is_some() {
            return Err(ChaincodeError::Conflict(format!("claim {claim_id} exists")));
        }
        let claim = Claim {
            claim_id: claim_id.clone(),
            visit_id,
            nik: visit.nik,
            facility_msp: visit.facility_msp,
            facility,
            amount,
            diagnosis_class: class,
            status: ClaimStatus::Submitted,
            approved_amount: None,
            reason: None,
        };
        let bytes = store(stub, &key, &claim)?;
        event(
            stub,
            "ClaimSubmitted",
            serde_json::json!({ "claim_id": claim_id, "amount": amount }),
        );
        Ok(bytes)
    }

    fn process_claim(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [claim_id, decision, value] = args("ProcessClaim", a)?;
        require_msp(stub, &[BPJS_MSP], "ProcessClaim")?;
        let key = stub.create_composite_key("claim", &[&claim_id])?;
        let mut claim: Claim = load(stub, &key, "claim")?;
        if claim.status != ClaimStatus::Submitted {
            return Err(ChaincodeError::Conflict("the claim is already processed".into()));
        }
        match decision.as_str() {
            "approve" => {
                let approved: u64 = value
                    .parse()
                    .map_err(|_| bad("the approved amount is a number of rupiah"))?;
                let tariff = TARIFFS
                    .iter()
                    .find(|(c, _)| *c == claim.diagnosis_class)
                    .map(|(_, t)| *t)
                    .unwrap_or(0);
                if approved == 0 || approved > claim.amount || approved > tariff {
                    return Err(bad(format!(
                        "the approved amount must be 1 to {} (the claim, within the tariff of class {})",
                        claim.amount.min(tariff),
                        claim.diagnosis_class
                    )));
                }
                claim.status = ClaimStatus::Approved;
                claim.approved_amount = Some(approved);
            }
            "reject" => {
                if value.trim().is_empty() {
                    return Err(bad("a rejection needs a reason"));
                }
                claim.status = ClaimStatus::Rejected;
                claim.reason = Some(value);
            }
            _ => return Err(bad("the decision is approve or reject")),
        }
        let bytes = store(stub, &key, &claim)?;
        event(
            stub,
            "ClaimProcessed",
            serde_json::json!({ "claim_id": claim_id, "status": claim.status, "approved_amount": claim.approved_amount }),
        );
        Ok(bytes)
    }

    fn create_referral(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [referral_id, nik_arg, to_facility, reason] = args("CreateReferral", a)?;
        require_msp(stub, &[PUSKESMAS_MSP], "CreateReferral")?;
        let from_facility = invoker_facility(stub, "CreateReferral")?;
        id("referral_id", &referral_id)?;
        let nik = nik(&nik_arg)?;
        facility_code(&to_facility)?;
        if to_facility == from_facility {
            return Err(bad("a facility does not refer a patient to itself"));
        }
        if reason.trim().is_empty() {
            return Err(bad("the reason is required"));
        }
        let on = today(stub);
        usable_card(stub, nik, on)?;
        let key = stub.create_composite_key("referral", &[&referral_id])?;
        if stub.get_state(&key).is_some() {
            return Err(ChaincodeError::Conflict(format!("referral {referral_id} exists")));
        }
        let referral = Referral {
            referral_id: referral_id.clone(),
            nik: nik.to_owned(),
            from_msp: stub.invoker().msp_id.clone(),
            from_facility,
            to_facility,
            reason,
            status: ReferralStatus::Pending,
            approved_by: None,
        };
        let bytes = store(stub, &key, &referral)?;
        // The patient's index of referrals: their NIK, then the referral (its value the key).
        let index = stub.create_composite_key("patientreferral", &[nik, &referral_id])?;
        stub.put_state(&index, key.clone().into_bytes())?;
        // The receiving facility's index: its code, then the referral.
        let incoming = stub.create_composite_key("facilityreferral", &[&referral.to_facility, &referral_id])?;
        stub.put_state(&incoming, key.clone().into_bytes())?;
        event(
            stub,
            "ReferralCreated",
            serde_json::json!({ "referral_id": referral_id, "nik": nik, "to_facility": referral.to_facility }),
        );
        Ok(bytes)
    }

    fn approve_referral(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let [referral_id] = args("ApproveReferral", a)?;
        require_msp(stub, &[PUSKESMAS_MSP, RUMAH_SAKIT_MSP], "ApproveReferral")?;
        let facility = invoker_facility(stub, "ApproveReferral")?;
        let key = stub.create_composite_key("referral", &[&referral_id])?;
        let mut referral: Referral = load(stub, &key, "referral")?;
        if referral.to_facility != facility {
            return Err(ChaincodeError::Forbidden(format!(
                "only the receiving facility ({}) approves the referral; the invoker acts for {facility}",
                referral.to_facility
            )));
        }
        if referral.status != ReferralStatus::Pending {
            return Err(ChaincodeError::Conflict("the referral is already approved".into()));
        }
        referral.status = ReferralStatus::Approved;
        referral.approved_by = Some(stub.invoker().common_name.clone());
        let bytes = store(stub, &key, &referral)?;
        event(
            stub,
            "ReferralApproved",
            serde_json::json!({ "referral_id": referral_id }),
        );
        Ok(bytes)
    }

    fn history_for_key(&self, stub: &mut dyn Stub, a: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        let Some((object_type, attributes)) = a.split_first() else {
            return Err(bad(
                "GetHistoryForKey takes an object type and its key parts, e.g. card <nik>",
            ));
        };
        if !["card", "claim", "referral"].contains(&object_type.as_str()) {
            return Err(bad("the object type is card, claim or referral"));
        }
        let parts: Vec<&str> = attributes.iter().map(String::as_str).collect();
        let key = stub.create_composite_key(object_type, &parts)?;
        let history = stub.get_history_for_key(&key);
        serde_json::to_vec(&history).map_err(|e| bad(e.to_string()))
    }
}

impl Contract for Bpjs {
    fn name(&self) -> &'static str {
        "bpjs"
    }

    fn version(&self) -> &'static str {
        "1.0"
    }

    fn invoke(&self, stub: &mut dyn Stub, function: &str, args: &[String]) -> Result<Vec<u8>, ChaincodeError> {
        match function {
            "IssueCard" => self.issue_card(stub, args),
            "VerifyCard" => self.verify_card(stub, args),
            "SuspendCard" => self.set_card_status(stub, args, true),
            "ReactivateCard" => self.set_card_status(stub, args, false),
            "RecordVisit" => self.record_visit(stub, args),
            "GetPatientHistory" => self.patient_history(stub, args),
            "GetVisitClinical" => self.visit_clinical(stub, args),
            "GetVisitClinicalHash" => self.visit_clinical_hash(stub, args),
            "GetPatientReferrals" => self.patient_referrals(stub, args),
            "GetClaims" => self.claims_by_status(stub, args),
            "GetIncomingReferrals" => self.incoming_referrals(stub, args),
            "SubmitClaim" => self.submit_claim(stub, args),
            "ProcessClaim" => self.process_claim(stub, args),
            "CreateReferral" => self.create_referral(stub, args),
            "ApproveReferral" => self.approve_referral(stub, args),
            "GetHistoryForKey" => self.history_for_key(stub, args),
            other => Err(bad(format!("no function {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::chaincode::{Invoker, Simulator};
    use crate::policy::MspRole;
    use crate::rwset::{MemoryState, Version};

    /// 2026-11-22 10:00 UTC.
    const NOW_MS: i64 = 1_795_346_400_000;
    const NIK: &str = "3171075203950004";

    struct Ledger {
        state: MemoryState,
        block: u64,
        now_ms: i64,
        collections: Vec<crate::network::Collection>,
        /// The organisation of the peer simulating (BPJS: a member of every collection).
        peer_msp: &'static str,
        /// The population registry's attestation key and the contract trusting it.
        registry: ring::signature::EcdsaKeyPair,
        contract: Bpjs,
    }

    /// The registry's attestation for `nik`, made at `at_ms`.
    fn attest(registry: &ring::signature::EcdsaKeyPair, nik: &str, status: &str, at_ms: i64) -> String {
        let claims = crate::attestation::Claims::new(nik, status, at_ms);
        let rng = ring::rand::SystemRandom::new();
        claims.seal(registry.sign(&rng, claims.signing_input().as_bytes()).unwrap().as_ref())
    }

    /// The example network's collections of the BPJS chaincode on `bpjs-main`.
    fn collections() -> Vec<crate::network::Collection> {
        let network = crate::network::Network::parse(crate::network::BPJS_EXAMPLE).unwrap();
        network.channel("bpjs-main").unwrap().chaincodes[0].collections.clone()
    }

    /// The transient map of a visit with this diagnosis.
    fn clinical(diagnosis: &str, notes: &str) -> BTreeMap<String, Vec<u8>> {
        clinical_transient(diagnosis, notes, "0123456789abcdef-salt")
    }

    /// Puskesmas A and B (one organisation, two facilities) and a hospital.
    const PKM_A: &str = "P3578010";
    const PKM_B: &str = "P3578020";
    const RS: &str = "R3578001";

    fn invoker_at(msp: &str, facility: Option<&str>) -> Invoker {
        Invoker {
            msp_id: msp.into(),
            role: MspRole::Client,
            common_name: format!("User1@{msp}"),
            id: format!("{msp}/{facility:?}"),
            attributes: facility
                .map(|f| BTreeMap::from([(FACILITY_ATTRIBUTE.to_owned(), f.to_owned())]))
                .unwrap_or_default(),
        }
    }

    /// A user of `msp` at its first facility (none for BPJS).
    fn invoker(msp: &str) -> Invoker {
        let facility = match msp {
            PUSKESMAS_MSP => Some(PKM_A),
            RUMAH_SAKIT_MSP => Some(RS),
            _ => None,
        };
        invoker_at(msp, facility)
    }

    impl Ledger {
        fn new() -> Self {
            use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let registry = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
            let key = RegistryKey::from_point(registry.public_key().as_ref().to_vec()).unwrap();
            Ledger {
                state: MemoryState::default(),
                block: 1,
                now_ms: NOW_MS,
                collections: collections(),
                peer_msp: BPJS_MSP,
                registry,
                contract: Bpjs::new(key),
            }
        }

        /// Simulates and, when it succeeds, commits (as a valid transaction of a new block).
        fn call(&mut self, msp: &str, function: &str, args: &[&str]) -> Result<serde_json::Value, ChaincodeError> {
            self.call_as(invoker(msp), function, args)
        }

        fn call_as(
            &mut self,
            who: Invoker,
            function: &str,
            args: &[&str],
        ) -> Result<serde_json::Value, ChaincodeError> {
            let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            // For brevity, the tests write a visit's diagnosis as a fourth argument; it
            // travels in the transient field, as clients send it.
            let mut transient = BTreeMap::new();
            if function == "RecordVisit" && args.len() == 4 {
                let diagnosis = args.pop().unwrap_or_default();
                transient = clinical(&diagnosis, "");
            }
            // And IssueCard's registry attestation is made for them, a minute before.
            if function == "IssueCard" && args.len() == 3 {
                args.push(attest(&self.registry, &args[0], "alive", self.now_ms - 60_000));
            }
            let tx_id = format!("tx{}", self.block);
            let simulated = Simulator::new(&self.state, "bpjs", "bpjs-main", &tx_id, self.now_ms, who)
                .with_private(&self.collections, self.peer_msp, transient)
                .run(&self.contract, function, &args)?;
            for private in &simulated.private {
                self.state.apply_private(private);
            }
            self.state.apply(
                &simulated.rwset,
                Version {
                    block: self.block,
                    tx: 0,
                },
                &tx_id,
                self.now_ms,
            );
            self.block += 1;
            if let Some(event) = &simulated.event {
                assert!(!event.name.is_empty());
            }
            Ok(serde_json::from_slice(&simulated.result).unwrap_or(serde_json::Value::Null))
        }
    }

    fn kind(result: Result<serde_json::Value, ChaincodeError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(ChaincodeError::BadRequest(_)) => "bad",
            Err(ChaincodeError::Forbidden(_)) => "forbidden",
            Err(ChaincodeError::NotFound(_)) => "missing",
            Err(ChaincodeError::Conflict(_)) => "conflict",
        }
    }

    #[test]
    fn cards_are_issued_by_bpjs_and_honour_status_and_expiry() {
        let mut l = Ledger::new();
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "IssueCard", &[NIK, "1", "2027-12-31"])),
            "forbidden"
        );
        assert_eq!(kind(l.call(BPJS_MSP, "IssueCard", &[NIK, "4", "2027-12-31"])), "bad");
        assert_eq!(
            kind(l.call(BPJS_MSP, "IssueCard", &["12345", "1", "2027-12-31"])),
            "bad"
        );
        assert_eq!(kind(l.call(BPJS_MSP, "IssueCard", &[NIK, "1", "2025-01-01"])), "bad");
        let card = l.call(BPJS_MSP, "IssueCard", &[NIK, "2", "2027-12-31"]).unwrap();
        assert_eq!(card["status"], "active");
        assert_eq!(
            kind(l.call(BPJS_MSP, "IssueCard", &[NIK, "2", "2027-12-31"])),
            "conflict"
        );
        assert_eq!(
            l.call(RUMAH_SAKIT_MSP, "VerifyCard", &[NIK]).unwrap()["status"],
            "active"
        );

        assert_eq!(kind(l.call(BPJS_MSP, "SuspendCard", &[NIK, "iuran menunggak"])), "ok");
        assert_eq!(
            l.call(PUSKESMAS_MSP, "VerifyCard", &[NIK]).unwrap()["status"],
            "suspended"
        );
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "RecordVisit", &["v1", NIK, "2026-11-21", "J06.9"])),
            "conflict"
        );
        assert_eq!(kind(l.call(BPJS_MSP, "ReactivateCard", &[NIK, "2027-12-31"])), "ok");
        assert_eq!(
            kind(l.call(BPJS_MSP, "ReactivateCard", &[NIK, "2027-12-31"])),
            "conflict"
        );

        // Past the expiry date the card verifies as expired and visits are refused.
        l.now_ms += 800 * 86_400_000;
        assert_eq!(l.call(BPJS_MSP, "VerifyCard", &[NIK]).unwrap()["status"], "expired");
        let day = "2029-01-30";
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "RecordVisit", &["v2", NIK, day, "J06.9"])),
            "conflict"
        );

        let history = l.call(BPJS_MSP, "GetHistoryForKey", &["card", NIK]).unwrap();
        assert_eq!(history.as_array().unwrap().len(), 3, "issued, suspended, reactivated");
    }

    /// A visit is dated on the facility's local day: at 06:30 WIB on 23 November it is still
    /// the 22nd in UTC, and the 23rd is no future day; the 24th is, everywhere in Indonesia
    /// (08:30 WIT on the 23rd).
    #[test]
    fn a_visit_is_dated_on_an_indonesian_day() {
        let mut l = Ledger::new();
        l.call(BPJS_MSP, "IssueCard", &[NIK, "3", "2027-12-31"]).unwrap();
        // 2026-11-22 23:30 UTC.
        l.now_ms = NOW_MS + 13 * 3_600_000 + 30 * 60_000;
        l.call(PUSKESMAS_MSP, "RecordVisit", &["v-pagi", NIK, "2026-11-23", "J06.9"])
            .unwrap();
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "RecordVisit", &["v-besok", NIK, "2026-11-24", "J06.9"])),
            "bad"
        );
    }

    #[test]
    fn visits_claims_and_referrals_follow_the_rules() {
        let mut l = Ledger::new();
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "RecordVisit", &["v1", NIK, "2026-11-20", "J06.9"])),
            "missing"
        );
        l.call(BPJS_MSP, "IssueCard", &[NIK, "3", "2027-12-31"]).unwrap();
        assert_eq!(
            kind(l.call(BPJS_MSP, "RecordVisit", &["v1", NIK, "2026-11-20", "J06.9"])),
            "forbidden"
        );
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "RecordVisit", &["v1", NIK, "2026-12-20", "J06.9"])),
            "bad"
        );
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "RecordVisit", &["v1", NIK, "2026-11-20", "flu"])),
            "bad"
        );
        l.call(PUSKESMAS_MSP, "RecordVisit", &["v1", NIK, "2026-11-20", "J06.9"])
            .unwrap();
        l.call(RUMAH_SAKIT_MSP, "RecordVisit", &["v2", NIK, "2026-11-10", "K35.8"])
            .unwrap();
        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "RecordVisit", &["v1", NIK, "2026-11-20", "J06.9"])),
            "conflict"
        );
        let history = l.call(BPJS_MSP, "GetPatientHistory", &[NIK]).unwrap();
        let dates: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["date"].as_str().unwrap())
            .collect();
        assert_eq!(
            dates,
            ["2026-11-10", "2026-11-20"],
            "by date, from one partial-key query"
        );

        assert_eq!(
            kind(l.call(PUSKESMAS_MSP, "SubmitClaim", &["c1", "v2", "9000000", "III"])),
            "forbidden"
        );
        assert_eq!(
            kind(l.call(RUMAH_SAKIT_MSP, "SubmitClaim", &["c1", "v2", "9000000", "V"])),
            "bad"
        );
        l.call(RUMAH_SAKIT_MSP, "SubmitClaim", &["c1", "v2", "9000000", "III"])
            .unwrap();
        // BPJS's queue lists it; only BPJS reads the queue.
        let queue = l.call(BPJS_MSP, "GetClaims", &["submitted"]).unwrap();
        assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
        assert_eq!(queue[0]["claim_id"], "c1");
        assert_eq!(
            l.call(BPJS_MSP, "GetClaims", &["approved"]).unwrap(),
            serde_json::json!([])
        );
        assert_eq!(kind(l.call(RUMAH_SAKIT_MSP, "GetClaims", &["submitted"])), "forbidden");
        assert_eq!(kind(l.call(BPJS_MSP, "GetClaims", &["lost"])), "bad");
        assert_eq!(
            kind(l.call(RUMAH_SAKIT_MSP, "ProcessClaim", &["c1", "approve", "9000000"])),
            "forbidden"
        );
        assert_eq!(
            kind(l.call(BPJS_MSP, "ProcessClaim", &["c1", "approve", "9500000"])),
            "bad",
            "over the claim"
        );
        let approved = l.call(BPJS_MSP, "ProcessClaim", &["c1", "approve", "8000000"]).unwrap();
        assert_eq!(
            (approved["status"].as_str(), approved["approved_amount"].as_u64()),
            (Some("approved"), Some(8_000_000))
        );
        assert_eq!(
            kind(l.call(BPJS_MSP, "ProcessClaim", &["c1", "reject", "duplikat"])),
            "conflict"
        );
        l.call(PUSKESMAS_MSP, "SubmitClaim", &["c2", "v1", "2000000", "I"])
            .unwrap();
        assert_eq!(
            kind(l.call(BPJS_MSP, "ProcessClaim", &["c2", "approve", "1600000"])),
            "bad",
            "over the tariff"
        );
        assert_eq!(kind(l.call(BPJS_MSP, "ProcessClaim", &["c2", "reject", " "])), "bad");
        assert_eq!(
            l.call(BPJS_MSP, "ProcessClaim", &["c2", "reject", "bukan indikasi"])
                .unwrap()["status"],
            "rejected"
        );

        assert_eq!(
            kind(l.call(RUMAH_SAKIT_MSP, "CreateReferral", &["r1", NIK, RS, "apendisitis"])),
            "forbidden"
        );
        assert_eq!(
            kind(l.call(
                PUSKESMAS_MSP,
                "CreateReferral",
                &["r1", NIK, "RSUD Tarakan", "apendisitis"]
            )),
            "bad",
            "a facility code, not a name"
        );
        l.call(PUSKESMAS_MSP, "CreateReferral", &["r1", NIK, RS, "apendisitis"])
            .unwrap();
        assert_eq!(kind(l.call(BPJS_MSP, "ApproveReferral", &["r1"])), "forbidden");
        assert_eq!(
            l.call(RUMAH_SAKIT_MSP, "ApproveReferral", &["r1"]).unwrap()["status"],
            "approved"
        );
        assert_eq!(kind(l.call(RUMAH_SAKIT_MSP, "ApproveReferral", &["r1"])), "conflict");
        // The receiving hospital's incoming referrals; a facility of no referral has none.
        let incoming = l.call(RUMAH_SAKIT_MSP, "GetIncomingReferrals", &[]).unwrap();
        assert_eq!(incoming[0]["referral_id"], "r1", "{incoming}");
        assert_eq!(
            l.call(PUSKESMAS_MSP, "GetIncomingReferrals", &[]).unwrap(),
            serde_json::json!([])
        );
        assert_eq!(kind(l.call(BPJS_MSP, "GetIncomingReferrals", &[])), "forbidden");
        // The patient's referrals, as their index finds them (approved since).
        let referrals = l.call(BPJS_MSP, "GetPatientReferrals", &[NIK]).unwrap();
        assert_eq!(referrals.as_array().unwrap().len(), 1, "{referrals}");
        assert_eq!(referrals[0]["referral_id"], "r1");
        assert_eq!(referrals[0]["status"], "approved");
        assert_eq!(
            l.call(BPJS_MSP, "GetPatientReferrals", &["3578010101900001"]).unwrap(),
            serde_json::json!([])
        );
        assert_eq!(kind(l.call(BPJS_MSP, "Nonsense", &[])), "bad");
    }

    #[test]
    fn a_facility_acts_only_on_its_own_visits_claims_and_referrals() {
        let mut l = Ledger::new();
        let (a, b) = (
            invoker_at(PUSKESMAS_MSP, Some(PKM_A)),
            invoker_at(PUSKESMAS_MSP, Some(PKM_B)),
        );
        let hospital = invoker_at(RUMAH_SAKIT_MSP, Some(RS));
        let nowhere = invoker_at(PUSKESMAS_MSP, None);
        l.call(BPJS_MSP, "IssueCard", &[NIK, "3", "2027-12-31"]).unwrap();

        assert_eq!(
            kind(l.call_as(nowhere.clone(), "RecordVisit", &["v0", NIK, "2026-11-20", "J06.9"])),
            "forbidden",
            "a certificate without a facility records nothing"
        );
        let visit = l
            .call_as(a.clone(), "RecordVisit", &["v1", NIK, "2026-11-20", "J06.9"])
            .unwrap();
        assert_eq!(
            (visit["facility"].as_str(), visit["facility_msp"].as_str()),
            (Some(PKM_A), Some(PUSKESMAS_MSP))
        );
        assert_eq!(
            kind(l.call_as(b.clone(), "RecordVisit", &["v1", NIK, "2026-11-20", "A09"])),
            "conflict",
            "B cannot overwrite A's visit"
        );
        assert_eq!(
            kind(l.call_as(b.clone(), "SubmitClaim", &["c1", "v1", "1000000", "I"])),
            "forbidden",
            "B cannot claim A's visit, though of the same organisation"
        );
        assert_eq!(
            kind(l.call_as(nowhere, "SubmitClaim", &["c1", "v1", "1000000", "I"])),
            "forbidden"
        );
        let claim = l
            .call_as(a.clone(), "SubmitClaim", &["c1", "v1", "1000000", "I"])
            .unwrap();
        assert_eq!(claim["facility"], PKM_A);
        assert_eq!(
            kind(l.call_as(b.clone(), "ProcessClaim", &["c1", "approve", "1000000"])),
            "forbidden",
            "only BPJS processes claims"
        );

        let referral = l
            .call_as(a.clone(), "CreateReferral", &["r1", NIK, RS, "apendisitis"])
            .unwrap();
        assert_eq!(
            (referral["from_facility"].as_str(), referral["to_facility"].as_str()),
            (Some(PKM_A), Some(RS))
        );
        assert_eq!(
            kind(l.call_as(a.clone(), "CreateReferral", &["r2", NIK, PKM_A, "kontrol"])),
            "bad",
            "not to itself"
        );
        assert_eq!(
            kind(l.call_as(b.clone(), "ApproveReferral", &["r1"])),
            "forbidden",
            "B is not the receiver"
        );
        assert_eq!(
            kind(l.call_as(a, "ApproveReferral", &["r1"])),
            "forbidden",
            "nor is the referrer"
        );
        l.call_as(b, "CreateReferral", &["r3", NIK, PKM_A, "kontrol"]).unwrap();
        assert_eq!(
            kind(l.call_as(hospital.clone(), "ApproveReferral", &["r3"])),
            "forbidden",
            "a hospital cannot approve a referral to Puskesmas A"
        );
        assert_eq!(
            l.call_as(hospital, "ApproveReferral", &["r1"]).unwrap()["status"],
            "approved"
        );
    }

    #[test]
    fn a_card_is_issued_only_with_the_registrys_fresh_word_for_that_living_nik() {
        let mut l = Ledger::new();
        let issue = |l: &mut Ledger, attestation: String| {
            let args = [NIK, "1", "2027-12-31", attestation.as_str()];
            l.call(BPJS_MSP, "IssueCard", &args)
        };
        let reason = |result: Result<serde_json::Value, ChaincodeError>| match result {
            Err(ChaincodeError::Forbidden(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let minute_ago = NOW_MS - 60_000;
        // Without one, or with one not made by the registry.
        assert_eq!(
            kind(l.call(BPJS_MSP, "IssueCard", &[NIK, "1", "2027-12-31", ""])),
            "forbidden"
        );
        let impostor = Ledger::new();
        let forged = attest(&impostor.registry, NIK, "alive", minute_ago);
        assert!(reason(issue(&mut l, forged)).contains("not signed by the registry"));
        // For another NIK, for a resident the registry records as dead, stale or post-dated.
        let other = attest(&l.registry, "3171075203950012", "alive", minute_ago);
        assert!(reason(issue(&mut l, other)).contains("not 3171075203950004"));
        let dead = attest(&l.registry, NIK, "dead", minute_ago);
        assert!(reason(issue(&mut l, dead)).contains("as dead"));
        let stale = attest(&l.registry, NIK, "alive", NOW_MS - 11 * 60_000);
        assert!(reason(issue(&mut l, stale)).contains("older than 10 minutes"));
        let ahead = attest(&l.registry, NIK, "alive", NOW_MS + 5 * 60_000);
        assert!(reason(issue(&mut l, ahead)).contains("after the proposal"));
        // Nothing was written by any of them; a fresh, right one issues the card.
        assert_eq!(kind(l.call(BPJS_MSP, "VerifyCard", &[NIK])), "missing");
        let good = attest(&l.registry, NIK, "alive", minute_ago);
        assert_eq!(issue(&mut l, good).unwrap()["status"], "active");
    }

    #[test]
    fn simulations_record_reads_writes_ranges_and_events() {
        let mut l = Ledger::new();
        l.call(BPJS_MSP, "IssueCard", &[NIK, "1", "2027-12-31"]).unwrap();
        let args: Vec<String> = ["v1", NIK, "2026-11-20", "J06.9"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let collections = collections();
        // The diagnosis as an argument (on the chain for every member to read) is refused.
        let refused = Simulator::new(&l.state, "bpjs", "bpjs-main", "t", NOW_MS, invoker(PUSKESMAS_MSP))
            .with_private(&collections, PUSKESMAS_MSP, BTreeMap::new())
            .run(&l.contract, "RecordVisit", &args);
        assert_eq!(kind(refused.map(|_| serde_json::Value::Null)), "bad");
        let simulated = Simulator::new(&l.state, "bpjs", "bpjs-main", "t", NOW_MS, invoker(PUSKESMAS_MSP))
            .with_private(&collections, PUSKESMAS_MSP, clinical("J06.9", ""))
            .run(&l.contract, "RecordVisit", &args[..3])
            .unwrap();
        let card_key = crate::chaincode::composite_key("card", &[NIK]).unwrap();
        let card_read = simulated.rwset.reads.iter().find(|r| r.key == card_key).unwrap();
        assert_eq!(card_read.version, Some(Version { block: 1, tx: 0 }));
        assert_eq!(simulated.rwset.writes.len(), 2, "the visit and its id index");
        assert!(simulated.rwset.is_canonical());
        assert_eq!(simulated.event.unwrap().name, "VisitRecorded");
        let history = Simulator::new(&l.state, "bpjs", "bpjs-main", "t2", NOW_MS, invoker(BPJS_MSP))
            .run(&l.contract, "GetPatientHistory", &[NIK.to_owned()])
            .unwrap();
        assert_eq!(history.rwset.range_reads.len(), 1);
        assert!(history.rwset.writes.is_empty());
    }

    #[test]
    fn clinical_details_are_private_data_of_bpjs_and_the_facility() {
        let mut l = Ledger::new();
        l.call(BPJS_MSP, "IssueCard", &[NIK, "1", "2027-12-31"]).unwrap();
        let collections = collections();
        let args: Vec<String> = ["v1", NIK, "2026-11-20"].iter().map(|a| a.to_string()).collect();
        let notes = "batuk tiga hari, tanpa demam";
        let simulate = |state: &MemoryState, who: Invoker, peer: &str, transient| {
            Simulator::new(state, "bpjs", "bpjs-main", "t", NOW_MS, who)
                .with_private(&collections, peer, transient)
                .run(&l.contract, "RecordVisit", &args)
        };
        // Missing, malformed or unsalted clinical details are refused.
        assert_eq!(
            kind(
                simulate(&l.state, invoker(PUSKESMAS_MSP), PUSKESMAS_MSP, BTreeMap::new())
                    .map(|_| serde_json::Value::Null)
            ),
            "bad"
        );
        let unsalted = BTreeMap::from([(
            CLINICAL_TRANSIENT.to_owned(),
            br#"{"diagnosis":"J06.9","salt":"x"}"#.to_vec(),
        )]);
        assert_eq!(
            kind(simulate(&l.state, invoker(PUSKESMAS_MSP), PUSKESMAS_MSP, unsalted).map(|_| serde_json::Value::Null)),
            "bad"
        );
        let simulated = simulate(
            &l.state,
            invoker(PUSKESMAS_MSP),
            PUSKESMAS_MSP,
            clinical("J06.9", notes),
        )
        .unwrap();
        // Nothing clinical in the public read/write set: the collection's hashes only.
        let public = format!("{:?}", simulated.rwset.writes);
        assert!(!public.contains("J06.9") && !public.contains("batuk"), "{public}");
        assert_eq!(simulated.rwset.collections.len(), 1);
        let hashes = &simulated.rwset.collections[0];
        assert_eq!(hashes.collection, "clinical-puskesmas");
        assert_eq!(simulated.private.len(), 1);
        assert!(simulated.private[0].matches(hashes), "the clear writes give the hashes");
        assert!(simulated.rwset.is_canonical());
        let mut tampered = simulated.private[0].clone();
        tampered.writes[0].value = Some(b"{}".to_vec());
        assert!(!tampered.matches(hashes));

        // Committed by the harness (as on a BPJS peer), then read.
        l.call(PUSKESMAS_MSP, "RecordVisit", &["v1", NIK, "2026-11-20", "J06.9"])
            .unwrap();
        let read = l.call(BPJS_MSP, "GetVisitClinical", &["v1"]).unwrap();
        assert_eq!(read["diagnosis"], "J06.9");
        assert_eq!(read["collection"], "clinical-puskesmas");
        assert_eq!(
            l.call(PUSKESMAS_MSP, "GetVisitClinical", &["v1"]).unwrap()["diagnosis"],
            "J06.9"
        );
        // Another facility of the same organisation, and the hospital (no member), may not.
        assert_eq!(
            kind(l.call_as(invoker_at(PUSKESMAS_MSP, Some(PKM_B)), "GetVisitClinical", &["v1"])),
            "forbidden"
        );
        assert_eq!(kind(l.call(RUMAH_SAKIT_MSP, "GetVisitClinical", &["v1"])), "forbidden");
        let hash = l.call(RUMAH_SAKIT_MSP, "GetVisitClinicalHash", &["v1"]).unwrap();
        assert_eq!(hash["sha256"].as_str().unwrap().len(), 64);
        // A peer of a non-member organisation holds only hashes: BPJS asking it gets no
        // diagnosis, and the history it serves shows none.
        l.peer_msp = RUMAH_SAKIT_MSP;
        assert_eq!(kind(l.call(BPJS_MSP, "GetVisitClinical", &["v1"])), "forbidden");
        let history = l.call(BPJS_MSP, "GetPatientHistory", &[NIK]).unwrap();
        assert!(history[0].get("diagnosis").is_none(), "{history}");
        assert_eq!(l.call(BPJS_MSP, "GetVisitClinicalHash", &["v1"]).unwrap(), hash);
        l.peer_msp = BPJS_MSP;
        assert_eq!(
            l.call(BPJS_MSP, "GetPatientHistory", &[NIK]).unwrap()[0]["diagnosis"],
            "J06.9"
        );
    }
}
