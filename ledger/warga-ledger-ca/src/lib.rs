//! An organisation's certificate authority over HTTPS, in the manner of Fabric CA.
//!
//! - `POST /api/v1/ca/register` (an admin of the organisation): a new enrollment id with a
//!   role and a one-time secret.
//! - `POST /api/v1/ca/enroll` (HTTP Basic with the enrollment id and secret): a certificate
//!   for the key of a PKCS#10 request; the subject and role are the CA's, not the request's.
//! - `POST /api/v1/ca/revoke` (an admin): revokes an enrollment id's certificates or one
//!   serial; the revocation list is signed anew.
//! - `GET /api/v1/ca/crl`: the current revocation list (DER); `GET /api/v1/ca/info`.
//!
//! Admins authenticate with a token signed by their enrollment certificate (as Fabric CA
//! does): `Authorization: WargaCA <base64 certificate DER>.<base64 signature>` over
//! `METHOD \n PATH \n TIMESTAMP \n hex(SHA-256(body))`, with `X-Warga-Timestamp` within five
//! minutes. The CA's state (registrations, issued serials, revocations) is one JSON file
//! next to its key, replaced atomically on every change.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod client;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use warga_ledger_core::policy::MspRole;
use warga_ledger_msp::{Msp, certificate_pem_to_der};
use x509_parser::prelude::FromDer;

/// How far an admin token's timestamp may be from the CA's clock, in seconds.
pub const TOKEN_SKEW_S: i64 = 300;
/// Largest request body, in bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for CaError {
    fn into_response(self) -> Response {
        let (status, slug, field) = match &self {
            CaError::Invalid { field, .. } => (StatusCode::BAD_REQUEST, "validation", Some(*field)),
            CaError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            CaError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None),
            CaError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", None),
            CaError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            CaError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        let detail = match &self {
            CaError::Internal(error) => {
                tracing::error!(%error, "certificate authority failed");
                "internal error".to_owned()
            }
            CaError::Invalid { detail, .. } => detail.clone(),
            other => other.to_string(),
        };
        let mut body = serde_json::json!({
            "type": format!("urn:warga:problem:{slug}"),
            "title": status.canonical_reason().unwrap_or(""),
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Some(field) = field {
            body["field"] = field.into();
        }
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Registration {
    role: MspRole,
    /// Written into every certificate enrolled for this id, beside `hf.EnrollmentID` and
    /// `hf.Type` (as Fabric CA does).
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    secret_sha256: String,
    enrollments_left: u32,
    registered_by: String,
    registered_at_s: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Issued {
    serial: String,
    enrollment_id: String,
    issued_at_s: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Revoked {
    serial: String,
    revoked_at_s: i64,
    revoked_by: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct CaState {
    registrations: BTreeMap<String, Registration>,
    issued: Vec<Issued>,
    revoked: Vec<Revoked>,
    crl_number: u64,
}

/// A running CA's configuration: the organisation and where its key and state are.
#[derive(Clone, Debug)]
pub struct CaConfig {
    pub msp_id: String,
    pub domain: String,
    /// Whether this is the orderer organisation's CA — the only one that issues the
    /// orderer role (an application organisation's "orderer" would sign no block anyway).
    pub orderer_organization: bool,
    /// The organisation's directory from `warga ledger crypto generate`.
    pub org_dir: PathBuf,
    /// More DNS names its HTTPS certificate carries: the host of the organisation's
    /// `ca_url` in the network file, where nodes and gateways reach it (a Kubernetes
    /// Service's name, say), beside `ca.<domain>` and `localhost`.
    pub dns_names: Vec<String>,
}

struct Inner {
    config: CaConfig,
    ca_certificate_pem: String,
    ca_key_pem: String,
    state_path: PathBuf,
    state: Mutex<CaState>,
}

/// The CA service.
#[derive(Clone)]
pub struct Ca(Arc<Inner>);

fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn internal(error: impl std::fmt::Display) -> CaError {
    CaError::Internal(error.to_string())
}

impl Ca {
    /// Opens the CA of `config.org_dir` (its `ca/` key and certificate, and `ca/state.json`).
    pub fn open(config: CaConfig) -> Result<Ca, CaError> {
        let ca_dir = config.org_dir.join("ca");
        let cert_path = ca_dir.join(format!("ca.{}-cert.pem", config.domain));
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).map_err(|e| internal(format!("cannot read {}: {e}", path.display())))
        };
        let ca_certificate_pem = read(&cert_path)?;
        let ca_key_pem = read(&ca_dir.join("priv_sk"))?;
        let state_path = ca_dir.join("state.json");
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| internal(format!("{} is not readable: {e}", state_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CaState::default(),
            Err(e) => return Err(internal(e)),
        };
        Ok(Ca(Arc::new(Inner {
            config,
            ca_certificate_pem,
            ca_key_pem,
            state_path,
            state: Mutex::new(state),
        })))
    }

    /// The routes of the CA.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/ca/info", get(info))
            .route("/api/v1/ca/crl", get(crl))
            .route("/api/v1/ca/register", post(register))
            .route("/api/v1/ca/enroll", post(enroll))
            .route("/api/v1/ca/revoke", post(revoke))
            .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
            .with_state(self.clone())
    }

    /// Serves the CA over HTTPS on `listener` (its certificate from the organisation's TLS
    /// CA, naming the listener's address) until `shutdown`, then lets requests in flight
    /// finish for up to five seconds.
    pub async fn serve(
        &self,
        listener: std::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), CaError> {
        let local = listener.local_addr().map_err(internal)?;
        let (cert, key) = self.tls_server_certificate(&[local.ip()])?;
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(cert.into_bytes(), key.into_bytes())
            .await
            .map_err(internal)?;
        listener.set_nonblocking(true).map_err(internal)?;
        let handle = axum_server::Handle::new();
        let stop = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        });
        let acceptor =
            axum_server::tls_rustls::RustlsAcceptor::new(tls).acceptor(axum_server::accept::NoDelayAcceptor::new());
        axum_server::from_tcp(listener)
            .map_err(internal)?
            .acceptor(acceptor)
            .handle(handle)
            .serve(self.router().into_make_service())
            .await
            .map_err(internal)
    }

    /// The CA certificate (PEM).
    pub fn certificate_pem(&self) -> &str {
        &self.0.ca_certificate_pem
    }

    /// A server certificate and key (PEM) for the CA's own HTTPS, issued by the
    /// organisation's TLS CA for `ca.<domain>`, `localhost` and `ips`.
    pub fn tls_server_certificate(&self, ips: &[std::net::IpAddr]) -> Result<(String, String), CaError> {
        let tlsca = self.0.config.org_dir.join("tlsca");
        let cert = std::fs::read_to_string(tlsca.join(format!("tlsca.{}-cert.pem", self.0.config.domain)))
            .map_err(internal)?;
        let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(tlsca.join("priv_sk")).map_err(internal)?)
            .map_err(internal)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&cert, key).map_err(internal)?;
        let host = format!("ca.{}", self.0.config.domain);
        let mut params = warga_ledger_msp::generate::identity_params(
            &self.0.config.domain,
            &host,
            None,
            &BTreeMap::new(),
            time::OffsetDateTime::now_utc(),
        )
        .map_err(internal)?;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let mut sans = vec![
            rcgen::SanType::DnsName(host.try_into().map_err(internal)?),
            rcgen::SanType::DnsName("localhost".try_into().map_err(internal)?),
        ];
        for name in &self.0.config.dns_names {
            sans.push(rcgen::SanType::DnsName(name.clone().try_into().map_err(internal)?));
        }
        sans.extend(ips.iter().map(|ip| rcgen::SanType::IpAddress(*ip)));
        params.subject_alt_names = sans;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(internal)?;
        let certificate = params.signed_by(&key, &issuer).map_err(internal)?;
        Ok((certificate.pem(), key.serialize_pem()))
    }

    fn msp(&self, state: &CaState) -> Result<Msp, CaError> {
        let ca_der = certificate_pem_to_der(self.0.ca_certificate_pem.as_bytes()).map_err(internal)?;
        let mut msp = Msp::new(self.0.config.msp_id.clone(), ca_der).map_err(internal)?;
        if !state.revoked.is_empty() {
            msp.apply_revocation_list(&self.revocation_list(state)?)
                .map_err(internal)?;
        }
        Ok(msp)
    }

    fn revocation_list(&self, state: &CaState) -> Result<Vec<u8>, CaError> {
        let serials: Vec<String> = state.revoked.iter().map(|r| r.serial.clone()).collect();
        warga_ledger_msp::revocation_list(
            &self.0.ca_certificate_pem,
            &self.0.ca_key_pem,
            &serials,
            state.crl_number.max(1),
            time::OffsetDateTime::now_utc(),
        )
        .map_err(internal)
    }

    /// Writes the state: a temporary file, flushed, then renamed over the old one.
    fn save(&self, state: &CaState) -> Result<(), CaError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(internal)?;
        let temporary = self.0.state_path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary).map_err(internal)?;
            file.write_all(&bytes).map_err(internal)?;
            file.sync_all().map_err(internal)?;
        }
        std::fs::rename(&temporary, &self.0.state_path).map_err(internal)
    }

    /// The admin behind a signed token, or why not.
    fn admin(
        &self,
        state: &CaState,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, CaError> {
        let unauthorized = |why: &str| CaError::Unauthorized(format!("admin token refused: {why}"));
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("WargaCA "))
            .ok_or_else(|| unauthorized("missing"))?;
        let timestamp: i64 = headers
            .get("x-warga-timestamp")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| unauthorized("no X-Warga-Timestamp"))?;
        if (now_s() - timestamp).abs() > TOKEN_SKEW_S {
            return Err(unauthorized("timestamp too far from the CA's clock"));
        }
        let (cert, signature) = token.split_once('.').ok_or_else(|| unauthorized("malformed"))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let cert = b64.decode(cert).map_err(|_| unauthorized("malformed"))?;
        let signature = b64.decode(signature).map_err(|_| unauthorized("malformed"))?;
        let identity = self
            .msp(state)?
            .validate(&cert, now_s())
            .map_err(|e| unauthorized(&e.to_string()))?;
        identity
            .verify(
                client::token_message(method.as_str(), path, timestamp, body).as_bytes(),
                &signature,
            )
            .map_err(|_| unauthorized("the signature does not verify"))?;
        if identity.role != MspRole::Admin {
            return Err(CaError::Forbidden(format!("{} is not an admin", identity.common_name)));
        }
        Ok(identity.common_name)
    }
}

async fn info(State(ca): State<Ca>) -> Response {
    axum::Json(serde_json::json!({
        "msp_id": ca.0.config.msp_id,
        "ca_certificate": ca.0.ca_certificate_pem,
    }))
    .into_response()
}

async fn crl(State(ca): State<Ca>) -> Result<Response, CaError> {
    let state = ca.0.state.lock().await;
    let der = ca.revocation_list(&state)?;
    let mut response = der.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/pkix-crl"),
    );
    Ok(response)
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, CaError> {
    serde_json::from_slice(body).map_err(|e| CaError::Invalid {
        field: "body",
        detail: format!("invalid JSON: {e}"),
    })
}

/// A new enrollment id.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub enrollment_id: String,
    /// `client`, `peer`, `orderer` or `admin`.
    pub role: MspRole,
    /// At least 16 characters; absent: the CA makes one.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub max_enrollments: Option<u32>,
    /// Attributes for the certificates of this id, e.g. `{"facility": "P3578010"}` (names
    /// beginning `hf.` are the CA's own).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

async fn register(State(ca): State<Ca>, method: Method, headers: HeaderMap, body: Bytes) -> Result<Response, CaError> {
    let mut state = ca.0.state.lock().await;
    let admin = ca.admin(&state, &method, "/api/v1/ca/register", &headers, &body)?;
    let request: RegisterRequest = parse(&body)?;
    let id = request.enrollment_id.trim();
    let id_ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if !id_ok {
        return Err(CaError::Invalid {
            field: "enrollment_id",
            detail: "must be 1–64 of A–Z, a–z, 0–9, '-', '_', '.', '@'".into(),
        });
    }
    if request.role == MspRole::Member {
        return Err(CaError::Invalid {
            field: "role",
            detail: "client, peer, orderer or admin".into(),
        });
    }
    if request.role == MspRole::Orderer && !ca.0.config.orderer_organization {
        return Err(CaError::Invalid {
            field: "role",
            detail: "only the orderer organisation's CA issues the orderer role".into(),
        });
    }
    if request.attributes.keys().any(|name| name.starts_with("hf.")) {
        return Err(CaError::Invalid {
            field: "attributes",
            detail: "names beginning 'hf.' are the CA's own".into(),
        });
    }
    let mut attributes = request.attributes.clone();
    attributes.insert("hf.EnrollmentID".into(), id.to_owned());
    attributes.insert("hf.Type".into(), request.role.as_str().to_owned());
    warga_ledger_msp::attributes::check_all(&attributes).map_err(|detail| CaError::Invalid {
        field: "attributes",
        detail,
    })?;
    let secret = match request.secret {
        Some(secret) if secret.chars().count() >= 16 => secret,
        Some(_) => {
            return Err(CaError::Invalid {
                field: "secret",
                detail: "at least 16 characters".into(),
            });
        }
        None => {
            // Hex: safe on any command line (a secret starting with '-' would read as a flag).
            let mut bytes = [0u8; 18];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| internal("no randomness"))?;
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        }
    };
    if state.registrations.contains_key(id) {
        return Err(CaError::Conflict(format!("{id} is already registered")));
    }
    let max = request.max_enrollments.unwrap_or(1);
    if !(1..=100).contains(&max) {
        return Err(CaError::Invalid {
            field: "max_enrollments",
            detail: "1 to 100".into(),
        });
    }
    state.registrations.insert(
        id.to_owned(),
        Registration {
            role: request.role,
            attributes,
            secret_sha256: sha256_hex(secret.as_bytes()),
            enrollments_left: max,
            registered_by: admin.clone(),
            registered_at_s: now_s(),
        },
    );
    ca.save(&state)?;
    tracing::info!(enrollment_id = id, role = request.role.as_str(), by = %admin, "identity registered");
    Ok((
        StatusCode::CREATED,
        axum::Json(serde_json::json!({ "enrollment_id": id, "secret": secret })),
    )
        .into_response())
}

/// A certificate request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// PKCS#10, PEM, for an ECDSA P-256 key.
    pub csr: String,
}

async fn enroll(State(ca): State<Ca>, headers: HeaderMap, body: Bytes) -> Result<Response, CaError> {
    let unauthorized = || CaError::Unauthorized("enrollment id or secret not accepted".into());
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .ok_or_else(unauthorized)?;
    let (id, secret) = basic.split_once(':').ok_or_else(unauthorized)?;
    let request: EnrollRequest = parse(&body)?;
    let invalid_csr = |detail: String| CaError::Invalid { field: "csr", detail };
    let csr_der = x509_parser::pem::parse_x509_pem(request.csr.as_bytes())
        .map_err(|e| invalid_csr(format!("not PEM: {e}")))?
        .1
        .contents;
    let (_, parsed) = x509_parser::certification_request::X509CertificationRequest::from_der(&csr_der)
        .map_err(|e| invalid_csr(format!("not a PKCS#10 request: {e}")))?;
    parsed
        .verify_signature()
        .map_err(|_| invalid_csr("its signature does not verify".into()))?;
    let algorithm = &parsed.certification_request_info.subject_pki.algorithm;
    let p256 = algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        && algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|oid| oid == x509_parser::oid_registry::OID_EC_P256);
    if !p256 {
        return Err(invalid_csr("the key must be ECDSA P-256".into()));
    }
    let csr = rcgen::CertificateSigningRequestParams::from_der(&csr_der.clone().into())
        .map_err(|e| invalid_csr(e.to_string()))?;

    let mut state = ca.0.state.lock().await;
    let registration = state.registrations.get_mut(id).ok_or_else(unauthorized)?;
    let presented = sha256_hex(secret.as_bytes());
    if !warga_auth::constant_time_eq(presented.as_bytes(), registration.secret_sha256.as_bytes()) {
        return Err(unauthorized());
    }
    if registration.enrollments_left == 0 {
        return Err(CaError::Forbidden(format!("{id} has no enrollments left")));
    }
    registration.enrollments_left -= 1;
    let role = registration.role;
    let params = warga_ledger_msp::generate::identity_params(
        &ca.0.config.domain,
        id,
        Some(role),
        &registration.attributes,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(internal)?;
    let key = rcgen::KeyPair::from_pem(&ca.0.ca_key_pem).map_err(internal)?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca.0.ca_certificate_pem, key).map_err(internal)?;
    let certificate = params.signed_by(&csr.public_key, &issuer).map_err(internal)?;
    let (_, issued) = x509_parser::prelude::X509Certificate::from_der(certificate.der()).map_err(internal)?;
    state.issued.push(Issued {
        serial: issued.raw_serial_as_string().replace(':', ""),
        enrollment_id: id.to_owned(),
        issued_at_s: now_s(),
    });
    ca.save(&state)?;
    tracing::info!(enrollment_id = id, role = role.as_str(), "identity enrolled");
    Ok((
        StatusCode::CREATED,
        axum::Json(serde_json::json!({
            "certificate": certificate.pem(),
            "ca_certificate": ca.0.ca_certificate_pem,
        })),
    )
        .into_response())
}

/// What to revoke: every certificate of an enrollment id, or one serial.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    #[serde(default)]
    pub enrollment_id: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
}

async fn revoke(State(ca): State<Ca>, method: Method, headers: HeaderMap, body: Bytes) -> Result<Response, CaError> {
    let mut state = ca.0.state.lock().await;
    let admin = ca.admin(&state, &method, "/api/v1/ca/revoke", &headers, &body)?;
    let request: RevokeRequest = parse(&body)?;
    let serials: Vec<String> = match (&request.enrollment_id, &request.serial) {
        (Some(id), None) => {
            let registration = state
                .registrations
                .get_mut(id.as_str())
                .ok_or_else(|| CaError::NotFound(format!("{id} is not registered")))?;
            registration.enrollments_left = 0;
            state
                .issued
                .iter()
                .filter(|i| &i.enrollment_id == id)
                .map(|i| i.serial.clone())
                .collect()
        }
        (None, Some(serial)) => {
            let serial = serial.replace(':', "").to_ascii_lowercase();
            if !state.issued.iter().any(|i| i.serial == serial) {
                return Err(CaError::NotFound(format!("this CA issued no certificate {serial}")));
            }
            vec![serial]
        }
        _ => {
            return Err(CaError::Invalid {
                field: "enrollment_id",
                detail: "give an enrollment_id or a serial".into(),
            });
        }
    };
    let fresh: Vec<String> = serials
        .into_iter()
        .filter(|s| !state.revoked.iter().any(|r| &r.serial == s))
        .collect();
    for serial in &fresh {
        state.revoked.push(Revoked {
            serial: serial.clone(),
            revoked_at_s: now_s(),
            revoked_by: admin.clone(),
        });
    }
    state.crl_number += 1;
    ca.save(&state)?;
    tracing::info!(count = fresh.len(), by = %admin, "certificates revoked");
    Ok(axum::Json(serde_json::json!({ "revoked": fresh, "crl_number": state.crl_number })).into_response())
}
