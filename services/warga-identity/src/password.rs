//! Passwords: argon2id hashing off the async runtime, and the password policy.

// Hashing is the platform's (`warga_auth::slow_hash`), shared with receipt codes.
pub use warga_auth::slow_hash::{hash, verify};

/// Shortest and longest password accepted, in characters.
pub const PASSWORD_CHARS_MIN: usize = 10;
pub const PASSWORD_CHARS_MAX: usize = 128;

/// Passwords people choose first; refused whatever their length.
const DENY_LIST: &[&str] = &[
    "1234567890",
    "12345678910",
    "0123456789",
    "password123",
    "password1234",
    "passw0rd123",
    "qwertyuiop",
    "qwerty12345",
    "iloveyou123",
    "admin12345",
    "administrator",
    "rahasia123",
    "rahasia1234",
    "indonesia123",
    "indonesia1945",
    "merdeka1945",
    "bismillah123",
    "jakarta123",
    "sayangku123",
    "katasandi123",
    "warga12345",
    "wargawarga",
];

/// Why a password is refused; the text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("must be at least {PASSWORD_CHARS_MIN} characters")]
    TooShort,
    #[error("must be at most {PASSWORD_CHARS_MAX} characters")]
    TooLong,
    #[error("must not contain the username")]
    ContainsUsername,
    #[error("must not be a NIK or another 16-digit number")]
    LooksLikeNik,
    #[error("is too common; choose another")]
    TooCommon,
}

/// Checks `password` for the account `username`.
impl PolicyError {
    /// The refusal in Bahasa Indonesia.
    pub fn text_id(&self) -> String {
        match self {
            PolicyError::TooShort => format!("paling sedikit {PASSWORD_CHARS_MIN} karakter"),
            PolicyError::TooLong => format!("paling banyak {PASSWORD_CHARS_MAX} karakter"),
            PolicyError::ContainsUsername => "tidak boleh memuat nama pengguna".into(),
            PolicyError::LooksLikeNik => "tidak boleh berupa NIK atau angka 16 digit lainnya".into(),
            PolicyError::TooCommon => "terlalu umum; pilih yang lain".into(),
        }
    }

    /// The refusal of the field `field`, in both languages.
    pub fn refusing(&self, field: &str) -> crate::IdentityError {
        crate::IdentityError::invalid(field, self.to_string()).id(self.text_id())
    }
}

pub fn check_policy(password: &str, username: &str) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars < PASSWORD_CHARS_MIN {
        return Err(PolicyError::TooShort);
    }
    if chars > PASSWORD_CHARS_MAX {
        return Err(PolicyError::TooLong);
    }
    let lower = password.to_lowercase();
    if username.len() >= 3 && lower.contains(&username.to_lowercase()) {
        return Err(PolicyError::ContainsUsername);
    }
    let digits: String = password
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect();
    if digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PolicyError::LooksLikeNik);
    }
    if DENY_LIST.contains(&lower.as_str()) {
        return Err(PolicyError::TooCommon);
    }
    Ok(())
}

/// A random password for accounts created by an administrator (shown once).
pub fn one_time_password() -> String {
    // 15 random bytes → 20 base64url characters: well inside the policy.
    warga_auth::random_token(15).unwrap_or_else(|_| uuid::Uuid::now_v7().simple().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let cases: &[(&str, &str, Result<(), PolicyError>)] = &[
            ("Kopi-Tubruk-Pagi", "siti", Ok(())),
            ("pendek", "siti", Err(PolicyError::TooShort)),
            ("SitiAminah2026!", "sitiaminah", Err(PolicyError::ContainsUsername)),
            ("3174051203950004", "siti", Err(PolicyError::LooksLikeNik)),
            ("3174-0512-0395-0004", "siti", Err(PolicyError::LooksLikeNik)),
            ("Password123", "siti", Err(PolicyError::TooCommon)),
            ("merdeka1945", "siti", Err(PolicyError::TooCommon)),
        ];
        for (password, username, expected) in cases {
            assert_eq!(&check_policy(password, username), expected, "{password}");
        }
        assert_eq!(check_policy(&"x".repeat(129), "siti"), Err(PolicyError::TooLong));
    }

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let hashed = hash("Kopi-Tubruk-Pagi".into()).await.unwrap();
        assert!(hashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hashed}");
        assert!(verify("Kopi-Tubruk-Pagi".into(), Some(hashed.clone())).await);
        assert!(!verify("kopi-tubruk-pagi".into(), Some(hashed)).await);
        assert!(!verify("anything".into(), None).await);
        assert_ne!(one_time_password(), one_time_password());
        assert!(check_policy(&one_time_password(), "admin").is_ok());
    }
}
