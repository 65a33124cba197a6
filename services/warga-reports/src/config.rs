//! The reports service's section of the configuration, `[reports]`.

use serde::{Deserialize, Serialize};
use warga_config::{ConfigError, Secret, Section};

/// Photos a reporter may attach to one report.
pub const MAX_PHOTOS: usize = 5;

/// JagaWarga.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Anonymous reports one account may file per day (abuse control; counted under a
    /// short-lived keyed hash of the account, never with the report).
    pub anonymous_per_day: u32,
    /// The largest photo accepted, in bytes (a phone's photo is 2–6 MB).
    pub photo_max_bytes: usize,
    /// The most pixels a photo may have, in millions (decoding needs memory in proportion).
    pub photo_max_megapixels: u32,
    /// Service levels and escalation.
    pub sla: SlaConfig,
    /// Departments' webhooks (`[[reports.webhooks]]`), HMAC-signed.
    pub webhooks: Vec<WebhookConfig>,
    /// How often the delivery job looks for due webhook deliveries.
    pub webhook_poll_ms: u64,
    /// How often a live view (server-sent events) reads its changes.
    pub live_poll_ms: u64,
    /// Where photos are kept (`[reports.photo_store]`).
    pub photo_store: PhotoStoreConfig,
    /// The mail server of reporters' updates by e-mail (`[reports.email]`).
    pub email: EmailConfig,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            anonymous_per_day: 5,
            photo_max_bytes: 8 * 1024 * 1024,
            photo_max_megapixels: 50,
            sla: SlaConfig::default(),
            webhooks: Vec::new(),
            webhook_poll_ms: 1_000,
            live_poll_ms: 1_000,
            photo_store: PhotoStoreConfig::default(),
            email: EmailConfig::default(),
        }
    }
}

/// Reporters' updates by e-mail: off until a mail server is named.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtps://user:password@host:465`, `smtp://user:password@host:587?tls=required`, or
    /// plain `smtp://127.0.0.1:25` to a relay on this machine; set it from a secret store
    /// (`WARGA_REPORTS__EMAIL__SMTP_URL`).
    pub smtp_url: Option<Secret<String>>,
    /// The sender, `Name <address>`.
    pub from: String,
    /// The deadline of one message's sending.
    pub timeout_ms: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_url: None,
            from: "JagaWarga <jagawarga@localhost>".into(),
            timeout_ms: 10_000,
        }
    }
}

impl EmailConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("reports.email.timeout_ms", "must be positive"));
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new("reports.email.from", "a sender, `Name <address>`"));
        }
        let Some(url) = &self.smtp_url else {
            return Ok(());
        };
        let field = "reports.email.smtp_url";
        let url = reqwest::Url::parse(url.expose()).map_err(|e| ConfigError::new(field, e.to_string()))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        let tls_required = url.query_pairs().any(|(k, v)| k == "tls" && v == "required");
        match url.scheme() {
            "smtps" => Ok(()),
            "smtp" if tls_required || loopback => Ok(()),
            _ => Err(ConfigError::new(
                field,
                "smtps://, smtp://…?tls=required, or plain smtp:// to this machine only",
            )),
        }
    }
}

/// Where photos are kept. They are sealed by the vault before they leave the process, so
/// neither the disk nor the object store sees a photo's content.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotoStoreConfig {
    /// `disk` (under the data directory: one machine) or `s3` (an S3-compatible object
    /// store — MinIO, Garage, Ceph RGW, a cloud's — shared by gateway replicas).
    pub kind: PhotoStoreKind,
    /// The object store's URL, `https://…`; `http://` only with `allow_http`.
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    /// Set it from a secret store (`WARGA_REPORTS__PHOTO_STORE__SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret<String>>,
    /// Objects' names begin with it.
    pub prefix: String,
    /// Plain HTTP to the object store (a private network; requests are still signed and
    /// photos sealed).
    pub allow_http: bool,
    /// The deadline of one request to the object store, retries included.
    pub timeout_ms: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoStoreKind {
    #[default]
    Disk,
    S3,
}

impl Default for PhotoStoreConfig {
    fn default() -> Self {
        PhotoStoreConfig {
            kind: PhotoStoreKind::Disk,
            endpoint: None,
            bucket: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            prefix: "reports/photos".into(),
            allow_http: false,
            timeout_ms: 10_000,
        }
    }
}

impl PhotoStoreConfig {
    /// Checks an `s3` store's settings; a `disk` store needs none.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("reports.photo_store.timeout_ms", "must be positive"));
        }
        if self.kind == PhotoStoreKind::Disk {
            return Ok(());
        }
        let field = |name: &str| format!("reports.photo_store.{name}");
        let endpoint = self
            .endpoint
            .as_deref()
            .ok_or_else(|| ConfigError::new(&field("endpoint"), "required for an s3 store"))?;
        let url = reqwest::Url::parse(endpoint).map_err(|e| ConfigError::new(&field("endpoint"), e.to_string()))?;
        if !(url.scheme() == "https" || (url.scheme() == "http" && self.allow_http)) {
            return Err(ConfigError::new(
                &field("endpoint"),
                "https (plain http only with allow_http = true)",
            ));
        }
        let bucket = self.bucket.as_deref().unwrap_or_default();
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(ConfigError::new(
                &field("bucket"),
                "an S3 bucket name (3–63 of a–z, 0–9, '-', '.')",
            ));
        }
        if self.access_key_id.as_deref().unwrap_or_default().is_empty() {
            return Err(ConfigError::new(&field("access_key_id"), "required for an s3 store"));
        }
        if self.secret_access_key.as_ref().is_none_or(|s| s.expose().is_empty()) {
            return Err(ConfigError::new(
                &field("secret_access_key"),
                "required for an s3 store",
            ));
        }
        if self.prefix.starts_with('/') || self.prefix.contains("..") {
            return Err(ConfigError::new(&field("prefix"), "a relative name without '..'"));
        }
        Ok(())
    }
}

/// How service levels are counted (`[reports.sla]`). A category's levels are in working
/// days (SP4N-LAPOR!: verified within 3, answered within 5); a working day is Monday to
/// Friday in WIB, except the holidays listed here.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaConfig {
    /// Holidays every year, `MM-DD` (the fixed national ones by default).
    pub yearly_holidays: Vec<String>,
    /// Holidays of a given year, `YYYY-MM-DD` (the moving ones — Idul Fitri, Nyepi, Waisak,
    /// … — from the year's joint ministerial decree, SKB 3 Menteri).
    pub holidays: Vec<String>,
    /// When set, a working day lasts this many seconds and no calendar applies: for demos
    /// and tests.
    pub working_day_seconds: Option<u64>,
    /// The department is warned when this share of a deadline's time has passed.
    pub warn_at_percent: u32,
    /// How often the timer job looks for due timers.
    pub poll_interval_ms: u64,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            // Tahun Baru, Hari Buruh, Hari Lahir Pancasila, Hari Kemerdekaan, Natal.
            yearly_holidays: ["01-01", "05-01", "06-01", "08-17", "12-25"].map(String::from).to_vec(),
            holidays: Vec::new(),
            working_day_seconds: None,
            warn_at_percent: 80,
            poll_interval_ms: 5_000,
        }
    }
}

/// One department's hook (`[[reports.webhooks]]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique; deliveries name their hook by it.
    pub name: String,
    /// The department whose reports it receives (`pemkot`: every department's).
    pub department: String,
    /// `https://…` (plain `http://` only to this machine, for tests and local relays).
    pub url: String,
    /// The HMAC key, at least 32 characters; set it from a secret store
    /// (`WARGA_REPORTS__WEBHOOKS__0__SECRET`), not in a file.
    pub secret: Secret<String>,
}

/// Checks hooks as the configuration is loaded.
pub fn validate_webhooks(hooks: &[WebhookConfig]) -> Result<(), ConfigError> {
    for (i, hook) in hooks.iter().enumerate() {
        let field = |name: &str| format!("reports.webhooks[{i}].{name}");
        if hook.name.is_empty() || hooks[..i].iter().any(|h| h.name == hook.name) {
            return Err(ConfigError::new(&field("name"), "a unique, non-empty name"));
        }
        if !(crate::categories::is_department(&hook.department) || hook.department == crate::categories::TOP_AUTHORITY)
        {
            return Err(ConfigError::new(&field("department"), "not a department of reports"));
        }
        let url = reqwest::Url::parse(&hook.url).map_err(|e| ConfigError::new(&field("url"), e.to_string()))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err(ConfigError::new(&field("url"), "https, or http to this machine only"));
        }
        if hook.secret.expose().chars().count() < 32 {
            return Err(ConfigError::new(&field("secret"), "at least 32 characters"));
        }
    }
    Ok(())
}

impl ReportsConfig {
    pub fn photo_limits(&self) -> crate::photos::PhotoLimits {
        crate::photos::PhotoLimits {
            max_bytes: self.photo_max_bytes,
            max_pixels: u64::from(self.photo_max_megapixels) * 1_000_000,
        }
    }

    /// The largest request body of a submission: every photo at its largest, and the form.
    pub fn upload_body_limit(&self) -> usize {
        self.photo_max_bytes * MAX_PHOTOS + 256 * 1024
    }
}

impl Section for ReportsConfig {
    const KEY: &'static str = "reports";

    fn validate(&self) -> Result<(), ConfigError> {
        if self.anonymous_per_day == 0 {
            return Err(ConfigError::new(
                "reports.anonymous_per_day",
                "must be at least 1 (anonymous reporting is part of the service)",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.photo_max_bytes) {
            return Err(ConfigError::new("reports.photo_max_bytes", "between 1 KiB and 64 MiB"));
        }
        if !(1..=200).contains(&self.photo_max_megapixels) {
            return Err(ConfigError::new("reports.photo_max_megapixels", "between 1 and 200"));
        }
        if self.webhook_poll_ms == 0 || self.live_poll_ms == 0 {
            return Err(ConfigError::new("reports", "poll intervals must be positive"));
        }
        validate_webhooks(&self.webhooks)?;
        self.photo_store.validate()?;
        self.email.validate()?;
        let sla = &self.sla;
        if !(1..=99).contains(&sla.warn_at_percent) {
            return Err(ConfigError::new("reports.sla.warn_at_percent", "between 1 and 99"));
        }
        if sla.poll_interval_ms == 0 || sla.working_day_seconds == Some(0) {
            return Err(ConfigError::new("reports.sla", "intervals must be positive"));
        }
        for day in &sla.yearly_holidays {
            if crate::calendar::parse_month_day(day).is_none() {
                return Err(ConfigError::new(
                    "reports.sla.yearly_holidays",
                    format!("{day:?} is not MM-DD"),
                ));
            }
        }
        for day in &sla.holidays {
            if crate::calendar::parse_date(day).is_none() {
                return Err(ConfigError::new(
                    "reports.sla.holidays",
                    format!("{day:?} is not YYYY-MM-DD"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_checked() {
        let hook = |url: &str, secret: &str| WebhookConfig {
            name: "pu".into(),
            department: "dinas-pu".into(),
            url: url.into(),
            secret: Secret::new(secret.into()),
        };
        let long = "x".repeat(32);
        assert!(validate_webhooks(&[hook("https://pu.example.go.id/hook", &long)]).is_ok());
        assert!(validate_webhooks(&[hook("http://127.0.0.1:9000/hook", &long)]).is_ok());
        assert!(
            validate_webhooks(&[hook("http://pu.example.go.id/hook", &long)]).is_err(),
            "plain http abroad"
        );
        assert!(validate_webhooks(&[hook("https://pu.example.go.id/hook", "short")]).is_err());
        let twice = [hook("https://a.example/h", &long), hook("https://b.example/h", &long)];
        assert!(validate_webhooks(&twice).is_err(), "names are unique");
    }

    #[test]
    fn mail_servers_are_reached_over_tls_unless_local() {
        let with = |url: &str| EmailConfig {
            smtp_url: Some(Secret::new(url.into())),
            ..EmailConfig::default()
        };
        assert!(EmailConfig::default().validate().is_ok(), "off by default");
        assert!(with("smtps://u:p@smtp.example.go.id:465").validate().is_ok());
        assert!(
            with("smtp://u:p@smtp.example.go.id:587?tls=required")
                .validate()
                .is_ok()
        );
        assert!(with("smtp://127.0.0.1:2525").validate().is_ok());
        assert!(with("smtp://smtp.example.go.id:25").validate().is_err(), "plain abroad");
        let bad_sender = EmailConfig {
            from: "not an address".into(),
            ..EmailConfig::default()
        };
        assert!(bad_sender.validate().is_err());
    }

    #[test]
    fn an_object_store_needs_its_settings() {
        assert!(PhotoStoreConfig::default().validate().is_ok(), "the disk needs none");
        let s3 = PhotoStoreConfig {
            kind: PhotoStoreKind::S3,
            endpoint: Some("https://s3.example.go.id".into()),
            bucket: Some("jagawarga-photos".into()),
            access_key_id: Some("warga".into()),
            secret_access_key: Some(Secret::new("k".repeat(40))),
            ..PhotoStoreConfig::default()
        };
        assert!(s3.validate().is_ok());
        let plain = PhotoStoreConfig {
            endpoint: Some("http://10.0.0.5:9000".into()),
            ..s3.clone()
        };
        let error = plain.validate().unwrap_err().to_string();
        assert!(error.contains("reports.photo_store.endpoint"), "{error}");
        assert!(
            PhotoStoreConfig {
                allow_http: true,
                ..plain
            }
            .validate()
            .is_ok()
        );
        let bad_bucket = PhotoStoreConfig {
            bucket: Some("Photos_2026".into()),
            ..s3.clone()
        };
        assert!(bad_bucket.validate().unwrap_err().to_string().contains("bucket"));
        let no_secret = PhotoStoreConfig {
            secret_access_key: None,
            ..s3
        };
        assert!(
            no_secret
                .validate()
                .unwrap_err()
                .to_string()
                .contains("secret_access_key")
        );
    }
}
