//! A node's TLS identity and whom it trusts, and who a caller is: the organisation whose TLS
//! CA *signed* the caller's certificate — checked with the CA's public key, never by
//! matching names, and remembered per certificate — so a certificate from an intermediate
//! CA (say, one an organisation minted with another's name) belongs to no organisation.
//! Shared by the orderers' and the peers' gRPC services and the participation API.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::{Request, Status};

/// A node's TLS material: its certificate and key, and the TLS CAs it trusts, by MSP id.
#[derive(Clone)]
pub struct TlsMaterial {
    pub certificate_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// MSP id → that organisation's TLS CA certificate (PEM).
    pub trusted: BTreeMap<String, Vec<u8>>,
    /// Which organisation each client certificate seen so far belongs to.
    callers: Arc<CallerCache>,
}

/// Client certificates already attributed (by SHA-256 of the DER), so the signature check
/// runs once per certificate, not once per call.
#[derive(Default)]
struct CallerCache {
    known: std::sync::Mutex<std::collections::HashMap<[u8; 32], Option<String>>>,
}

/// At most this many client certificates are remembered; past it the memory starts over.
const CALLERS_REMEMBERED: usize = 10_000;

impl TlsMaterial {
    /// A certificate and key (PEM) trusting these TLS CAs (MSP id → PEM).
    pub fn new(certificate_pem: Vec<u8>, key_pem: Vec<u8>, trusted: BTreeMap<String, Vec<u8>>) -> TlsMaterial {
        TlsMaterial {
            certificate_pem,
            key_pem,
            trusted,
            callers: Arc::default(),
        }
    }

    /// The TLS material of a node or user directory written by `crypto generate`
    /// (`dir/tls/server.*` for nodes, `dir/tls/client.*` for users), trusting the TLS CA of
    /// every organisation of `network`.
    pub fn from_crypto(
        network: &warga_ledger_core::network::Network,
        crypto: &std::path::Path,
        dir: &std::path::Path,
        server: bool,
    ) -> std::io::Result<TlsMaterial> {
        use warga_ledger_msp::generate::organization_dir;
        let read = |path: std::path::PathBuf| {
            std::fs::read(&path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        let orgs = network
            .organizations
            .iter()
            .map(|o| (&o.msp_id, &o.domain, false))
            .chain(std::iter::once((
                &network.orderer.organization.msp_id,
                &network.orderer.organization.domain,
                true,
            )));
        let mut trusted = BTreeMap::new();
        for (msp_id, domain, orderer) in orgs {
            let ca = organization_dir(crypto, orderer, domain).join(format!("tlsca/tlsca.{domain}-cert.pem"));
            trusted.insert(msp_id.clone(), read(ca)?);
        }
        let (cert, key) = if server {
            ("server.crt", "server.key")
        } else {
            ("client.crt", "client.key")
        };
        Ok(TlsMaterial::new(
            read(dir.join("tls").join(cert))?,
            read(dir.join("tls").join(key))?,
            trusted,
        ))
    }

    /// Every trusted TLS CA, concatenated (PEM).
    pub fn bundle(&self) -> Vec<u8> {
        self.trusted.values().flatten().copied().collect()
    }

    /// The organisation whose TLS CA signed `client` (DER), verified with each CA's public
    /// key; `None` when none did (e.g. a certificate from an intermediate CA). The TLS
    /// handshake has already checked the chain and the validity window; this decides whose
    /// it is. Remembered per certificate.
    pub fn organisation_of(&self, client: &[u8]) -> Option<String> {
        let digest = ring::digest::digest(&ring::digest::SHA256, client);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Ok(known) = self.callers.known.lock()
            && let Some(answer) = known.get(&key)
        {
            return answer.clone();
        }
        let answer = self.signing_organisation(client);
        if let Ok(mut known) = self.callers.known.lock() {
            if known.len() >= CALLERS_REMEMBERED {
                known.clear();
            }
            known.insert(key, answer.clone());
        }
        answer
    }

    fn signing_organisation(&self, client: &[u8]) -> Option<String> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(client).ok()?;
        let mut signers = self.trusted.iter().filter(|(_, pem)| {
            warga_ledger_msp::certificate_pem_to_der(pem)
                .ok()
                .and_then(|der| {
                    let (_, ca) = X509Certificate::from_der(&der).ok()?;
                    cert.verify_signature(Some(ca.public_key())).ok()
                })
                .is_some()
        });
        let (msp, _) = signers.next()?;
        // Two organisations sharing one TLS CA key would make the answer ambiguous: no one.
        signers.next().is_none().then(|| msp.clone())
    }
}

/// The DER of the caller's certificate.
pub(crate) fn client_certificate<T>(request: &Request<T>) -> Result<Vec<u8>, Status> {
    let certs = request
        .peer_certs()
        .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
    Ok(leaf.as_ref().to_vec())
}

/// The MSP id of the organisation whose TLS CA issued the caller's certificate.
pub fn caller<T>(tls: &TlsMaterial, request: &Request<T>) -> Result<String, Status> {
    let leaf = client_certificate(request)?;
    tls.organisation_of(&leaf)
        .ok_or_else(|| Status::permission_denied("the client certificate is from no known organisation"))
}
