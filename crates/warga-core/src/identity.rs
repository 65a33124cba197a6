//! Who is acting: roles and the authenticated principal.
//!
//! One identity is rooted in an account (and, for citizens, later in their NIK); every
//! service authorises against the same [`Principal`], whichever issuer signed the token.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an account may do. Role names are stable: they appear in tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A resident using the public services.
    Citizen,
    /// A department officer (with a department and a level).
    Officer,
    /// An officer of the civil registry who registers residents.
    RegistryOfficer,
    /// Platform administrator.
    Admin,
    /// Member of a ledger organisation (with an MSP id).
    LedgerMember,
    /// Auditor of a ledger organisation (with an MSP id): reads the chain — blocks,
    /// transactions, key history, "verify this ledger" — and transacts nothing.
    LedgerAuditor,
    /// A machine client authenticated with client credentials.
    Service,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Citizen,
        Role::Officer,
        Role::RegistryOfficer,
        Role::Admin,
        Role::LedgerMember,
        Role::LedgerAuditor,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Officer => "officer",
            Role::RegistryOfficer => "registry_officer",
            Role::Admin => "admin",
            Role::LedgerMember => "ledger_member",
            Role::LedgerAuditor => "ledger_auditor",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// An officer's level in their department's escalation chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficerLevel {
    Staff,
    Head,
    Top,
}

impl OfficerLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            OfficerLevel::Staff => "staff",
            OfficerLevel::Head => "head",
            OfficerLevel::Top => "top",
        }
    }
}

impl FromStr for OfficerLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "staff" => Ok(OfficerLevel::Staff),
            "head" => Ok(OfficerLevel::Head),
            "top" => Ok(OfficerLevel::Top),
            other => Err(format!("unknown officer level {other:?} (staff, head or top)")),
        }
    }
}

/// Whether the token was issued to a person or to a machine client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    Service,
}

/// The authenticated caller of a request, as established from a validated token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable subject: the account id, or the client id of a service.
    pub subject: String,
    pub kind: PrincipalKind,
    pub username: Option<String>,
    pub roles: BTreeSet<Role>,
    pub department: Option<String>,
    pub level: Option<OfficerLevel>,
    pub msp_id: Option<String>,
    /// The health facility a ledger member acts for (BPJS's *kode faskes*), written into
    /// their ledger certificate's `facility` attribute.
    pub facility: Option<String>,
    /// The OAuth client the token was issued to.
    pub client_id: Option<String>,
    /// The token's id (`jti`), for revocation and audit.
    pub token_id: Option<String>,
    pub issuer: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_any_role(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.roles.contains(r))
    }

    /// How the principal appears in audit records: never a name or a NIK.
    pub fn audit_actor(&self) -> String {
        match self.kind {
            PrincipalKind::User => format!("user:{}", self.subject),
            PrincipalKind::Service => format!("service:{}", self.subject),
        }
    }
}

/// Parses role names, dropping the ones warga does not know (external issuers carry many).
pub fn known_roles<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeSet<Role> {
    names.into_iter().filter_map(|n| n.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip_and_unknown_ones_are_dropped() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        let roles = known_roles(["admin", "offline_access", "uma_authorization", "citizen"]);
        assert_eq!(roles.into_iter().collect::<Vec<_>>(), vec![Role::Citizen, Role::Admin]);
        assert!("Admin".parse::<Role>().is_err());
    }
}
