//! The client side of the CA: admin tokens, certificate requests, and [`CaClient`] for
//! the register, enroll, revoke and revocation-list calls over HTTPS.

use base64::Engine;
use warga_ledger_msp::SigningIdentity;

/// What an admin token signs.
pub fn token_message(method: &str, path: &str, timestamp_s: i64, body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{method}\n{path}\n{timestamp_s}\n{hex}")
}

/// The `Authorization` and `X-Warga-Timestamp` header values of an admin's request.
pub fn admin_token(
    admin: &SigningIdentity,
    method: &str,
    path: &str,
    timestamp_s: i64,
    body: &[u8],
) -> Result<(String, String), warga_ledger_msp::MspError> {
    let signature = admin.sign(token_message(method, path, timestamp_s, body).as_bytes())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok((
        format!(
            "WargaCA {}.{}",
            b64.encode(&admin.certificate_der),
            b64.encode(signature)
        ),
        timestamp_s.to_string(),
    ))
}

/// A new P-256 key and a PKCS#10 request for it: (request PEM, PKCS#8 key PEM).
pub fn certificate_request(common_name: &str) -> Result<(String, String), rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    let csr = params.serialize_request(&key)?;
    Ok((csr.pem()?, key.serialize_pem()))
}

/// Why a call to a CA failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the CA's TLS certificate: {0}")]
    Tls(String),
    #[error("cannot reach the CA: {0}")]
    Transport(String),
    /// The CA answered with an error: its status and problem detail.
    #[error("the CA refused ({status}): {detail}")]
    Refused { status: u16, detail: String },
    #[error("signing the admin token: {0}")]
    Sign(#[from] warga_ledger_msp::MspError),
    #[error("a certificate request: {0}")]
    Request(#[from] rcgen::Error),
}

/// What enrolment returns: the new key (PKCS#8 PEM, never sent), its certificate and the
/// CA's certificate.
pub struct Enrolled {
    pub key_pem: String,
    pub certificate_pem: String,
    pub ca_certificate_pem: String,
}

/// A client of one CA over HTTPS, trusting exactly that CA's TLS certificate.
pub struct CaClient {
    url: String,
    http: reqwest::Client,
}

impl CaClient {
    /// A client of the CA at `url` (e.g. `https://127.0.0.1:7054`) whose TLS certificate is
    /// issued by `tls_ca_pem`; each call gives up after `timeout`.
    pub fn new(url: &str, tls_ca_pem: &[u8], timeout: std::time::Duration) -> Result<CaClient, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        let der = warga_ledger_msp::certificate_pem_to_der(tls_ca_pem).map_err(|e| ClientError::Tls(e.to_string()))?;
        roots.add(der.into()).map_err(|e| ClientError::Tls(e.to_string()))?;
        let tls =
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| ClientError::Tls(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .build()
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        Ok(CaClient {
            url: url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// Registers `enrollment_id` with `role` and the certificate `attributes` (e.g. its
    /// `facility`), as the organisation's `admin`; returns the one-time enrolment secret.
    pub async fn register(
        &self,
        admin: &SigningIdentity,
        enrollment_id: &str,
        role: &str,
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, ClientError> {
        let body = serde_json::json!({ "enrollment_id": enrollment_id, "role": role, "attributes": attributes });
        let answer = self.admin_call(admin, "/api/v1/ca/register", &body).await?;
        Ok(answer["secret"].as_str().unwrap_or_default().to_owned())
    }

    /// As [`CaClient::register`], with the enrolment secret chosen by the caller (at least
    /// 16 characters) and up to `max_enrollments` enrolments with it — for a registrar that
    /// derives the secret and may have to enrol again after a crash.
    pub async fn register_with_secret(
        &self,
        admin: &SigningIdentity,
        enrollment_id: &str,
        role: &str,
        attributes: &std::collections::BTreeMap<String, String>,
        secret: &str,
        max_enrollments: u32,
    ) -> Result<(), ClientError> {
        let body = serde_json::json!({
            "enrollment_id": enrollment_id,
            "role": role,
            "attributes": attributes,
            "secret": secret,
            "max_enrollments": max_enrollments,
        });
        self.admin_call(admin, "/api/v1/ca/register", &body).await?;
        Ok(())
    }

    /// Revokes `enrollment_id`'s certificates, as the organisation's `admin`; returns
    /// whether anything was newly revoked.
    pub async fn revoke(&self, admin: &SigningIdentity, enrollment_id: &str) -> Result<serde_json::Value, ClientError> {
        let body = serde_json::json!({ "enrollment_id": enrollment_id });
        let answer = self.admin_call(admin, "/api/v1/ca/revoke", &body).await?;
        Ok(answer["revoked"].clone())
    }

    /// Enrolls `enrollment_id` with its secret: a new key made here, a certificate for it
    /// from the CA.
    pub async fn enroll(&self, enrollment_id: &str, secret: &str) -> Result<Enrolled, ClientError> {
        let (csr, key_pem) = certificate_request(enrollment_id)?;
        let (certificate_pem, ca_certificate_pem) = self.enroll_request(enrollment_id, secret, &csr).await?;
        Ok(Enrolled {
            key_pem,
            certificate_pem,
            ca_certificate_pem,
        })
    }

    /// Enrolls `enrollment_id` with its secret for the key of `csr` (PKCS#10, PEM) — a key
    /// held elsewhere, which never comes here; returns the certificate and the CA's
    /// certificate (PEM).
    pub async fn enroll_request(
        &self,
        enrollment_id: &str,
        secret: &str,
        csr: &str,
    ) -> Result<(String, String), ClientError> {
        let response = self
            .http
            .post(format!("{}/api/v1/ca/enroll", self.url))
            .basic_auth(enrollment_id, Some(secret))
            .json(&serde_json::json!({ "csr": csr }))
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let enrolled = answer(response).await?;
        Ok((
            enrolled["certificate"].as_str().unwrap_or_default().to_owned(),
            enrolled["ca_certificate"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    /// The CA's current revocation list (DER), as published at `GET /api/v1/ca/crl`. Its
    /// signature is the reader's to check (an [`warga_ledger_msp::Msp`] does, on applying it).
    pub async fn revocation_list(&self) -> Result<Vec<u8>, ClientError> {
        let response = self
            .http
            .get(format!("{}/api/v1/ca/crl", self.url))
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClientError::Refused {
                status: status.as_u16(),
                detail: "the revocation list".into(),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(bytes.to_vec())
    }

    async fn admin_call(
        &self,
        admin: &SigningIdentity,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Transport(e.to_string()))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (authorization, timestamp) = admin_token(admin, "POST", path, now, &bytes)?;
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("authorization", authorization)
            .header("x-warga-timestamp", timestamp)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        answer(response).await
    }
}

/// The JSON body of a success, or the refusal with the problem's detail.
async fn answer(response: reqwest::Response) -> Result<serde_json::Value, ClientError> {
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        Err(ClientError::Refused {
            status: status.as_u16(),
            detail: body["detail"].as_str().unwrap_or_default().to_owned(),
        })
    }
}
