//! Latency of the two costs every authenticated request and every sign-in pay, as
//! percentiles, next to a reference measured in the same run:
//!
//! * token validation (ES256 signature, claims, revocation check; keys cached) against a
//!   bare ECDSA P-256 verification with *ring*, the floor it cannot go below;
//! * a sign-in's password check (argon2id, 19 MiB, t=2) against one SHA-256 of the same
//!   input.
//!
//! `cargo bench -p warga-identity --bench auth`; results in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
};
use warga_auth::{AccessClaims, KeyRing, MasterKey, Minter, Revocations, TokenValidator};
use warga_store::testing::TestDb;

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn report(name: &str, samples: Vec<Duration>, reference: Option<Duration>) -> Duration {
    let n = samples.len();
    let (p50, p99) = percentiles(samples);
    let ratio = reference
        .map(|r| format!("  ({:.2}x reference p50)", p50.as_secs_f64() / r.as_secs_f64()))
        .unwrap_or_default();
    println!("{name:<44} n={n:<6} p50={p50:>10.1?} p99={p99:>10.1?}{ratio}");
    p50
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Reference 1: a bare ECDSA P-256 verification.
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let message = vec![7u8; 400];
        let signature = pair.sign(&rng, &message).unwrap();
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref().to_vec());
        let mut samples = Vec::new();
        for _ in 0..5_000 {
            let start = Instant::now();
            public.verify(&message, signature.as_ref()).unwrap();
            samples.push(start.elapsed());
        }
        let ecdsa = report("reference: ring ECDSA P-256 verify", samples, None);

        // Token validation through the real validator.
        let db = TestDb::sqlite(&[warga_auth::MIGRATIONS]).await;
        let master = Arc::new(MasterKey::from_bytes(&[1u8; 32]).unwrap());
        let keyring = KeyRing::new(
            db.store.clone(),
            master,
            Duration::from_secs(86_400),
            Duration::from_secs(600),
        );
        let issuer = "https://warga.bench".to_owned();
        let minter = Minter::new(keyring.clone(), issuer.clone());
        let validator = TokenValidator::local(issuer, "warga".into(), keyring, Revocations::new(db.store.clone()));
        let claims = AccessClaims {
            iss: String::new(),
            sub: "0193a0f2-aaaa-7000-8000-000000000001".into(),
            aud: serde_json::json!("warga"),
            exp: 0,
            iat: 0,
            nbf: None,
            jti: None,
            client_id: Some("warga-web".into()),
            azp: None,
            scope: Some("openid profile roles".into()),
            roles: vec!["officer".into()],
            realm_access: None,
            preferred_username: Some("budi.pu".into()),
            department: Some("dinas-pu".into()),
            officer_level: Some("head".into()),
            msp_id: None,
            facility: None,
        };
        let token = minter.access_token(claims, 3_600).await.unwrap().token;
        validator.validate(&token).await.unwrap();
        let mut samples = Vec::new();
        for _ in 0..5_000 {
            let start = Instant::now();
            validator.validate(&token).await.unwrap();
            samples.push(start.elapsed());
        }
        report("token validation (ES256, claims, revocation)", samples, Some(ecdsa));

        // Reference 2: one SHA-256 of the password.
        let password = "Kopi-Tubruk-Pagi-2026";
        let mut samples = Vec::new();
        for _ in 0..5_000 {
            let start = Instant::now();
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, password.as_bytes()));
            samples.push(start.elapsed());
        }
        let sha = report("reference: SHA-256 of the password", samples, None);

        // The password check of a sign-in.
        let hash = warga_identity::password::hash(password.into()).await.unwrap();
        let mut samples = Vec::new();
        for _ in 0..60 {
            let start = Instant::now();
            assert!(warga_identity::password::verify(password.into(), Some(hash.clone())).await);
            samples.push(start.elapsed());
        }
        report("sign-in password check (argon2id 19 MiB, t=2)", samples, Some(sha));
    });
}
