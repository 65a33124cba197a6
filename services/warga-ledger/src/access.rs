//! How the web gateway reaches the ledger, and as whom.
//!
//! [`LedgerAccess`] holds one gRPC client per organisation, connected to that
//! organisation's peer with its administrator's TLS identity (mutual TLS: a peer serves
//! channel members only), and the enrolment of people: the first time an account with the
//! `ledger_member` role transacts, it is registered and enrolled at its organisation's CA
//! (by that organisation's administrator) for a key made in the [`KeyCustody`]; the
//! certificate names the role, the organisation and — when the account has one — the
//! facility. Every later request signs with that identity ([`OfficerSigner`]), each
//! signature in the audit log.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use warga_core::identity::Principal;
use warga_http::Platform;
use warga_ledger_core::network::Network;
use warga_ledger_core::tx::Creator;
use warga_ledger_msp::SigningIdentity;
use warga_ledger_node::client::{Client, Signer};
use warga_ledger_node::settings::LedgerConfig;
use warga_store::StoreError;
use warga_store::audit::{AuditRecord, Outcome};

use crate::LedgerError;
use crate::custody::{KeyCustody, VaultCustody};

/// How many times one enrolment id may enrol (a retry after a crash between the CA's
/// answer and the database, renewals).
const ENROLMENTS_MAX: u32 = 10;
/// Deadline of one call to a CA.
const CA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an identity read from the database is used without reading it again — as long
/// as a revoked token may still pass ([`warga_auth::Revocations`] polls every second): a
/// disabled account's identity is refused by every gateway process within this time (at
/// once in the process that revoked it).
const IDENTITY_FRESH: Duration = Duration::from_secs(1);
/// Most identities kept at once.
const IDENTITIES_MAX: usize = 10_000;

/// The ledger as this process's routes and consumers reach it: opened at first use (so a
/// process starts even when its ledger is not reachable yet), then kept.
#[derive(Clone)]
pub struct Gateway {
    platform: Platform,
    access: Arc<tokio::sync::OnceCell<Arc<LedgerAccess>>>,
}

impl Gateway {
    pub fn new(platform: &Platform) -> Gateway {
        Gateway {
            platform: platform.clone(),
            access: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    pub async fn access(&self) -> Result<Arc<LedgerAccess>, LedgerError> {
        self.access
            .get_or_try_init(|| async { LedgerAccess::open(&self.platform).map(Arc::new) })
            .await
            .cloned()
    }
}

/// One organisation as the gateway reaches it.
struct Organisation {
    msp_id: String,
    /// Connected with the administrator's TLS identity; signs as whoever it is given.
    client: Client,
    /// Registers and revokes the organisation's people at its CA.
    admin: SigningIdentity,
    ca: Option<warga_ledger_ca::client::CaClient>,
}

/// The ledger as the web gateway reaches it.
pub struct LedgerAccess {
    pub network: Arc<Network>,
    pub channel: String,
    pub chaincode: String,
    pub timeout: Duration,
    /// The network's crypto directory (its organisations' CAs judge what the peers serve).
    pub crypto: PathBuf,
    organisations: BTreeMap<String, Organisation>,
    custody: Arc<dyn KeyCustody>,
    /// Every signature's audit record, written in groups.
    signatures: Arc<crate::signatures::SignatureLog>,
    platform: Platform,
    /// One enrolment at a time per account (two first requests at once enrol once).
    enrolling: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Active identities read lately, by (subject, MSP id), with when they were read.
    identities: warga_core::recent::Recent<(String, String), OfficerIdentity>,
    /// The population registry's attestation key (`registry/attestor-key.pem` of the crypto
    /// directory), or why there is none.
    attestor: Result<Arc<warga_ledger_msp::attestor::Attestor>, String>,
}

/// A person's ledger identity: the certificate enrolled for them and their key's reference.
#[derive(Clone, Debug)]
pub struct OfficerIdentity {
    pub subject: String,
    pub msp_id: String,
    pub enrollment_id: String,
    pub certificate_pem: String,
    pub certificate_der: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    key_ref: String,
}

fn unconfigured(what: impl std::fmt::Display) -> LedgerError {
    LedgerError::Unconfigured(format!("the ledger gateway is not configured: {what}"))
}

fn read_network(config: &LedgerConfig) -> Result<Network, LedgerError> {
    let text = match &config.network {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| unconfigured(format!("ledger.network: cannot read {}: {e}", path.display())))?,
        None => warga_ledger_core::network::BPJS_EXAMPLE.to_owned(),
    };
    Network::parse(&text).map_err(|e| unconfigured(format!("ledger.network: {e}")))
}

/// The ledger's crypto directory of a configuration: `[ledger] crypto`, or where `warga up`
/// generates it (`DATA_DIR/ledger/crypto`).
pub fn crypto_dir(platform: &Platform) -> PathBuf {
    platform
        .config
        .section::<LedgerConfig>()
        .crypto
        .clone()
        .unwrap_or_else(|| platform.config.data_dir.join("ledger").join("crypto"))
}

impl LedgerAccess {
    /// The gateway of `platform`'s configuration (`[ledger]`): the network file, the crypto
    /// directory, and each member organisation's peer and CA.
    pub fn open(platform: &Platform) -> Result<LedgerAccess, LedgerError> {
        let config = platform.config.section::<LedgerConfig>().into_owned();
        if !config.enabled {
            return Err(LedgerError::Unconfigured(
                "the ledger is disabled here (ledger.enabled = false)".into(),
            ));
        }
        let network = Arc::new(read_network(&config)?);
        let channel = network
            .channel(&config.channel)
            .ok_or_else(|| {
                unconfigured(format!(
                    "ledger.channel: no channel {} in the network file",
                    config.channel
                ))
            })?
            .clone();
        let chaincode = channel
            .chaincodes
            .first()
            .map(|c| c.name.clone())
            .ok_or_else(|| unconfigured(format!("channel {} defines no chaincode", channel.name)))?;
        let crypto = crypto_dir(platform);
        let attestor = warga_ledger_msp::attestor::Attestor::load(&crypto)
            .map(Arc::new)
            .map_err(|e| e.to_string());
        if let Err(error) = &attestor {
            tracing::warn!(%error, "no registry attestation key: the web gateway cannot issue BPJS cards");
        }
        let mut organisations = BTreeMap::new();
        for msp_id in &channel.members {
            let organisation = organisation(&network, &crypto, &config, msp_id, &channel.name, &chaincode)?;
            organisations.insert(msp_id.clone(), organisation);
        }
        Ok(LedgerAccess {
            network,
            channel: channel.name.clone(),
            chaincode,
            timeout: Duration::from_millis(config.gateway_timeout_ms.max(1)),
            crypto: crypto.clone(),
            organisations,
            custody: Arc::new(VaultCustody::new(platform.store.clone(), platform.vault.clone())),
            signatures: Arc::new(crate::signatures::SignatureLog::start(platform.store.clone())),
            platform: platform.clone(),
            enrolling: tokio::sync::Mutex::new(HashMap::new()),
            identities: warga_core::recent::Recent::new(IDENTITY_FRESH, IDENTITIES_MAX),
            attestor,
        })
    }

    /// The population registry's attestation key, which signs what the registry says of a
    /// NIK for `IssueCard`.
    pub fn attestor(&self) -> Result<&warga_ledger_msp::attestor::Attestor, LedgerError> {
        self.attestor
            .as_deref()
            .map_err(|why| unconfigured(format!("the registry's attestation key: {why}")))
    }

    /// The organisation `principal` acts or reads for: an MSP id of this channel.
    fn organisation_of(&self, principal: &Principal) -> Result<&Organisation, LedgerError> {
        let msp_id = principal.msp_id.as_deref().unwrap_or_default();
        self.organisations.get(msp_id).ok_or_else(|| {
            LedgerError::Forbidden(
                format!(
                    "your account's organisation ({msp_id}) is no member of channel {}",
                    self.channel
                ),
                format!("organisasi akun Anda ({msp_id}) bukan anggota kanal {}", self.channel),
            )
        })
    }

    /// A client of `principal`'s organisation's peer, for reads that sign nothing — a
    /// member's or an auditor's.
    pub fn reader(&self, principal: &Principal) -> Result<Client, LedgerError> {
        require_reader(principal)?;
        Ok(self.organisation_of(principal)?.client.clone())
    }

    /// A client of `principal`'s organisation's peer signing as `principal`'s own ledger
    /// identity, enrolled now if this is their first transaction.
    pub async fn signer(&self, principal: &Principal) -> Result<Client, LedgerError> {
        require_member(principal)?;
        let organisation = self.organisation_of(principal)?;
        let identity = self.identity(principal, organisation).await?;
        let signer = OfficerSigner {
            identity,
            custody: self.custody.clone(),
            signatures: self.signatures.clone(),
        };
        Ok(organisation.client.signing_as(Arc::new(signer)))
    }

    /// `principal`'s identity in their organisation, enrolled on first use.
    async fn identity(
        &self,
        principal: &Principal,
        organisation: &Organisation,
    ) -> Result<OfficerIdentity, LedgerError> {
        if let Some(identity) = self.stored(&principal.subject, &organisation.msp_id).await? {
            return Ok(identity);
        }
        let lock = {
            let mut enrolling = self.enrolling.lock().await;
            enrolling.entry(principal.subject.clone()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        if let Some(identity) = self.stored(&principal.subject, &organisation.msp_id).await? {
            return Ok(identity);
        }
        let enrolled = self.enrol(principal, organisation).await;
        self.enrolling.lock().await.remove(&principal.subject);
        enrolled
    }

    /// The active identity stored for `subject` in `msp_id` (read within
    /// [`IDENTITY_FRESH`]); a revoked one is refused.
    async fn stored(&self, subject: &str, msp_id: &str) -> Result<Option<OfficerIdentity>, LedgerError> {
        let cache_key = (subject.to_owned(), msp_id.to_owned());
        if let Some(identity) = self.identities.get(&cache_key) {
            return Ok(Some(identity));
        }
        let identity = self.read_stored(subject, msp_id).await?;
        if let Some(identity) = &identity {
            self.identities.insert(cache_key, identity.clone());
        }
        Ok(identity)
    }

    /// Forgets what was read of `subject`'s identities (they were revoked just now).
    pub fn forget(&self, subject: &str) {
        self.identities.forget(|(cached, _)| cached == subject);
    }

    async fn read_stored(&self, subject: &str, msp_id: &str) -> Result<Option<OfficerIdentity>, LedgerError> {
        let row = sqlx::query(
            "SELECT enrollment_id, key_ref, certificate, attributes, status FROM ledger_identities \
             WHERE subject = $1 AND msp_id = $2",
        )
        .bind(subject)
        .bind(msp_id)
        .fetch_optional(self.platform.store.reader())
        .await
        .map_err(StoreError::from)?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.get(4);
        if status != "active" {
            return Err(LedgerError::Forbidden(
                "your ledger identity is revoked".into(),
                "identitas ledger Anda sudah dicabut".into(),
            ));
        }
        let certificate_pem: String = row.get(2);
        let certificate_der = warga_ledger_msp::certificate_pem_to_der(certificate_pem.as_bytes())
            .map_err(|e| LedgerError::Internal(format!("a stored ledger certificate: {e}")))?;
        let attributes: String = row.get(3);
        Ok(Some(OfficerIdentity {
            subject: subject.to_owned(),
            msp_id: msp_id.to_owned(),
            enrollment_id: row.get(0),
            key_ref: row.get(1),
            certificate_pem,
            certificate_der,
            attributes: serde_json::from_str(&attributes).unwrap_or_default(),
        }))
    }

    /// Registers `principal` at their organisation's CA (as its administrator, with a
    /// secret derived from the vault's index key, so a retry after a crash enrols with the
    /// same registration), has the custody make a key and enrols it.
    async fn enrol(&self, principal: &Principal, organisation: &Organisation) -> Result<OfficerIdentity, LedgerError> {
        let msp_id = &organisation.msp_id;
        let ca = organisation.ca.as_ref().ok_or_else(|| LedgerError::Ca {
            msp_id: msp_id.clone(),
            detail: "no CA is configured for this organisation (ledger.cas or the network file's ca_url)".into(),
        })?;
        let ca_error = |e: warga_ledger_ca::client::ClientError| LedgerError::Ca {
            msp_id: msp_id.clone(),
            detail: e.to_string(),
        };
        let enrollment_id = enrollment_id(&principal.subject);
        let secret = self
            .platform
            .vault
            .index(&format!("ledger-enrolment\0{msp_id}\0{}", principal.subject))
            .await?;
        let mut attributes = BTreeMap::from([
            ("role".to_owned(), "ledger_member".to_owned()),
            ("org".to_owned(), msp_id.clone()),
        ]);
        if let Some(facility) = principal.facility.as_deref().filter(|f| !f.is_empty()) {
            attributes.insert(
                warga_ledger_core::bpjs::FACILITY_ATTRIBUTE.to_owned(),
                facility.to_owned(),
            );
        }
        match ca
            .register_with_secret(
                &organisation.admin,
                &enrollment_id,
                "client",
                &attributes,
                &secret,
                ENROLMENTS_MAX,
            )
            .await
        {
            Ok(()) => {}
            // Registered before (an enrolment that did not reach the database): enrol again.
            Err(warga_ledger_ca::client::ClientError::Refused { status: 409, .. }) => {}
            Err(other) => return Err(ca_error(other)),
        }
        let key = self.custody.create(&principal.subject, &enrollment_id).await?;
        let (certificate_pem, _) = ca
            .enroll_request(&enrollment_id, &secret, &key.csr_pem)
            .await
            .map_err(ca_error)?;
        let certificate_der = warga_ledger_msp::certificate_pem_to_der(certificate_pem.as_bytes())
            .map_err(|e| LedgerError::Internal(format!("the CA's certificate: {e}")))?;
        let actor = principal.audit_actor();
        let mut tx = self.platform.store.begin().await?;
        sqlx::query(
            "INSERT INTO ledger_identities (subject, msp_id, enrollment_id, key_ref, certificate, attributes, status, \
             enrolled_at_ms) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
        )
        .bind(&principal.subject)
        .bind(msp_id)
        .bind(&enrollment_id)
        .bind(&key.key_ref)
        .bind(&certificate_pem)
        .bind(serde_json::to_string(&attributes).unwrap_or_default())
        .bind(warga_core::time::now_ms())
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
        tx.audit(&AuditRecord {
            actor: &actor,
            action: "ledger.identity.enrol",
            target: &format!("ledger-identity:{msp_id}:{enrollment_id}"),
            outcome: Outcome::Success,
            details: Some(serde_json::json!({ "attributes": attributes })),
        })
        .await?;
        tx.commit().await?;
        tracing::info!(%msp_id, %enrollment_id, "ledger identity enrolled");
        Ok(OfficerIdentity {
            subject: principal.subject.clone(),
            msp_id: msp_id.clone(),
            enrollment_id,
            key_ref: key.key_ref,
            certificate_pem,
            certificate_der,
            attributes,
        })
    }
}

impl LedgerAccess {
    /// Revokes `enrollment_id` of organisation `msp_id` at its CA (as the organisation's
    /// administrator): every certificate of it goes on the CA's revocation list, which the
    /// organisation's nodes fetch. Revoking again changes nothing.
    pub async fn revoke_at_ca(&self, msp_id: &str, enrollment_id: &str) -> Result<(), LedgerError> {
        let organisation = self
            .organisations
            .get(msp_id)
            .ok_or_else(|| unconfigured(format!("no organisation {msp_id} on channel {}", self.channel)))?;
        let ca = organisation.ca.as_ref().ok_or_else(|| LedgerError::Ca {
            msp_id: msp_id.to_owned(),
            detail: "no CA is configured for this organisation".into(),
        })?;
        ca.revoke(&organisation.admin, enrollment_id)
            .await
            .map_err(|e| LedgerError::Ca {
                msp_id: msp_id.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(())
    }
}

/// A service identity of BPJS that the platform itself acts as (suspending cards at a
/// death, reading a patient's own record for them), enrolled and signing like a person.
pub fn bpjs_service(subject: &str) -> Principal {
    Principal {
        subject: subject.to_owned(),
        kind: warga_core::identity::PrincipalKind::Service,
        username: None,
        roles: std::collections::BTreeSet::from([
            warga_core::identity::Role::LedgerMember,
            warga_core::identity::Role::Service,
        ]),
        department: None,
        level: None,
        msp_id: Some(warga_ledger_core::bpjs::BPJS_MSP.to_owned()),
        facility: None,
        client_id: None,
        token_id: None,
        issuer: String::new(),
        expires_at: i64::MAX,
    }
}

/// Refuses anyone without the `ledger_member` role — decided before anything else, the
/// ledger's reachability included.
pub fn require_member(principal: &Principal) -> Result<(), LedgerError> {
    if principal.has_role(warga_core::identity::Role::LedgerMember) {
        Ok(())
    } else if principal.has_role(warga_core::identity::Role::LedgerAuditor) {
        Err(LedgerError::Forbidden(
            "an auditor reads the ledger and transacts nothing (role ledger_member needed)".into(),
            "auditor hanya membaca ledger, tidak bertransaksi (perlu peran ledger_member)".into(),
        ))
    } else {
        Err(LedgerError::Forbidden(
            "the ledger is for its members' officers (role ledger_member)".into(),
            "ledger hanya untuk petugas organisasi anggotanya (peran ledger_member)".into(),
        ))
    }
}

/// 403 unless `principal` may read the chain: a member's officer or an auditor.
pub fn require_reader(principal: &Principal) -> Result<(), LedgerError> {
    use warga_core::identity::Role;
    if principal.has_any_role(&[Role::LedgerMember, Role::LedgerAuditor]) {
        Ok(())
    } else {
        Err(LedgerError::Forbidden(
            "the ledger is read by its members' officers and auditors (role ledger_member or ledger_auditor)".into(),
            "ledger dibaca oleh petugas dan auditor organisasi anggotanya (peran ledger_member atau ledger_auditor)"
                .into(),
        ))
    }
}

/// The CA enrolment id of an account: `warga-` and its subject when that is made of the
/// characters a CA accepts, else a digest of it.
fn enrollment_id(subject: &str) -> String {
    let plain = subject.len() <= 58
        && !subject.is_empty()
        && subject
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain {
        format!("warga-{subject}")
    } else {
        let digest = ring::digest::digest(&ring::digest::SHA256, subject.as_bytes());
        let hex: String = digest.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("warga-{hex}")
    }
}

/// The peer, TLS identity, administrator and CA through which the gateway serves `msp_id`.
fn organisation(
    network: &Network,
    crypto: &std::path::Path,
    config: &LedgerConfig,
    msp_id: &str,
    channel: &str,
    chaincode: &str,
) -> Result<Organisation, LedgerError> {
    let org = network
        .organization(msp_id)
        .ok_or_else(|| unconfigured(format!("no organisation {msp_id} in the network file")))?;
    let first_peer = org
        .peers
        .first()
        .ok_or_else(|| unconfigured(format!("{msp_id} has no peer in the network file")))?;
    let (addr, host) = match config.peers.get(msp_id) {
        Some(addr) => {
            let (name, port) = addr.rsplit_once(':').unwrap_or_default();
            if name.is_empty() || port.parse::<u16>().is_err() {
                return Err(unconfigured(format!("ledger.peers.{msp_id}: {addr:?} is no host:port")));
            }
            let host = org
                .peers
                .iter()
                .find(|p| p.address == *addr || p.listen.to_string() == *addr)
                .unwrap_or(first_peer)
                .host
                .clone();
            (addr.clone(), host)
        }
        None => (first_peer.address.clone(), first_peer.host.clone()),
    };
    let admin_dir: PathBuf = warga_ledger_msp::generate::organization_dir(crypto, false, &org.domain)
        .join("users")
        .join(format!("Admin@{}", org.domain));
    let admin = warga_ledger_node::peer::signing_identity(&admin_dir.join("msp"), msp_id)
        .map_err(|e| unconfigured(format!("the administrator of {msp_id}: {e}")))?;
    let tls = warga_ledger_orderer::grpc::TlsMaterial::from_crypto(network, crypto, &admin_dir, false)
        .map_err(|e| unconfigured(format!("the TLS identity of {msp_id}'s administrator: {e}")))?;
    let connection_identity = warga_ledger_node::peer::signing_identity(&admin_dir.join("msp"), msp_id)
        .map_err(|e| unconfigured(format!("the administrator of {msp_id}: {e}")))?;
    let client = Client::new(&tls, addr, &host, connection_identity, channel, chaincode)
        .map_err(|e| unconfigured(format!("the peer of {msp_id}: {e}")))?;
    let ca_url = config.cas.get(msp_id).cloned().or_else(|| org.ca_url.clone());
    let ca = match ca_url {
        Some(url) => {
            let tls_ca = warga_ledger_msp::generate::organization_dir(crypto, false, &org.domain)
                .join("tlsca")
                .join(format!("tlsca.{}-cert.pem", org.domain));
            let pem = std::fs::read(&tls_ca).map_err(|e| unconfigured(format!("{}: {e}", tls_ca.display())))?;
            Some(
                warga_ledger_ca::client::CaClient::new(&url, &pem, CA_TIMEOUT)
                    .map_err(|e| unconfigured(format!("the CA of {msp_id}: {e}")))?,
            )
        }
        None => None,
    };
    Ok(Organisation {
        msp_id: msp_id.to_owned(),
        client,
        admin,
        ca,
    })
}

/// Signs for one person with the key the custody holds for them; each signature is in the
/// audit log (who, with which identity, over what digest).
pub struct OfficerSigner {
    identity: OfficerIdentity,
    custody: Arc<dyn KeyCustody>,
    signatures: Arc<crate::signatures::SignatureLog>,
}

#[async_trait::async_trait]
impl Signer for OfficerSigner {
    fn creator(&self) -> Creator {
        Creator {
            msp_id: self.identity.msp_id.clone(),
            certificate: self.identity.certificate_der.clone(),
        }
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let signature = self
            .custody
            .sign(&self.identity.key_ref, message)
            .await
            .map_err(|e| e.to_string())?;
        let digest = ring::digest::digest(&ring::digest::SHA256, message);
        let digest: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        self.signatures
            .record(
                format!("user:{}", self.identity.subject),
                format!(
                    "ledger-identity:{}:{}",
                    self.identity.msp_id, self.identity.enrollment_id
                ),
                digest,
            )
            .await
            .map_err(|e| format!("the signature's audit record: {e}"))?;
        Ok(signature)
    }
}
