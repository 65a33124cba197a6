//! The client side of the CA: admin tokens, and enroll/register/revoke calls.

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
