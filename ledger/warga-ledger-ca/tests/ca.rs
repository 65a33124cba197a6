//! The CA over HTTPS: register (admins only, signed tokens), enroll from a CSR, revoke, and
//! the revocation list honoured by an MSP.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use warga_ledger_ca::{Ca, CaConfig, client};
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_core::policy::MspRole;
use warga_ledger_msp::generate::{generate, organization_dir};
use warga_ledger_msp::{Msp, MspError, SigningIdentity, certificate_pem_to_der};

struct Running {
    url: String,
    http: reqwest::Client,
    org: PathBuf,
    _dir: tempfile::TempDir,
}

fn user(org: &Path, name: &str) -> SigningIdentity {
    let msp = org.join(format!("users/{name}@bpjs.warga.local/msp"));
    SigningIdentity::from_pem(
        "BPJSMSP",
        &std::fs::read(msp.join(format!("signcerts/{name}@bpjs.warga.local-cert.pem"))).unwrap(),
        &std::fs::read(msp.join("keystore/priv_sk")).unwrap(),
    )
    .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn start() -> Running {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let network = Network::parse(BPJS_EXAMPLE).unwrap();
    generate(&network, dir.path(), time::OffsetDateTime::now_utc()).unwrap();
    let org = organization_dir(dir.path(), false, "bpjs.warga.local");
    let ca = Ca::open(CaConfig {
        msp_id: "BPJSMSP".into(),
        domain: "bpjs.warga.local".into(),
        orderer_organization: false,
        org_dir: org.clone(),
        dns_names: vec!["ca-bpjs.warga.svc".into()],
    })
    .unwrap();
    // Its HTTPS certificate names where the network file says it is reached, too.
    let (served, _) = ca.tls_server_certificate(&[Ipv4Addr::LOCALHOST.into()]).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(served.as_bytes()).unwrap();
    let certificate = pem.parse_x509().unwrap();
    let names: Vec<String> = certificate
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|name| name.to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains("ca-bpjs.warga.svc")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("ca.bpjs.warga.local")), "{names:?}");
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = ca.clone();
    tokio::spawn(async move { serving.serve(listener, std::future::pending()).await });
    let tlsca = std::fs::read(org.join("tlsca/tlsca.bpjs.warga.local-cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate_pem_to_der(&tlsca).unwrap().into()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let http = reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap();
    Running {
        url: format!("https://localhost:{port}"),
        http,
        org,
        _dir: dir,
    }
}

impl Running {
    async fn admin_post(&self, who: &SigningIdentity, path: &str, body: &Value, timestamp: i64) -> (u16, Value) {
        self.admin_post_signed_for(who, path, path, body, timestamp).await
    }

    async fn admin_post_signed_for(
        &self,
        who: &SigningIdentity,
        signed_path: &str,
        path: &str,
        body: &Value,
        timestamp: i64,
    ) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        let (authorization, ts) = client::admin_token(who, "POST", signed_path, timestamp, &bytes).unwrap();
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("authorization", authorization)
            .header("x-warga-timestamp", ts)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn enroll(&self, id: &str, secret: &str, csr: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v1/ca/enroll", self.url))
            .basic_auth(id, Some(secret))
            .json(&serde_json::json!({ "csr": csr }))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    fn msp(&self) -> Msp {
        let ca = std::fs::read(self.org.join("ca/ca.bpjs.warga.local-cert.pem")).unwrap();
        Msp::new("BPJSMSP", certificate_pem_to_der(&ca).unwrap()).unwrap()
    }
}

#[tokio::test]
async fn admins_register_identities_enroll_from_a_csr_and_revocations_are_honoured() {
    let ca = start().await;
    let admin = user(&ca.org, "Admin");
    let client_user = user(&ca.org, "User1");
    let register = serde_json::json!({
        "enrollment_id": "rs-jakarta-app",
        "role": "client",
        "attributes": { "facility": "R3171001" },
    });

    // Only an admin of this organisation, with a fresh, untampered token.
    let anonymous = ca
        .http
        .post(format!("{}/api/v1/ca/register", ca.url))
        .json(&register)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], "application/problem+json");
    assert_eq!(
        ca.admin_post(&client_user, "/api/v1/ca/register", &register, now())
            .await
            .0,
        403
    );
    assert_eq!(
        ca.admin_post(&admin, "/api/v1/ca/register", &register, now() - 3_600)
            .await
            .0,
        401
    );
    let revoke_user1 = serde_json::json!({ "enrollment_id": "rs-jakarta-app" });
    let other_path = ca
        .admin_post_signed_for(&admin, "/api/v1/ca/register", "/api/v1/ca/revoke", &revoke_user1, now())
        .await;
    assert_eq!(other_path.0, 401, "a token for one path does not open another");
    let (status, registered) = ca.admin_post(&admin, "/api/v1/ca/register", &register, now()).await;
    assert_eq!(status, 201, "{registered}");
    let secret = registered["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        ca.admin_post(&admin, "/api/v1/ca/register", &register, now()).await.0,
        409
    );
    let bad = serde_json::json!({ "enrollment_id": "x y", "role": "client" });
    let (status, problem) = ca.admin_post(&admin, "/api/v1/ca/register", &bad, now()).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("enrollment_id")));
    for attributes in [
        serde_json::json!({ "hf.Type": "admin" }),
        serde_json::json!({ "bad name": "x" }),
        serde_json::json!({ "facility": "line\nbreak" }),
    ] {
        let bad = serde_json::json!({ "enrollment_id": "rs-bad", "role": "client", "attributes": attributes });
        let (status, problem) = ca.admin_post(&admin, "/api/v1/ca/register", &bad, now()).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some("attributes")),
            "{problem}"
        );
    }
    // An application organisation's CA does not issue the orderer role.
    let orderer = serde_json::json!({ "enrollment_id": "orderer-palsu", "role": "orderer" });
    let (status, problem) = ca.admin_post(&admin, "/api/v1/ca/register", &orderer, now()).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("role")), "{problem}");

    // Enroll: the secret, a P-256 key; the CA sets subject and role.
    let (csr, key) = client::certificate_request("whatever-the-requester-asks").unwrap();
    assert_eq!(ca.enroll("rs-jakarta-app", "wrong-secret", &csr).await.0, 401);
    let (status, problem) = ca.enroll("rs-jakarta-app", &secret, "not a csr").await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("csr")));
    let (status, enrolled) = ca.enroll("rs-jakarta-app", &secret, &csr).await;
    assert_eq!(status, 201, "{enrolled}");
    let certificate = enrolled["certificate"].as_str().unwrap();
    let identity = SigningIdentity::from_pem("BPJSMSP", certificate.as_bytes(), key.as_bytes()).unwrap();
    let mut msp = ca.msp();
    let validated = msp.validate(&identity.certificate_der, now()).unwrap();
    assert_eq!(
        (validated.role, validated.common_name.as_str()),
        (MspRole::Client, "rs-jakarta-app")
    );
    assert_eq!(
        validated.attributes,
        std::collections::BTreeMap::from([
            ("facility".to_owned(), "R3171001".to_owned()),
            ("hf.EnrollmentID".to_owned(), "rs-jakarta-app".to_owned()),
            ("hf.Type".to_owned(), "client".to_owned()),
        ]),
        "the registered attributes, in Fabric CA's extension"
    );
    assert_eq!(validated.invoker().attribute("facility"), Some("R3171001"));
    let signature = identity.sign(b"proposal").unwrap();
    validated.verify(b"proposal", &signature).unwrap();
    let (csr2, _) = client::certificate_request("again").unwrap();
    assert_eq!(
        ca.enroll("rs-jakarta-app", &secret, &csr2).await.0,
        403,
        "one enrollment"
    );

    // Revoke; the published list is signed by the CA and an MSP applying it refuses the identity.
    let revoke = serde_json::json!({ "enrollment_id": "rs-jakarta-app" });
    let (status, revoked) = ca.admin_post(&admin, "/api/v1/ca/revoke", &revoke, now()).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["revoked"][0], validated.serial);
    let crl = ca.http.get(format!("{}/api/v1/ca/crl", ca.url)).send().await.unwrap();
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    let crl = crl.bytes().await.unwrap();
    assert_eq!(msp.apply_revocation_list(&crl).unwrap(), 1);
    assert_eq!(
        msp.validate(&identity.certificate_der, now()),
        Err(MspError::Revoked {
            serial: validated.serial.clone()
        })
    );

    // The state survives a restart of the CA.
    let reopened = Ca::open(CaConfig {
        msp_id: "BPJSMSP".into(),
        domain: "bpjs.warga.local".into(),
        orderer_organization: false,
        org_dir: ca.org.clone(),
        dns_names: Vec::new(),
    })
    .unwrap();
    drop(reopened);
    let state: Value = serde_json::from_slice(&std::fs::read(ca.org.join("ca/state.json")).unwrap()).unwrap();
    assert_eq!(state["revoked"][0]["serial"], validated.serial);
    assert!(!state.to_string().contains(&secret), "secrets are kept only as hashes");
}
