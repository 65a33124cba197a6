//! Crypto material for a network, laid out like Fabric's `cryptogen`:
//!
//! ```text
//! OUT/peerOrganizations/bpjs.warga.local/
//!     ca/ca.bpjs.warga.local-cert.pem, ca/priv_sk          the organisation's CA
//!     tlsca/tlsca.bpjs.warga.local-cert.pem, tlsca/priv_sk  its TLS CA
//!     msp/cacerts/…, msp/tlscacerts/…                       what others trust
//!     peers/peer0.bpjs.warga.local/msp/{signcerts,keystore,cacerts}/…, tls/{server.crt,server.key,ca.crt}
//!     users/Admin@bpjs.warga.local/…, users/User1@bpjs.warga.local/… (with the attributes
//!     the network file gives the user, in Fabric CA's extension)
//! OUT/ordererOrganizations/orderer.warga.local/orderers/orderer0.orderer.warga.local/…
//! OUT/registry/attestor-key.pem, attestor.pem    the population registry's attestation key
//!     (private: for the registry's process only; public: for every peer)
//! ```
//!
//! Identities carry their role as `OU` (admin, peer, orderer, client). Keys are ECDSA P-256
//! in PKCS#8 PEM, written with mode 0600. Nothing is overwritten: an existing organisation
//! directory is an error, so a CA key is never replaced by accident.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use time::OffsetDateTime;
use warga_ledger_core::network::{Network, Node};
use warga_ledger_core::policy::MspRole;

/// Why generation stopped.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{0} already exists; remove it or choose another output directory")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("no randomness: {0}")]
    Random(String),
    #[error("{0}")]
    Attributes(String),
}

/// Validity of CA certificates, in days.
pub const CA_DAYS: i64 = 3_650;
/// Validity of node and user certificates, in days.
pub const IDENTITY_DAYS: i64 = 365;

/// What was written.
#[derive(Debug, Default)]
pub struct Generated {
    pub organizations: usize,
    pub identities: usize,
    pub files: usize,
}

struct Writer {
    files: usize,
}

impl Writer {
    fn write(&mut self, path: &Path, contents: &str, secret: bool) -> Result<(), GenerateError> {
        let io = |source| GenerateError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        let mut file = options.open(path).map_err(io)?;
        std::io::Write::write_all(&mut file, contents.as_bytes()).map_err(io)?;
        self.files += 1;
        Ok(())
    }
}

/// A random positive serial number of 16 bytes (no leading zero byte in DER).
fn serial() -> Result<SerialNumber, GenerateError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| GenerateError::Random("the system's random source failed".into()))?;
    bytes[0] = (bytes[0] & 0x7f).max(1);
    Ok(SerialNumber::from_slice(&bytes))
}

fn name(domain: &str, common_name: &str, unit: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "ID");
    dn.push(DnType::StateOrProvinceName, "DKI Jakarta");
    dn.push(DnType::LocalityName, "Jakarta");
    dn.push(DnType::OrganizationName, domain);
    if let Some(unit) = unit {
        dn.push(DnType::OrganizationalUnitName, unit);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A CA: its parameters (for issuing) and key.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    certificate_pem: String,
}

fn authority(domain: &str, common_name: &str, now: OffsetDateTime) -> Result<(Authority, String), GenerateError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = name(domain, common_name, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(CA_DAYS);
    params.serial_number = Some(serial()?);
    let certificate = params.self_signed(&key)?;
    let key_pem = key.serialize_pem();
    Ok((
        Authority {
            certificate_pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        },
        key_pem,
    ))
}

/// The certificate parameters of an identity of `domain`: subject with the role as `OU`
/// (none for TLS certificates), `attributes` in Fabric CA's extension (none when empty), a
/// fresh serial, [`IDENTITY_DAYS`] of validity from `now`. The generator and the CA service
/// issue from the same parameters.
pub fn identity_params(
    domain: &str,
    common_name: &str,
    role: Option<MspRole>,
    attributes: &BTreeMap<String, String>,
    now: OffsetDateTime,
) -> Result<CertificateParams, GenerateError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(domain, common_name, role.map(MspRole::as_str));
    params.is_ca = IsCa::ExplicitNoCa;
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(IDENTITY_DAYS);
    params.serial_number = Some(serial()?);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if !attributes.is_empty() {
        crate::attributes::check_all(attributes).map_err(GenerateError::Attributes)?;
        params.custom_extensions.push(CustomExtension::from_oid_content(
            &crate::attributes::OID,
            crate::attributes::encode(attributes),
        ));
    }
    Ok(params)
}

/// A signing identity (role in OU) or a TLS certificate issued by `ca`.
fn issue(
    ca: &Authority,
    domain: &str,
    common_name: &str,
    role: Option<MspRole>,
    attributes: &BTreeMap<String, String>,
    tls: Option<&[IpAddr]>,
    now: OffsetDateTime,
) -> Result<(String, String), GenerateError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = identity_params(domain, common_name, role, attributes, now)?;
    match tls {
        None => {}
        Some(addresses) => {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
            let mut sans = vec![
                SanType::DnsName(common_name.try_into()?),
                SanType::DnsName("localhost".try_into()?),
            ];
            sans.extend(addresses.iter().map(|ip| SanType::IpAddress(*ip)));
            params.subject_alt_names = sans;
        }
    }
    let certificate = params.signed_by(&key, &ca.issuer)?;
    Ok((certificate.pem(), key.serialize_pem()))
}

struct Org<'a> {
    kind: &'static str,
    domain: &'a str,
    /// (host, role, addresses) of every node.
    nodes: Vec<(String, MspRole, Vec<IpAddr>)>,
    users: &'a [String],
    user_attributes: &'a BTreeMap<String, BTreeMap<String, String>>,
}

fn node_addresses(node: &Node) -> Vec<IpAddr> {
    let mut out = vec![node.listen.ip()];
    if !out.contains(&node.operations.ip()) {
        out.push(node.operations.ip());
    }
    out
}

/// One identity to issue: its directory, common name, role, TLS addresses (none for a
/// user) and certificate attributes.
type Entity<'a> = (PathBuf, String, MspRole, Vec<IpAddr>, &'a BTreeMap<String, String>);

fn write_org(out: &Path, org: &Org<'_>, now: OffsetDateTime, w: &mut Writer) -> Result<usize, GenerateError> {
    let base = out.join(org.kind).join(org.domain);
    if base.exists() {
        return Err(GenerateError::Exists(base));
    }
    let (ca, ca_key) = authority(org.domain, &format!("ca.{}", org.domain), now)?;
    let (tlsca, tlsca_key) = authority(org.domain, &format!("tlsca.{}", org.domain), now)?;
    let ca_file = format!("ca.{}-cert.pem", org.domain);
    let tlsca_file = format!("tlsca.{}-cert.pem", org.domain);
    w.write(&base.join("ca").join(&ca_file), &ca.certificate_pem, false)?;
    w.write(&base.join("ca/priv_sk"), &ca_key, true)?;
    w.write(&base.join("tlsca").join(&tlsca_file), &tlsca.certificate_pem, false)?;
    w.write(&base.join("tlsca/priv_sk"), &tlsca_key, true)?;
    w.write(&base.join("msp/cacerts").join(&ca_file), &ca.certificate_pem, false)?;
    w.write(
        &base.join("msp/tlscacerts").join(&tlsca_file),
        &tlsca.certificate_pem,
        false,
    )?;

    let none = BTreeMap::new();
    let mut entities: Vec<Entity<'_>> = Vec::new();
    let node_dir = if org.kind == "ordererOrganizations" {
        "orderers"
    } else {
        "peers"
    };
    for (host, role, addresses) in &org.nodes {
        entities.push((
            base.join(node_dir).join(host),
            host.clone(),
            *role,
            addresses.clone(),
            &none,
        ));
    }
    let admin = format!("Admin@{}", org.domain);
    entities.push((
        base.join("users").join(&admin),
        admin,
        MspRole::Admin,
        Vec::new(),
        &none,
    ));
    for user in org.users {
        let cn = format!("{user}@{}", org.domain);
        let attributes = org.user_attributes.get(user).unwrap_or(&none);
        entities.push((
            base.join("users").join(&cn),
            cn,
            MspRole::Client,
            Vec::new(),
            attributes,
        ));
    }
    for (dir, cn, role, addresses, attributes) in &entities {
        let (cert, key) = issue(&ca, org.domain, cn, Some(*role), attributes, None, now)?;
        w.write(&dir.join("msp/signcerts").join(format!("{cn}-cert.pem")), &cert, false)?;
        w.write(&dir.join("msp/keystore/priv_sk"), &key, true)?;
        w.write(&dir.join("msp/cacerts").join(&ca_file), &ca.certificate_pem, false)?;
        w.write(
            &dir.join("msp/tlscacerts").join(&tlsca_file),
            &tlsca.certificate_pem,
            false,
        )?;
        let (tls_cert, tls_key) = issue(&tlsca, org.domain, cn, None, &none, Some(addresses), now)?;
        let (crt, key_file) = if addresses.is_empty() {
            ("client.crt", "client.key")
        } else {
            ("server.crt", "server.key")
        };
        w.write(&dir.join("tls").join(crt), &tls_cert, false)?;
        w.write(&dir.join("tls").join(key_file), &tls_key, true)?;
        w.write(&dir.join("tls/ca.crt"), &tlsca.certificate_pem, false)?;
    }
    Ok(entities.len())
}

/// Writes crypto material for every organisation of `network` under `out`.
pub fn generate(network: &Network, out: &Path, now: OffsetDateTime) -> Result<Generated, GenerateError> {
    let mut w = Writer { files: 0 };
    let mut generated = Generated::default();
    let no_users: Vec<String> = Vec::new();
    let no_attributes = BTreeMap::new();
    let orderer = Org {
        kind: "ordererOrganizations",
        domain: &network.orderer.organization.domain,
        nodes: network
            .orderer
            .nodes
            .iter()
            .map(|n| (n.host.clone(), MspRole::Orderer, node_addresses(n)))
            .collect(),
        users: &no_users,
        user_attributes: &no_attributes,
    };
    let mut orgs = vec![orderer];
    for org in &network.organizations {
        orgs.push(Org {
            kind: "peerOrganizations",
            domain: &org.domain,
            nodes: org
                .peers
                .iter()
                .map(|n| (n.host.clone(), MspRole::Peer, node_addresses(n)))
                .collect(),
            users: &org.users,
            user_attributes: &org.user_attributes,
        });
    }
    for org in &orgs {
        generated.identities += write_org(out, org, now, &mut w)?;
        generated.organizations += 1;
    }
    write_attestor(out, &mut w)?;
    generated.files = w.files;
    Ok(generated)
}

/// The population registry's attestation key pair under `out/registry/`.
fn write_attestor(out: &Path, w: &mut Writer) -> Result<(), GenerateError> {
    let attestor = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    w.write(&crate::attestor::key_path(out), &attestor.serialize_pem(), true)?;
    w.write(
        &crate::attestor::public_key_path(out),
        &attestor.public_key_pem(),
        false,
    )
}

/// Adds the registry's attestation key to crypto material `generate` wrote before it made
/// one (nothing is overwritten: an existing key is an error).
pub fn generate_attestor(out: &Path) -> Result<(), GenerateError> {
    write_attestor(out, &mut Writer { files: 0 })
}

/// The MSPs of every organisation of `network` (the orderer's too), trusting the CA
/// certificates `generate` wrote under `out`, judging at `now_s`.
pub fn load_msps(network: &Network, out: &Path, now_s: i64) -> Result<crate::Msps, crate::MspError> {
    let mut msps = crate::Msps::new(now_s);
    for (msp_id, domain, orderer) in organizations(network) {
        let path = organization_dir(out, orderer, domain).join(format!("msp/cacerts/ca.{domain}-cert.pem"));
        let pem = std::fs::read(&path).map_err(|e| crate::MspError::Malformed(format!("{}: {e}", path.display())))?;
        msps.insert(crate::Msp::new(msp_id, crate::certificate_pem_to_der(&pem)?)?);
    }
    Ok(msps)
}

/// Every organisation of a network as (MSP id, domain, whether it is the ordering
/// organisation): the application organisations, then the ordering one.
pub fn organizations(network: &Network) -> impl Iterator<Item = (&str, &str, bool)> {
    network
        .organizations
        .iter()
        .map(|o| (o.msp_id.as_str(), o.domain.as_str(), false))
        .chain(std::iter::once((
            network.orderer.organization.msp_id.as_str(),
            network.orderer.organization.domain.as_str(),
            true,
        )))
}

/// Where `generate` put an organisation's files.
pub fn organization_dir(out: &Path, orderer: bool, domain: &str) -> PathBuf {
    out.join(if orderer {
        "ordererOrganizations"
    } else {
        "peerOrganizations"
    })
    .join(domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Msp, MspError, SigningIdentity, certificate_pem_to_der, revocation_list};
    use warga_ledger_core::network::BPJS_EXAMPLE;

    fn read(path: PathBuf) -> Vec<u8> {
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn generated_identities_validate_sign_and_are_revoked() {
        let network = Network::parse(BPJS_EXAMPLE).unwrap();
        let out = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let generated = generate(&network, out.path(), now).unwrap();
        assert_eq!(generated.organizations, 4);
        // 3 peers + 3 orderers + 4 admins + 4 users.
        assert_eq!(generated.identities, 14);
        assert!(matches!(
            generate(&network, out.path(), now),
            Err(GenerateError::Exists(_))
        ));

        let org = organization_dir(out.path(), false, "bpjs.warga.local");
        let ca_pem = read(org.join("ca/ca.bpjs.warga.local-cert.pem"));
        let mut msp = Msp::new("BPJSMSP", certificate_pem_to_der(&ca_pem).unwrap()).unwrap();
        let peer_dir = org.join("peers/peer0.bpjs.warga.local/msp");
        let peer = SigningIdentity::from_pem(
            "BPJSMSP",
            &read(peer_dir.join("signcerts/peer0.bpjs.warga.local-cert.pem")),
            &read(peer_dir.join("keystore/priv_sk")),
        )
        .unwrap();
        let t = now.unix_timestamp();
        let identity = msp.validate(&peer.certificate_der, t).unwrap();
        assert_eq!(
            (identity.role, identity.common_name.as_str()),
            (MspRole::Peer, "peer0.bpjs.warga.local")
        );
        let signature = peer.sign(b"proposal bytes").unwrap();
        identity.verify(b"proposal bytes", &signature).unwrap();

        // The registry's attestation key: what it signs, the public key peers read verifies;
        // the private key is readable by its owner only.
        let attestor = crate::attestor::Attestor::load(out.path()).unwrap();
        let attestation = attestor.attest("3171075203950004", "alive", t * 1000).unwrap();
        let registry = crate::attestor::registry_key(out.path()).unwrap();
        assert_eq!(registry.verify(&attestation).unwrap().sub, "3171075203950004");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(crate::attestor::key_path(out.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
        assert_eq!(identity.verify(b"other bytes", &signature), Err(MspError::BadSignature));

        let admin_dir = org.join("users/Admin@bpjs.warga.local/msp");
        let admin_cert =
            certificate_pem_to_der(&read(admin_dir.join("signcerts/Admin@bpjs.warga.local-cert.pem"))).unwrap();
        assert_eq!(msp.validate(&admin_cert, t).unwrap().role, MspRole::Admin);
        let user = org.join("users/User1@bpjs.warga.local/msp/signcerts/User1@bpjs.warga.local-cert.pem");
        assert_eq!(
            msp.validate(&certificate_pem_to_der(&read(user)).unwrap(), t)
                .unwrap()
                .role,
            MspRole::Client
        );

        assert!(
            msp.validate(&admin_cert, t).unwrap().attributes.is_empty(),
            "no attributes unless the network file gives some"
        );
        // A Puskesmas user carries her facility from the network file.
        let puskesmas = organization_dir(out.path(), false, "puskesmas.warga.local");
        let mut puskesmas_msp = Msp::new(
            "PuskesmasMSP",
            certificate_pem_to_der(&read(puskesmas.join("ca/ca.puskesmas.warga.local-cert.pem"))).unwrap(),
        )
        .unwrap();
        let user2 =
            puskesmas.join("users/User2@puskesmas.warga.local/msp/signcerts/User2@puskesmas.warga.local-cert.pem");
        let user2 = puskesmas_msp
            .validate(&certificate_pem_to_der(&read(user2)).unwrap(), t)
            .unwrap();
        assert_eq!(user2.attributes.get("facility").map(String::as_str), Some("P3578020"));
        puskesmas_msp.apply_revocation_list(&[]).unwrap_err();

        // Another organisation's identity, an expired one, one not yet valid.
        let other = organization_dir(out.path(), false, "puskesmas.warga.local")
            .join("peers/peer0.puskesmas.warga.local/msp/signcerts/peer0.puskesmas.warga.local-cert.pem");
        let other = certificate_pem_to_der(&read(other)).unwrap();
        assert!(matches!(msp.validate(&other, t), Err(MspError::UnknownIssuer { .. })));
        let later = t + (IDENTITY_DAYS + 1) * 86_400;
        assert!(matches!(
            msp.validate(&peer.certificate_der, later),
            Err(MspError::Expired { .. })
        ));
        assert!(matches!(
            msp.validate(&peer.certificate_der, t - 86_400),
            Err(MspError::NotYetValid { .. })
        ));
        let ca_der = certificate_pem_to_der(&ca_pem).unwrap();
        assert_eq!(msp.validate(&ca_der, t), Err(MspError::CaAsIdentity));

        // Revocation: a list signed by the CA is honoured; one signed by another CA is not.
        let ca_key = String::from_utf8(read(org.join("ca/priv_sk"))).unwrap();
        let crl = revocation_list(
            std::str::from_utf8(&ca_pem).unwrap(),
            &ca_key,
            std::slice::from_ref(&identity.serial),
            1,
            now,
        )
        .unwrap();
        let other_org = organization_dir(out.path(), false, "rumahsakit.warga.local");
        let foreign = revocation_list(
            &String::from_utf8(read(other_org.join("ca/ca.rumahsakit.warga.local-cert.pem"))).unwrap(),
            &String::from_utf8(read(other_org.join("ca/priv_sk"))).unwrap(),
            std::slice::from_ref(&identity.serial),
            1,
            now,
        )
        .unwrap();
        assert!(matches!(
            msp.apply_revocation_list(&foreign),
            Err(MspError::BadRevocationList { .. })
        ));
        assert_eq!(msp.apply_revocation_list(&crl).unwrap(), 1);
        assert!(matches!(
            msp.validate(&peer.certificate_der, t),
            Err(MspError::Revoked { .. })
        ));
        assert_eq!(
            msp.validate(&admin_cert, t).unwrap().role,
            MspRole::Admin,
            "others stay valid"
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(peer_dir.join("keystore/priv_sk"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "keys are private");
        }
        let tls = org.join("peers/peer0.bpjs.warga.local/tls");
        assert!(tls.join("server.crt").exists() && tls.join("server.key").exists() && tls.join("ca.crt").exists());
    }
}
