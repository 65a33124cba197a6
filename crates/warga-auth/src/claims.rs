//! The claims of warga's access tokens, and the ones read from external issuers.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use warga_core::identity::{OfficerLevel, Principal, PrincipalKind, Role, known_roles};

/// Keycloak's `realm_access` claim.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RealmAccess {
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Access token claims (RFC 9068 plus warga's and Keycloak's role claims).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    /// A string or an array of strings.
    pub aud: serde_json::Value,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Keycloak names the client `azp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_access: Option<RealmAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msp_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
}

impl AccessClaims {
    /// Claims for `sub` meant for `audience`, with nothing else set; the minter fills in
    /// the issuer, the times and the token id.
    pub fn new(sub: impl Into<String>, audience: &str) -> Self {
        AccessClaims {
            iss: String::new(),
            sub: sub.into(),
            aud: serde_json::json!(audience),
            exp: 0,
            iat: 0,
            nbf: None,
            jti: None,
            client_id: None,
            azp: None,
            scope: None,
            roles: Vec::new(),
            realm_access: None,
            preferred_username: None,
            department: None,
            officer_level: None,
            msp_id: None,
            facility: None,
        }
    }

    /// Roles from warga's `roles` claim and Keycloak's `realm_access.roles`, known ones only.
    pub fn role_set(&self) -> BTreeSet<Role> {
        let realm = self.realm_access.iter().flat_map(|r| r.roles.iter());
        known_roles(self.roles.iter().chain(realm).map(String::as_str))
    }

    pub fn into_principal(self) -> Principal {
        let roles = self.role_set();
        let kind = if roles.contains(&Role::Service) {
            PrincipalKind::Service
        } else {
            PrincipalKind::User
        };
        Principal {
            subject: self.sub,
            kind,
            username: self.preferred_username,
            roles,
            department: self.department,
            level: self.officer_level.and_then(|l| l.parse::<OfficerLevel>().ok()),
            msp_id: self.msp_id,
            facility: self.facility,
            client_id: self.client_id.or(self.azp),
            token_id: self.jti,
            issuer: self.iss,
            expires_at: self.exp,
        }
    }
}
