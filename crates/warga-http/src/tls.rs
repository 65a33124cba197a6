//! TLS material for the HTTPS listener.
//!
//! Production configures `http.tls_cert_path` and `http.tls_key_path`. Without them warga
//! generates a self-signed certificate for localhost on first start, keeps it under
//! `data_dir/tls` (key readable by the owner only) and reuses it afterwards, so browsers and
//! clients can pin its SHA-256 fingerprint, which `warga up` prints.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use warga_config::Config;

use crate::EdgeError;

fn tls(message: String) -> EdgeError {
    EdgeError::Tls(message)
}

/// A ready server configuration and what to tell the operator about it.
pub struct TlsMaterial {
    pub server_config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate's DER, as colon-separated hex.
    pub fingerprint_sha256: String,
    pub cert_path: PathBuf,
    /// True when this start generated the certificate.
    pub generated: bool,
}

/// Loads the configured certificate, or the generated one (creating it when missing).
pub fn load_or_generate(config: &Config) -> Result<TlsMaterial, EdgeError> {
    let (cert_path, key_path, generated) = match (&config.http.tls_cert_path, &config.http.tls_key_path) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), false),
        _ => {
            let dir = config.data_dir.join("tls");
            let cert = dir.join("cert.pem");
            let key = dir.join("key.pem");
            let generated = if cert.exists() && key.exists() {
                false
            } else {
                generate_self_signed(&dir, &cert, &key, config.http.listen)?;
                true
            };
            (cert, key, generated)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| tls(format!("cannot read certificate {}: {e}", cert_path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls(format!("certificate {} is not valid PEM: {e}", cert_path.display())))?;
    let leaf = certs
        .first()
        .ok_or_else(|| tls(format!("no certificate in {}", cert_path.display())))?;
    let fingerprint_sha256 = fingerprint(leaf);
    match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, parsed)) => warga_telemetry::certificate_not_after("https", parsed.validity().not_after.timestamp()),
        Err(error) => tracing::warn!(%error, "the HTTPS certificate's expiry could not be read"),
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| tls(format!("cannot read private key {}: {e}", key_path.display())))?;
    let mut server_config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| tls(format!("certificate and key do not match: {e}")))?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        server_config: Arc::new(server_config),
        fingerprint_sha256,
        cert_path,
        generated,
    })
}

fn generate_self_signed(dir: &Path, cert: &Path, key: &Path, listen: SocketAddr) -> Result<(), EdgeError> {
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
        names.push(listen.ip().to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| tls(format!("cannot generate a self-signed certificate: {e}")))?;
    std::fs::create_dir_all(dir).map_err(|e| tls(format!("cannot create {}: {e}", dir.display())))?;
    write_private(key, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert, certified.cert.pem()).map_err(|e| tls(format!("cannot write {}: {e}", cert.display())))?;
    tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), EdgeError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|e| tls(format!("cannot write {}: {e}", path.display())))
}

/// SHA-256 fingerprint as `AB:CD:…`, the form browsers and `openssl x509 -fingerprint` show.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses_and_honours_configured_paths() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.data_dir = dir.path().to_path_buf();
        let first = load_or_generate(&config).unwrap();
        assert!(first.generated);
        let mode = std::fs::metadata(dir.path().join("tls/key.pem")).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "the key is private"
        );
        let again = load_or_generate(&config).unwrap();
        assert!(!again.generated);
        assert_eq!(again.fingerprint_sha256, first.fingerprint_sha256);
        assert_eq!(first.fingerprint_sha256.len(), 32 * 3 - 1);

        // A production certificate elsewhere, configured by path.
        let other = tempfile::tempdir().unwrap();
        let own = rcgen::generate_simple_self_signed(vec!["warga.example.go.id".to_owned()]).unwrap();
        std::fs::write(other.path().join("c.pem"), own.cert.pem()).unwrap();
        std::fs::write(other.path().join("k.pem"), own.signing_key.serialize_pem()).unwrap();
        let mut configured = config.clone();
        configured.http.tls_cert_path = Some(other.path().join("c.pem"));
        configured.http.tls_key_path = Some(other.path().join("k.pem"));
        let loaded = load_or_generate(&configured).unwrap();
        assert!(!loaded.generated);
        assert_eq!(loaded.fingerprint_sha256, fingerprint(own.cert.der()));

        configured.http.tls_key_path = Some(dir.path().join("tls/key.pem"));
        let mismatch = load_or_generate(&configured)
            .err()
            .expect("a key of another certificate is refused");
        assert!(format!("{mismatch:#}").contains("do not match"), "{mismatch:#}");
    }
}
