//! An external OpenID Connect issuer: discovery, JWKS, and a key cache.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use serde::Deserialize;
use tokio::sync::RwLock;
use warga_core::resilience::{BreakerConfig, CircuitBreaker, RetryPolicy};
use warga_core::time::SystemClock;

use crate::AuthError;
use crate::keyring::VerifyKey;

/// An unknown `kid` refetches the JWKS at most this often (a flood of forged kids must not
/// become a flood of requests to the issuer).
pub const REFETCH_MIN: Duration = Duration::from_secs(10);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

struct State {
    jwks_uri: Option<String>,
    keys: HashMap<String, VerifyKey>,
    fetched_at: Option<Instant>,
}

pub(crate) struct RemoteIssuer {
    issuer: String,
    refetch_min: Duration,
    /// Stops hammering an issuer that is down; its documents are fetched with retries.
    breaker: CircuitBreaker,
    retry: RetryPolicy,
    client: reqwest::Client,
    state: RwLock<State>,
}

impl RemoteIssuer {
    pub(crate) fn new(issuer: &str, ca_path: Option<&Path>, refetch_min: Duration) -> Result<RemoteIssuer, AuthError> {
        // warga runs one crypto provider per process (ring); make sure it is the default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = reqwest::Client::builder().timeout(HTTP_TIMEOUT);
        let builder = match ca_path {
            Some(path) => {
                use rustls::pki_types::CertificateDer;
                use rustls::pki_types::pem::PemObject;
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| AuthError::Keys(format!("cannot read {}: {e}", path.display())))?;
                for cert in certs {
                    let cert = cert.map_err(|e| AuthError::Keys(format!("bad PEM in {}: {e}", path.display())))?;
                    roots.add(cert).map_err(|e| AuthError::Keys(e.to_string()))?;
                }
                let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| AuthError::Keys(e.to_string()))?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                builder.use_preconfigured_tls(tls)
            }
            None => builder,
        };
        let client = builder.build().map_err(|e| AuthError::Keys(e.to_string()))?;
        Ok(RemoteIssuer {
            issuer: issuer.trim_end_matches('/').to_owned(),
            refetch_min,
            breaker: CircuitBreaker::new(BreakerConfig::default()),
            retry: RetryPolicy::default(),
            client,
            state: RwLock::new(State {
                jwks_uri: None,
                keys: HashMap::new(),
                fetched_at: None,
            }),
        })
    }

    pub(crate) async fn key(&self, kid: &str) -> Result<Option<VerifyKey>, AuthError> {
        if let Some(key) = self.state.read().await.keys.get(kid) {
            return Ok(Some(key.clone()));
        }
        let may_fetch = self
            .state
            .read()
            .await
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.refetch_min);
        if may_fetch {
            self.refresh().await?;
        }
        Ok(self.state.read().await.keys.get(kid).cloned())
    }

    /// GETs a JSON document through the circuit breaker, retrying with jittered backoff
    /// (GET is idempotent).
    async fn fetch<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let mut last_error = String::new();
        for attempt in 1..=self.retry.attempts {
            let Some(permit) = self.breaker.try_acquire(&SystemClock) else {
                return Err(AuthError::IssuerUnavailable(format!(
                    "circuit open after repeated failures ({last_error})"
                )));
            };
            let result = async { self.client.get(url).send().await?.error_for_status()?.json::<T>().await }.await;
            match result {
                Ok(document) => {
                    self.breaker.succeeded(permit);
                    return Ok(document);
                }
                Err(error) => {
                    self.breaker.failed(permit, &SystemClock);
                    last_error = error.to_string();
                    tracing::warn!(url, attempt, error = %last_error, "fetching from the token issuer failed");
                }
            }
            if attempt < self.retry.attempts {
                let jitter = f64::from(random_byte()) / 255.0;
                tokio::time::sleep(Duration::from_millis(self.retry.delay_ms(attempt, jitter))).await;
            }
        }
        Err(AuthError::IssuerUnavailable(last_error))
    }

    async fn refresh(&self) -> Result<(), AuthError> {
        let jwks_uri = match self.state.read().await.jwks_uri.clone() {
            Some(uri) => uri,
            None => {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let discovery: Discovery = self.fetch(&url).await?;
                if discovery.issuer.trim_end_matches('/') != self.issuer {
                    return Err(AuthError::IssuerUnavailable(format!(
                        "discovery names issuer {} instead of {}",
                        discovery.issuer, self.issuer
                    )));
                }
                discovery.jwks_uri
            }
        };
        let set: JwkSet = self.fetch(&jwks_uri).await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                    EllipticCurve::P256 => Algorithm::ES256,
                    EllipticCurve::P384 => Algorithm::ES384,
                    _ => continue,
                },
                // RSA keys: the JWK's own `alg` when given (RS256 is what Keycloak uses).
                AlgorithmParameters::RSA(_) => match jwk.common.key_algorithm {
                    Some(jsonwebtoken::jwk::KeyAlgorithm::RS384) => Algorithm::RS384,
                    Some(jsonwebtoken::jwk::KeyAlgorithm::RS512) => Algorithm::RS512,
                    Some(jsonwebtoken::jwk::KeyAlgorithm::PS256) => Algorithm::PS256,
                    Some(jsonwebtoken::jwk::KeyAlgorithm::PS384) => Algorithm::PS384,
                    Some(jsonwebtoken::jwk::KeyAlgorithm::PS512) => Algorithm::PS512,
                    Some(jsonwebtoken::jwk::KeyAlgorithm::RS256) | None => Algorithm::RS256,
                    Some(_) => continue,
                },
                // Symmetric and other keys are never trusted from a JWKS.
                _ => continue,
            };
            let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else {
                continue;
            };
            keys.insert(kid, VerifyKey { key, algorithm });
        }
        let mut state = self.state.write().await;
        state.jwks_uri = Some(jwks_uri);
        state.keys = keys;
        state.fetched_at = Some(Instant::now());
        Ok(())
    }
}

fn random_byte() -> u8 {
    use ring::rand::SecureRandom;
    let mut byte = [0u8; 1];
    let _ = ring::rand::SystemRandom::new().fill(&mut byte);
    byte[0]
}
