//! Endorsement policies in Hyperledger Fabric's grammar, and their evaluation.
//!
//! Two kinds, as in Fabric:
//!
//! - **Signature policies** over principals `'MSP.role'` combined with `AND(…)`, `OR(…)` and
//!   `OutOf(n, …)`, e.g. `AND('BPJSMSP.peer', OR('PuskesmasMSP.peer', 'RumahSakitMSP.peer'))`.
//!   Roles: `member` (any identity of the MSP), `admin`, `client`, `peer`, `orderer`.
//! - **Implicit meta policies** `ANY|ALL|MAJORITY <SubPolicy>`, e.g. `MAJORITY Endorsement`:
//!   satisfied when any, all, or more than half of the channel's member organisations satisfy
//!   their own policy named `<SubPolicy>`.
//!
//! Evaluation follows Fabric's (cauthdsl): each identity can satisfy at most one principal,
//! identities are consumed greedily left to right, and a gate keeps the identities its
//! satisfied branches consumed. So `AND('A.member', 'A.member')` needs two distinct
//! identities of A. Duplicate identities (the same certificate twice) count once.

use std::fmt;

/// The longest policy text accepted, in bytes.
pub const POLICY_BYTES_MAX: usize = 4_096;
/// The deepest nesting of gates accepted.
pub const DEPTH_MAX: usize = 16;
/// The most sub-policies one gate may have.
pub const GATE_RULES_MAX: usize = 64;

/// The role an identity's certificate carries (Fabric's node OUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MspRole {
    /// Any identity of the organisation.
    Member,
    Admin,
    Client,
    Peer,
    Orderer,
}

impl MspRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MspRole::Member => "member",
            MspRole::Admin => "admin",
            MspRole::Client => "client",
            MspRole::Peer => "peer",
            MspRole::Orderer => "orderer",
        }
    }

    pub fn parse(text: &str) -> Option<MspRole> {
        Some(match text {
            "member" => MspRole::Member,
            "admin" => MspRole::Admin,
            "client" => MspRole::Client,
            "peer" => MspRole::Peer,
            "orderer" => MspRole::Orderer,
            _ => return None,
        })
    }
}

/// `'MSP.role'`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    pub msp_id: String,
    pub role: MspRole,
}

/// A signature policy: principals combined by threshold gates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignaturePolicy {
    Principal(Principal),
    /// At least `n` of `rules`. `AND` is `n = len`, `OR` is `n = 1`; `written` keeps how the
    /// text said it, for display.
    Gate {
        n: usize,
        rules: Vec<SignaturePolicy>,
        written: GateKind,
    },
}

/// How a gate was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateKind {
    And,
    Or,
    OutOf,
}

/// `ANY`, `ALL` or `MAJORITY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaRule {
    Any,
    All,
    Majority,
}

/// A parsed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    Signature(SignaturePolicy),
    ImplicitMeta { rule: MetaRule, sub_policy: String },
}

/// Why a policy's text is refused: what was expected, at which byte column (1-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy error at column {column}: {message}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

/// An identity that endorsed or signed: its organisation, the roles its certificate carries,
/// and a stable id (the certificate's hash) so the same identity is not counted twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    pub id: String,
    pub msp_id: String,
    pub roles: Vec<MspRole>,
}

impl Signer {
    fn satisfies(&self, principal: &Principal) -> bool {
        self.msp_id == principal.msp_id && (principal.role == MspRole::Member || self.roles.contains(&principal.role))
    }
}

/// What implicit meta policies refer to: the channel's member organisations and each one's
/// named policies (e.g. `Endorsement` → `'BPJSMSP.peer'`).
pub trait ChannelPolicies {
    /// The MSP ids of the channel's application organisations.
    fn organisations(&self) -> Vec<String>;
    /// The organisation's policy called `name`, if it has one.
    fn org_policy(&self, msp_id: &str, name: &str) -> Option<SignaturePolicy>;
}

// ---------------------------------------------------------------------------------------
// Parsing

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            column: self.pos + 1,
            message: message.into(),
        })
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: char) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: char, what: &str) -> Result<(), ParseError> {
        if self.eat(token) {
            Ok(())
        } else {
            self.error(format!("expected {what}"))
        }
    }

    /// A word of letters (a gate or meta rule name).
    fn word(&mut self) -> &'a str {
        self.skip_space();
        let len = self
            .rest()
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(self.rest().len());
        let word = &self.rest()[..len];
        self.pos += len;
        word
    }

    fn number(&mut self) -> Result<usize, ParseError> {
        self.skip_space();
        let len = self
            .rest()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.rest().len());
        if len == 0 || len > 4 {
            return self.error("expected a number (the threshold of OutOf)");
        }
        let n = self.rest()[..len].parse().unwrap_or(0);
        self.pos += len;
        Ok(n)
    }

    fn principal(&mut self) -> Result<SignaturePolicy, ParseError> {
        self.skip_space();
        let quote = match self.rest().chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return self.error("expected a principal such as 'BPJSMSP.peer', or AND, OR, OutOf"),
        };
        let start = self.pos;
        self.pos += 1;
        let Some(len) = self.rest().find(quote) else {
            self.pos = start;
            return self.error("unterminated principal: a closing quote is missing");
        };
        let body = &self.rest()[..len];
        // Errors about the principal point at its opening quote.
        self.pos = start;
        let Some((msp_id, role)) = body.rsplit_once('.') else {
            return self.error(format!("principal '{body}' must be 'MSP.role'"));
        };
        let msp_ok = !msp_id.is_empty()
            && msp_id.len() <= 64
            && msp_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !msp_ok {
            return self.error(format!("'{msp_id}' is not an MSP id (letters, digits, '-', '_', '.')"));
        }
        let Some(role) = MspRole::parse(role) else {
            return self.error(format!("unknown role '{role}': member, admin, client, peer or orderer"));
        };
        self.pos = start + 1 + len + 1;
        Ok(SignaturePolicy::Principal(Principal {
            msp_id: msp_id.to_owned(),
            role,
        }))
    }

    fn signature(&mut self, depth: usize) -> Result<SignaturePolicy, ParseError> {
        if depth > DEPTH_MAX {
            return self.error(format!("nested deeper than {DEPTH_MAX} gates"));
        }
        self.skip_space();
        if matches!(self.rest().chars().next(), Some('\'' | '"')) {
            return self.principal();
        }
        let at = self.pos;
        let (kind, n) = match self.word() {
            "AND" => (GateKind::And, None),
            "OR" => (GateKind::Or, None),
            "OutOf" => (GateKind::OutOf, Some(())),
            "" => return self.error("expected a principal such as 'BPJSMSP.peer', or AND, OR, OutOf"),
            other => {
                self.pos = at;
                return self.error(format!("unknown gate '{other}': AND, OR or OutOf"));
            }
        };
        self.expect('(', "'(' after the gate")?;
        let threshold = match n {
            Some(()) => {
                let n = self.number()?;
                self.expect(',', "',' after the threshold")?;
                Some(n)
            }
            None => None,
        };
        let mut rules = vec![self.signature(depth + 1)?];
        while self.eat(',') {
            if rules.len() == GATE_RULES_MAX {
                return self.error(format!("more than {GATE_RULES_MAX} rules in one gate"));
            }
            rules.push(self.signature(depth + 1)?);
        }
        self.expect(')', "',' or ')'")?;
        let n = match (kind, threshold) {
            (GateKind::And, _) => rules.len(),
            (GateKind::Or, _) => 1,
            (GateKind::OutOf, Some(n)) => n,
            (GateKind::OutOf, None) => unreachable!("OutOf always reads its threshold"),
        };
        if n == 0 || n > rules.len() {
            self.pos = at;
            return self.error(format!(
                "OutOf({n}, …) needs 1 to {} of its {} rules",
                rules.len(),
                rules.len()
            ));
        }
        Ok(SignaturePolicy::Gate {
            n,
            rules,
            written: kind,
        })
    }
}

impl Policy {
    /// Parses a policy written as in Fabric's configtx.yaml or chaincode definitions.
    pub fn parse(text: &str) -> Result<Policy, ParseError> {
        if text.len() > POLICY_BYTES_MAX {
            return Err(ParseError {
                column: POLICY_BYTES_MAX + 1,
                message: format!("longer than {POLICY_BYTES_MAX} bytes"),
            });
        }
        let mut parser = Parser { text, pos: 0 };
        parser.skip_space();
        let at = parser.pos;
        let rule = match parser.word() {
            "ANY" => Some(MetaRule::Any),
            "ALL" => Some(MetaRule::All),
            "MAJORITY" => Some(MetaRule::Majority),
            _ => None,
        };
        let policy = match rule {
            Some(rule) => {
                let name = parser.word();
                if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    return parser.error("expected a sub-policy name, e.g. MAJORITY Endorsement");
                }
                Policy::ImplicitMeta {
                    rule,
                    sub_policy: name.to_owned(),
                }
            }
            None => {
                parser.pos = at;
                Policy::Signature(parser.signature(0)?)
            }
        };
        parser.skip_space();
        if !parser.rest().is_empty() {
            return parser.error("unexpected text after the policy");
        }
        Ok(policy)
    }

    /// Whether `signers` satisfy the policy on a channel.
    pub fn is_satisfied(&self, signers: &[Signer], channel: &dyn ChannelPolicies) -> bool {
        match self {
            Policy::Signature(policy) => policy.is_satisfied(signers),
            Policy::ImplicitMeta { rule, sub_policy } => {
                let orgs = channel.organisations();
                let satisfied = orgs
                    .iter()
                    .filter(|org| {
                        channel
                            .org_policy(org, sub_policy)
                            .is_some_and(|policy| policy.is_satisfied(signers))
                    })
                    .count();
                match rule {
                    MetaRule::Any => satisfied >= 1,
                    MetaRule::All => !orgs.is_empty() && satisfied == orgs.len(),
                    MetaRule::Majority => satisfied > orgs.len() / 2,
                }
            }
        }
    }
}

impl SignaturePolicy {
    /// Whether `signers` satisfy the policy (each identity used once).
    pub fn is_satisfied(&self, signers: &[Signer]) -> bool {
        let mut distinct: Vec<&Signer> = Vec::with_capacity(signers.len());
        for signer in signers {
            if !distinct.iter().any(|s| s.id == signer.id) {
                distinct.push(signer);
            }
        }
        let mut used = vec![false; distinct.len()];
        self.evaluate(&distinct, &mut used)
    }

    fn evaluate(&self, signers: &[&Signer], used: &mut [bool]) -> bool {
        match self {
            SignaturePolicy::Principal(principal) => {
                for (i, signer) in signers.iter().enumerate() {
                    if !used[i] && signer.satisfies(principal) {
                        used[i] = true;
                        return true;
                    }
                }
                false
            }
            SignaturePolicy::Gate { n, rules, .. } => {
                let mut met = 0;
                for rule in rules {
                    let mut trial = used.to_vec();
                    if rule.evaluate(signers, &mut trial) {
                        used.copy_from_slice(&trial);
                        met += 1;
                    }
                }
                met >= *n
            }
        }
    }

    /// The MSP ids the policy names.
    pub fn organisations(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_orgs(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_orgs(&self, out: &mut Vec<String>) {
        match self {
            SignaturePolicy::Principal(p) => out.push(p.msp_id.clone()),
            SignaturePolicy::Gate { rules, .. } => rules.iter().for_each(|r| r.collect_orgs(out)),
        }
    }
}

impl fmt::Display for SignaturePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignaturePolicy::Principal(p) => write!(f, "'{}.{}'", p.msp_id, p.role.as_str()),
            SignaturePolicy::Gate { n, rules, written } => {
                match written {
                    GateKind::And => write!(f, "AND(")?,
                    GateKind::Or => write!(f, "OR(")?,
                    GateKind::OutOf => write!(f, "OutOf({n}, ")?,
                }
                for (i, rule) in rules.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{rule}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Signature(policy) => write!(f, "{policy}"),
            Policy::ImplicitMeta { rule, sub_policy } => {
                let rule = match rule {
                    MetaRule::Any => "ANY",
                    MetaRule::All => "ALL",
                    MetaRule::Majority => "MAJORITY",
                };
                write!(f, "{rule} {sub_policy}")
            }
        }
    }
}

/// The properties parsing has on arbitrary text: no panic, and an accepted policy prints
/// back to text that parses to the same policy. The body of the `policy` fuzz target and of
/// a test over a fixed corpus. Returns whether the text was accepted.
#[allow(
    clippy::panic,
    reason = "a fuzz and test oracle: a broken invariant must abort the run"
)]
pub fn check_parse_invariants(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    match Policy::parse(&text) {
        Ok(policy) => {
            let printed = policy.to_string();
            let again = Policy::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not parse again: {e}"));
            assert_eq!(again, policy, "printing and parsing again changes {text:?}");
            true
        }
        Err(error) => {
            assert!(error.column >= 1 && !error.message.is_empty());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(id: &str, msp: &str, roles: &[MspRole]) -> Signer {
        Signer {
            id: id.into(),
            msp_id: msp.into(),
            roles: roles.to_vec(),
        }
    }

    fn peer(msp: &str) -> Signer {
        signer(&format!("{msp}-peer0"), msp, &[MspRole::Peer])
    }

    /// The BPJS network's organisations, each with `Endorsement = '<MSP>.peer'`.
    struct Bpjs;

    impl ChannelPolicies for Bpjs {
        fn organisations(&self) -> Vec<String> {
            vec!["BPJSMSP".into(), "PuskesmasMSP".into(), "RumahSakitMSP".into()]
        }
        fn org_policy(&self, msp_id: &str, name: &str) -> Option<SignaturePolicy> {
            (name == "Endorsement").then(|| match Policy::parse(&format!("'{msp_id}.peer'")) {
                Ok(Policy::Signature(p)) => p,
                _ => unreachable!(),
            })
        }
    }

    fn satisfied(policy: &str, signers: &[Signer]) -> bool {
        Policy::parse(policy).unwrap().is_satisfied(signers, &Bpjs)
    }

    #[test]
    fn the_seed_policies_accept_and_refuse_the_right_organisations() {
        let (bpjs, puskesmas, rs) = (peer("BPJSMSP"), peer("PuskesmasMSP"), peer("RumahSakitMSP"));
        let issue_card = "MAJORITY Endorsement";
        let record_visit = "AND('BPJSMSP.peer', 'PuskesmasMSP.peer')";
        let process_claim = "AND('BPJSMSP.peer', 'RumahSakitMSP.peer')";
        let approve_referral = "OR('PuskesmasMSP.peer', 'RumahSakitMSP.peer')";
        // (policy, endorsers, satisfied)
        let cases: Vec<(&str, Vec<&Signer>, bool)> = vec![
            (issue_card, vec![&bpjs], false),
            (issue_card, vec![&bpjs, &puskesmas], true),
            (issue_card, vec![&puskesmas, &rs], true),
            (issue_card, vec![&bpjs, &puskesmas, &rs], true),
            (issue_card, vec![], false),
            (record_visit, vec![&bpjs, &puskesmas], true),
            (record_visit, vec![&bpjs], false),
            (record_visit, vec![&puskesmas, &rs], false),
            (record_visit, vec![&bpjs, &rs], false),
            (process_claim, vec![&bpjs, &rs], true),
            (process_claim, vec![&bpjs, &puskesmas], false),
            (process_claim, vec![&rs], false),
            (approve_referral, vec![&puskesmas], true),
            (approve_referral, vec![&rs], true),
            (approve_referral, vec![&bpjs], false),
            (approve_referral, vec![], false),
        ];
        for (policy, endorsers, expected) in cases {
            let endorsers: Vec<Signer> = endorsers.into_iter().cloned().collect();
            let names: Vec<&str> = endorsers.iter().map(|s| s.msp_id.as_str()).collect();
            assert_eq!(satisfied(policy, &endorsers), expected, "{policy} with {names:?}");
        }
    }

    #[test]
    fn roles_and_identities_count_as_fabric_counts_them() {
        let client = signer("c1", "BPJSMSP", &[MspRole::Client]);
        let admin = signer("a1", "BPJSMSP", &[MspRole::Admin]);
        assert!(satisfied("'BPJSMSP.member'", std::slice::from_ref(&client)));
        assert!(!satisfied("'BPJSMSP.peer'", std::slice::from_ref(&client)));
        assert!(satisfied("'BPJSMSP.admin'", std::slice::from_ref(&admin)));
        assert!(!satisfied("'PuskesmasMSP.member'", std::slice::from_ref(&admin)));
        // Each identity satisfies one principal; the same certificate twice counts once.
        let two = "AND('BPJSMSP.member', 'BPJSMSP.member')";
        assert!(!satisfied(two, &[client.clone(), client.clone()]));
        assert!(satisfied(two, &[client.clone(), admin.clone()]));
        assert!(satisfied(
            "OutOf(2, 'BPJSMSP.client', 'BPJSMSP.admin', 'X.peer')",
            &[client.clone(), admin.clone()]
        ));
        assert!(!satisfied(
            "OutOf(3, 'BPJSMSP.client', 'BPJSMSP.admin', 'X.peer')",
            &[client, admin]
        ));
        // ALL needs every organisation; ANY one.
        let all = [peer("BPJSMSP"), peer("PuskesmasMSP"), peer("RumahSakitMSP")];
        assert!(satisfied("ALL Endorsement", &all));
        assert!(!satisfied("ALL Endorsement", &all[..2]));
        assert!(satisfied("ANY Endorsement", &all[2..]));
        assert!(
            !satisfied("ANY Readers", &all),
            "an unknown sub-policy is never satisfied"
        );
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "expected a principal"),
            ("AND('A.peer'", 13, "expected ',' or ')'"),
            ("AND('A.peer',)", 14, "expected a principal"),
            ("AND 'A.peer')", 5, "expected '(' after the gate"),
            ("XOR('A.peer')", 1, "unknown gate 'XOR'"),
            ("'A.boss'", 1, "unknown role 'boss'"),
            ("'Apeer'", 1, "must be 'MSP.role'"),
            ("'A.peer", 1, "unterminated principal"),
            ("OutOf(3, 'A.peer', 'B.peer')", 1, "needs 1 to 2"),
            ("OutOf(0, 'A.peer')", 1, "needs 1 to 1"),
            ("OutOf(x, 'A.peer')", 7, "expected a number"),
            ("MAJORITY", 9, "expected a sub-policy name"),
            ("'A.peer' 'B.peer'", 10, "unexpected text"),
            ("'A b.peer'", 1, "is not an MSP id"),
        ];
        for (text, column, message) in cases {
            let error = Policy::parse(text).unwrap_err();
            assert_eq!(error.column, *column, "{text}: {error}");
            assert!(error.message.contains(message), "{text}: {error}");
        }
        let deep = format!("{}'A.peer'{}", "OR(".repeat(DEPTH_MAX + 1), ")".repeat(DEPTH_MAX + 1));
        assert!(Policy::parse(&deep).unwrap_err().message.contains("nested deeper"));
        assert!(Policy::parse(&"x".repeat(POLICY_BYTES_MAX + 1)).is_err());
    }

    #[test]
    fn policies_print_as_written() {
        for text in [
            "AND('BPJSMSP.peer', OR('PuskesmasMSP.peer', 'RumahSakitMSP.peer'))",
            "OutOf(2, 'A.member', 'B.admin', 'C.client')",
            "MAJORITY Endorsement",
            "'A.orderer'",
        ] {
            assert_eq!(Policy::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Policy::parse("  AND ( \"A.peer\" ,'B.peer' )  ").unwrap().to_string(),
            "AND('A.peer', 'B.peer')"
        );
        let Policy::Signature(policy) = Policy::parse("AND('B.peer', OR('A.peer', 'B.admin'))").unwrap() else {
            unreachable!()
        };
        assert_eq!(policy.organisations(), ["A", "B"]);
    }

    #[test]
    fn parse_invariants_hold_on_random_input() {
        let pieces = [
            "AND(",
            "OR(",
            "OutOf(",
            "2",
            ",",
            ")",
            "'A.peer'",
            "'B.member'",
            "\"C.admin\"",
            " ",
            "MAJORITY ",
            "Endorsement",
            "'",
            ".",
            "x",
            "ANY",
            "(",
            "0",
            "'D.client'",
        ];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut accepted = 0;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + state % 12;
            let mut text = String::new();
            let mut s = state;
            for _ in 0..len {
                text.push_str(pieces[(s % pieces.len() as u64) as usize]);
                s /= pieces.len() as u64;
                if s == 0 {
                    s = state.rotate_left(17);
                }
            }
            accepted += usize::from(check_parse_invariants(text.as_bytes()));
        }
        assert!(accepted > 500, "the corpus reaches accepted policies too ({accepted})");
    }
}
