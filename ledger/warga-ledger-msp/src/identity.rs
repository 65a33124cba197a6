//! Identities: validation against an organisation's CA, signing and verifying.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use warga_ledger_core::policy::{MspRole, Signer};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why an identity or a signature is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MspError {
    #[error("not a readable X.509 certificate: {0}")]
    Malformed(String),
    #[error("the certificate was not issued by {msp_id}'s CA")]
    UnknownIssuer { msp_id: String },
    #[error("the certificate has expired (not after {not_after})")]
    Expired { not_after: i64 },
    #[error("the certificate is not valid yet (not before {not_before})")]
    NotYetValid { not_before: i64 },
    #[error("the certificate {serial} is revoked")]
    Revoked { serial: String },
    #[error("the certificate names no role (OU admin, peer, orderer or client)")]
    NoRole,
    #[error("a CA certificate cannot act as an identity")]
    CaAsIdentity,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("a private key that cannot be used: {0}")]
    Key(String),
    #[error("the revocation list is not signed by {msp_id}'s CA")]
    BadRevocationList { msp_id: String },
}

/// A validated identity: who, in which organisation, in which role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub msp_id: String,
    pub role: MspRole,
    /// The subject's common name, e.g. `peer0.bpjs.warga.local` or `Admin@bpjs.warga.local`.
    pub common_name: String,
    /// The serial number, hex as in revocation lists.
    pub serial: String,
    /// SHA-256 of the certificate, hex: the identity's stable id.
    pub id: String,
    pub certificate_der: Vec<u8>,
    /// Attributes the CA wrote into the certificate (see [`crate::attributes`]).
    pub attributes: BTreeMap<String, String>,
    /// The certificate's public key (an uncompressed P-256 point), read once at validation.
    pub public_key: Vec<u8>,
}

impl Identity {
    /// The identity as a contract sees its invoker.
    pub fn invoker(&self) -> warga_ledger_core::chaincode::Invoker {
        warga_ledger_core::chaincode::Invoker {
            msp_id: self.msp_id.clone(),
            role: self.role,
            common_name: self.common_name.clone(),
            id: self.id.clone(),
            attributes: self.attributes.clone(),
        }
    }

    /// The identity as endorsement policies see it.
    pub fn as_signer(&self) -> Signer {
        Signer {
            id: self.id.clone(),
            msp_id: self.msp_id.clone(),
            roles: vec![self.role],
        }
    }

    /// Verifies an ECDSA P-256/SHA-256 signature (ASN.1 DER) made by this identity.
    pub fn verify(&self, message: &[u8], signature_der: &[u8]) -> Result<(), MspError> {
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &self.public_key)
            .verify(message, signature_der)
            .map_err(|_| MspError::BadSignature)
    }
}

/// Verifies an ECDSA P-256/SHA-256 signature with the key of `certificate_der`, whatever
/// the certificate's standing (a client checking what its gateway returned; validators
/// judge membership themselves).
pub fn verify_with_certificate(certificate_der: &[u8], message: &[u8], signature_der: &[u8]) -> Result<(), MspError> {
    let (_, cert) = X509Certificate::from_der(certificate_der).map_err(|e| MspError::Malformed(e.to_string()))?;
    UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        cert.public_key().subject_public_key.data.as_ref(),
    )
    .verify(message, signature_der)
    .map_err(|_| MspError::BadSignature)
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// When the certificate (DER) expires, seconds since the epoch.
pub fn not_after(certificate_der: &[u8]) -> Result<i64, MspError> {
    let (_, cert) = X509Certificate::from_der(certificate_der).map_err(|e| MspError::Malformed(e.to_string()))?;
    Ok(cert.validity().not_after.timestamp())
}

/// The PEM certificate's DER bytes.
pub fn certificate_pem_to_der(pem: &[u8]) -> Result<Vec<u8>, MspError> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| MspError::Malformed(e.to_string()))?;
    if parsed.label != "CERTIFICATE" {
        return Err(MspError::Malformed(format!(
            "a PEM {} block, not a CERTIFICATE",
            parsed.label
        )));
    }
    Ok(parsed.contents)
}

/// One organisation's membership: its CA and the serials it revoked.
///
/// Certificates found issued by the CA and carrying a role are remembered by their SHA-256
/// (as Fabric's MSP caches deserialised identities), so a certificate seen in every
/// transaction costs one signature check once; the validity window and revocation are
/// checked on every use. Clones share what they remember.
#[derive(Clone, Debug)]
pub struct Msp {
    pub msp_id: String,
    ca_der: Vec<u8>,
    revoked: BTreeSet<String>,
    checked: Arc<RwLock<HashMap<[u8; 32], Checked>>>,
}

/// What does not change about a certificate once the CA's signature on it verified.
#[derive(Clone, Debug)]
struct Checked {
    identity: Identity,
    not_before: i64,
    not_after: i64,
}

/// Certificates remembered per organisation before the memory starts over.
const CHECKED_MAX: usize = 4096;

impl Msp {
    /// An MSP trusting the CA certificate `ca_der`.
    pub fn new(msp_id: impl Into<String>, ca_der: Vec<u8>) -> Result<Msp, MspError> {
        let (_, ca) = X509Certificate::from_der(&ca_der).map_err(|e| MspError::Malformed(e.to_string()))?;
        if !ca.is_ca() {
            return Err(MspError::Malformed("the trusted certificate is not a CA".into()));
        }
        Ok(Msp {
            msp_id: msp_id.into(),
            ca_der,
            revoked: BTreeSet::new(),
            checked: Arc::default(),
        })
    }

    /// Adopts a revocation list (DER) after checking the CA signed it.
    pub fn apply_revocation_list(&mut self, crl_der: &[u8]) -> Result<usize, MspError> {
        let (_, ca) = X509Certificate::from_der(&self.ca_der).map_err(|e| MspError::Malformed(e.to_string()))?;
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl_der)
            .map_err(|e| MspError::Malformed(e.to_string()))?;
        if crl.issuer() != ca.subject() || crl.verify_signature(ca.public_key()).is_err() {
            return Err(MspError::BadRevocationList {
                msp_id: self.msp_id.clone(),
            });
        }
        let before = self.revoked.len();
        self.revoked.extend(
            crl.iter_revoked_certificates()
                .map(|r| r.raw_serial_as_string().replace(':', "")),
        );
        Ok(self.revoked.len() - before)
    }

    /// How many serials this MSP holds for revoked.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// Validates a certificate (DER) as an identity of this organisation at `now_s` (Unix
    /// seconds): issued and signed by the CA, within its validity, not revoked, with a role.
    pub fn validate(&self, certificate_der: &[u8], now_s: i64) -> Result<Identity, MspError> {
        self.validate_with(certificate_der, Some(now_s))
    }

    /// As [`Msp::validate`] without the validity window: issuer, signature, role and
    /// revocation — what commit-time validation checks.
    pub fn validate_timeless(&self, certificate_der: &[u8]) -> Result<Identity, MspError> {
        self.validate_with(certificate_der, None)
    }

    fn validate_with(&self, certificate_der: &[u8], now_s: Option<i64>) -> Result<Identity, MspError> {
        let digest = digest(certificate_der);
        let remembered = self.checked.read().ok().and_then(|m| m.get(&digest).cloned());
        let checked = match remembered {
            Some(checked) => checked,
            None => {
                let checked = self.check(certificate_der)?;
                if let Ok(mut memory) = self.checked.write() {
                    if memory.len() >= CHECKED_MAX {
                        memory.clear();
                    }
                    memory.insert(digest, checked.clone());
                }
                checked
            }
        };
        if let Some(now_s) = now_s {
            if now_s > checked.not_after {
                return Err(MspError::Expired {
                    not_after: checked.not_after,
                });
            }
            if now_s < checked.not_before {
                return Err(MspError::NotYetValid {
                    not_before: checked.not_before,
                });
            }
        }
        if self.revoked.contains(&checked.identity.serial) {
            return Err(MspError::Revoked {
                serial: checked.identity.serial,
            });
        }
        Ok(checked.identity)
    }

    /// The public key of a certificate this MSP validated before, if it did.
    fn remembered_key(&self, certificate_der: &[u8]) -> Option<Vec<u8>> {
        let memory = self.checked.read().ok()?;
        memory
            .get(&digest(certificate_der))
            .map(|c| c.identity.public_key.clone())
    }

    /// The checks that do not depend on time or revocation: issuer, signature, not a CA, role.
    fn check(&self, certificate_der: &[u8]) -> Result<Checked, MspError> {
        let (_, ca) = X509Certificate::from_der(&self.ca_der).map_err(|e| MspError::Malformed(e.to_string()))?;
        let (_, cert) = X509Certificate::from_der(certificate_der).map_err(|e| MspError::Malformed(e.to_string()))?;
        let unknown = || MspError::UnknownIssuer {
            msp_id: self.msp_id.clone(),
        };
        if cert.issuer() != ca.subject() {
            return Err(unknown());
        }
        cert.verify_signature(Some(ca.public_key())).map_err(|_| unknown())?;
        if cert.is_ca() {
            return Err(MspError::CaAsIdentity);
        }
        let validity = cert.validity();
        let serial = cert.raw_serial_as_string().replace(':', "");
        let role = cert
            .subject()
            .iter_organizational_unit()
            .filter_map(|ou| ou.as_str().ok())
            .find_map(|ou| match MspRole::parse(ou) {
                Some(MspRole::Member) | None => None,
                Some(role) => Some(role),
            })
            .ok_or(MspError::NoRole)?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .next()
            .unwrap_or_default()
            .to_owned();
        let attributes = match cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == crate::attributes::OID_DOTTED)
        {
            Some(extension) => crate::attributes::decode(extension.value)?,
            None => BTreeMap::new(),
        };
        Ok(Checked {
            identity: Identity {
                msp_id: self.msp_id.clone(),
                role,
                common_name,
                serial,
                id: hex(&digest(certificate_der)),
                certificate_der: certificate_der.to_vec(),
                attributes,
                public_key: cert.public_key().subject_public_key.data.to_vec(),
            },
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }
}

/// A certificate with its private key (PKCS#8), able to sign.
pub struct SigningIdentity {
    pub msp_id: String,
    pub certificate_der: Vec<u8>,
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("msp_id", &self.msp_id)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SigningIdentity {
    /// From PEM files' contents: the certificate and a PKCS#8 `PRIVATE KEY`.
    pub fn from_pem(msp_id: impl Into<String>, certificate_pem: &[u8], key_pem: &[u8]) -> Result<Self, MspError> {
        let certificate_der = certificate_pem_to_der(certificate_pem)?;
        let (_, key) = x509_parser::pem::parse_x509_pem(key_pem).map_err(|e| MspError::Key(e.to_string()))?;
        if key.label != "PRIVATE KEY" {
            return Err(MspError::Key(format!(
                "a PEM {} block, not a PKCS#8 PRIVATE KEY",
                key.label
            )));
        }
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &key.contents, &rng)
            .map_err(|e| MspError::Key(e.to_string()))?;
        let (_, cert) = X509Certificate::from_der(&certificate_der).map_err(|e| MspError::Malformed(e.to_string()))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key().as_ref() {
            return Err(MspError::Key("the key does not belong to the certificate".into()));
        }
        Ok(SigningIdentity {
            msp_id: msp_id.into(),
            certificate_der,
            key,
        })
    }

    /// The identity as transactions carry it.
    pub fn creator(&self) -> warga_ledger_core::tx::Creator {
        warga_ledger_core::tx::Creator {
            msp_id: self.msp_id.clone(),
            certificate: self.certificate_der.clone(),
        }
    }

    /// An ECDSA P-256/SHA-256 signature (ASN.1 DER) over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, MspError> {
        let rng = ring::rand::SystemRandom::new();
        self.key
            .sign(&rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|e| MspError::Key(e.to_string()))
    }
}

/// A revocation list (DER) for `serials` (hex, as [`Identity::serial`]), signed by the CA
/// whose certificate and PKCS#8 key are given in PEM.
pub fn revocation_list(
    ca_certificate_pem: &str,
    ca_key_pem: &str,
    serials: &[String],
    crl_number: u64,
    now: time::OffsetDateTime,
) -> Result<Vec<u8>, MspError> {
    let key = rcgen::KeyPair::from_pem(ca_key_pem).map_err(|e| MspError::Key(e.to_string()))?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(ca_certificate_pem, key).map_err(|e| MspError::Key(e.to_string()))?;
    let mut revoked = Vec::with_capacity(serials.len());
    for serial in serials {
        let bytes = (0..serial.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(serial.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| MspError::Malformed(format!("serial {serial} is not hex")))?;
        revoked.push(rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&bytes),
            revocation_time: now,
            reason_code: Some(rcgen::RevocationReason::KeyCompromise),
            invalidity_date: None,
        });
    }
    let params = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(7),
        crl_number: rcgen::SerialNumber::from(crl_number),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer).map_err(|e| MspError::Key(e.to_string()))?;
    Ok(crl.der().to_vec())
}

/// The MSPs of a network's organisations. Endorsers and the orderers' ingress judge
/// identities at their own time (`now_s`), as Fabric does; commit-time validation and
/// offline verification judge them [`Msps::timeless`]: issuer, signature, role and
/// revocation list, never a validity window against a local clock — so every peer, late or
/// replaying years later, reaches the same verdict.
#[derive(Clone, Debug, Default)]
pub struct Msps {
    msps: std::collections::BTreeMap<String, Msp>,
    /// Unix seconds at which certificates must be valid (when `check_validity`).
    pub now_s: i64,
    /// Whether validity windows are checked at all.
    pub check_validity: bool,
}

impl Msps {
    pub fn new(now_s: i64) -> Msps {
        Msps {
            msps: Default::default(),
            now_s,
            check_validity: true,
        }
    }

    /// The same MSPs for commit-time validation: no validity window, no clock.
    pub fn timeless(&self) -> Msps {
        Msps {
            msps: self.msps.clone(),
            now_s: 0,
            check_validity: false,
        }
    }

    pub fn insert(&mut self, msp: Msp) {
        self.msps.insert(msp.msp_id.clone(), msp);
    }

    pub fn get_mut(&mut self, msp_id: &str) -> Option<&mut Msp> {
        self.msps.get_mut(msp_id)
    }

    /// The validated identity behind a creator.
    pub fn identity(&self, creator: &warga_ledger_core::tx::Creator) -> Result<Identity, MspError> {
        if self.check_validity {
            self.identity_at(creator, self.now_s)
        } else {
            self.identity_timeless(creator)
        }
    }

    /// The identity behind a creator, its validity window not checked.
    pub fn identity_timeless(&self, creator: &warga_ledger_core::tx::Creator) -> Result<Identity, MspError> {
        let msp = self.msps.get(&creator.msp_id).ok_or_else(|| MspError::UnknownIssuer {
            msp_id: creator.msp_id.clone(),
        })?;
        msp.validate_timeless(&creator.certificate)
    }

    /// The identity behind a creator, validated at `now_s`.
    pub fn identity_at(&self, creator: &warga_ledger_core::tx::Creator, now_s: i64) -> Result<Identity, MspError> {
        let msp = self.msps.get(&creator.msp_id).ok_or_else(|| MspError::UnknownIssuer {
            msp_id: creator.msp_id.clone(),
        })?;
        msp.validate(&creator.certificate, now_s)
    }
}

/// A revocation list (DER) as PEM (`X509 CRL`), as a channel's configuration carries it.
pub fn revocation_list_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN X509 CRL-----\n");
    for line in text.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END X509 CRL-----\n");
    pem
}

/// A revocation list as a file holds it: PEM (`X509 CRL`) or DER.
pub fn revocation_list_der(bytes: &[u8]) -> Result<Vec<u8>, MspError> {
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let (_, parsed) = x509_parser::pem::parse_x509_pem(bytes).map_err(|e| MspError::Malformed(e.to_string()))?;
    if parsed.label != "X509 CRL" {
        return Err(MspError::Malformed(format!(
            "a PEM {} block, not an X509 CRL",
            parsed.label
        )));
    }
    Ok(parsed.contents)
}

/// The MSPs a running node judges callers with at its edge — the endorser and the orderers'
/// Broadcast — whose revocation lists grow while it runs (loaded from the crypto directory,
/// refreshed from the organisations' CAs). Clones share them. Commit-time validation does
/// not use these: what a peer learnt when is not something every peer agrees on.
#[derive(Clone, Debug, Default)]
pub struct EdgeMsps(Arc<RwLock<Msps>>);

impl EdgeMsps {
    pub fn new(msps: Msps) -> EdgeMsps {
        EdgeMsps(Arc::new(RwLock::new(msps)))
    }

    /// The MSPs as they are now, judging validity windows at `now_s`.
    pub fn at(&self, now_s: i64) -> Msps {
        let mut msps = match self.0.read() {
            Ok(msps) => msps.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        msps.now_s = now_s;
        msps.check_validity = true;
        msps
    }

    /// The identity behind a creator, validated at `now_s` with the lists as they are now.
    pub fn identity_at(&self, creator: &warga_ledger_core::tx::Creator, now_s: i64) -> Result<Identity, MspError> {
        let msps = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        msps.identity_at(creator, now_s)
    }

    /// Adopts `msp_id`'s revocation list (DER or PEM) after checking its CA signed it;
    /// returns how many serials were new. Lists only add: a revoked certificate stays so.
    pub fn apply_revocation_list(&self, msp_id: &str, crl: &[u8]) -> Result<usize, MspError> {
        let der = revocation_list_der(crl)?;
        let mut msps = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let msp = msps.get_mut(msp_id).ok_or_else(|| MspError::UnknownIssuer {
            msp_id: msp_id.to_owned(),
        })?;
        msp.apply_revocation_list(&der)
    }

    /// Takes up what a channel's configuration adds: the CA of an organisation admitted
    /// since the node started, and every revocation list the configuration carries (lists
    /// only add). Returns what could not be taken up (a list this node's CA of the
    /// organisation did not sign).
    pub fn adopt_config(&self, config: &warga_ledger_core::config::ChannelConfig) -> Vec<String> {
        let mut refused = Vec::new();
        let mut msps = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        for section in config.msp_sections() {
            let (msp_id, roots, crls) = (section.msp_id, section.root_certs, section.crls);
            if msps.get_mut(msp_id).is_none()
                && let Some(Ok(msp)) = roots
                    .first()
                    .map(|pem| certificate_pem_to_der(pem.as_bytes()).and_then(|der| Msp::new(msp_id.clone(), der)))
            {
                msps.insert(msp);
            }
            if let Some(msp) = msps.get_mut(msp_id) {
                for crl in crls {
                    if let Err(error) =
                        revocation_list_der(crl.as_bytes()).and_then(|der| msp.apply_revocation_list(&der))
                    {
                        refused.push(format!("{msp_id}: {error}"));
                    }
                }
            }
        }
        refused
    }

    /// How many serials are held for revoked, over every organisation.
    pub fn revoked_count(&self) -> usize {
        let msps = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        msps.msps.values().map(Msp::revoked_count).sum()
    }
}

impl warga_ledger_core::validate::Membership for Msps {
    fn identify(&self, creator: &warga_ledger_core::tx::Creator) -> Result<Signer, String> {
        self.identity(creator).map(|i| i.as_signer()).map_err(|e| e.to_string())
    }

    fn verify(&self, creator: &warga_ledger_core::tx::Creator, message: &[u8], signature: &[u8]) -> bool {
        // The key comes from the certificate; whether the certificate is valid is `identify`'s.
        let remembered = self
            .msps
            .get(&creator.msp_id)
            .and_then(|msp| msp.remembered_key(&creator.certificate));
        let key = match remembered {
            Some(key) => key,
            None => match X509Certificate::from_der(&creator.certificate) {
                Ok((_, cert)) => cert.public_key().subject_public_key.data.to_vec(),
                Err(_) => return false,
            },
        };
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, key)
            .verify(message, signature)
            .is_ok()
    }
}

/// Signs a block as its orderer: the orderer's identity and its signature over the header
/// hash go into the block's metadata.
pub fn sign_block(block: &mut warga_ledger_core::block::Block, orderer: &SigningIdentity) -> Result<(), MspError> {
    block.metadata.orderer = Some(orderer.creator());
    block.metadata.signature = orderer.sign(&block.header.hash())?;
    Ok(())
}

/// Checks a block's orderer signature: a valid identity with the orderer role, signing the
/// header hash. Returns the orderer.
pub fn verify_block_signature(
    block: &warga_ledger_core::block::Block,
    msps: &Msps,
    orderer_msp: &str,
) -> Result<Identity, MspError> {
    let creator = block.metadata.orderer.as_ref().ok_or(MspError::BadSignature)?;
    // Only the orderer organisation of the channel's configuration orders: an application
    // organisation's certificate, whatever its OU says, signs no block.
    if creator.msp_id != orderer_msp {
        return Err(MspError::NoRole);
    }
    let identity = msps.identity(creator)?;
    if identity.role != MspRole::Orderer {
        return Err(MspError::NoRole);
    }
    identity.verify(&block.header.hash(), &block.metadata.signature)?;
    Ok(identity)
}
