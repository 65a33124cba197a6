//! Typed, layered configuration for every warga process.
//!
//! Layers, later ones win: built-in defaults → a TOML file (`--config FILE` or
//! `WARGA_CONFIG`) → `WARGA_…` environment variables, where `__` separates nesting levels
//! (`WARGA_HTTP__LISTEN=0.0.0.0:8443`, `WARGA_DATABASE__URL=postgres://…`).
//!
//! Unknown keys are errors, so a typo fails at start with one line naming the key instead of
//! being silently ignored. Secrets live in [`Secret`], whose `Debug`, `Display` and
//! serialized form are `[redacted]`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod secret;
mod section;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

pub use secret::Secret;
pub use section::{Section, Sections};

/// Environment variables that start with this prefix are configuration.
pub const ENV_PREFIX: &str = "WARGA_";

/// The whole configuration of one warga process: the platform's sections, and those the
/// services it runs registered ([`Section`]).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Where the embedded database, the generated TLS certificate and other local state live.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub bus: BusConfig,
    pub telemetry: TelemetryConfig,
    pub workers: WorkersConfig,
    pub identity: IdentityConfig,
    pub gateway: GatewayConfig,
    /// The sections services registered (`[population]`, `[ledger]`, …).
    #[serde(skip)]
    sections: section::Values,
}

/// The platform's own top-level keys; every other key belongs to a registered section.
const PLATFORM_KEYS: [&str; 8] = [
    "data_dir",
    "http",
    "database",
    "bus",
    "telemetry",
    "workers",
    "identity",
    "gateway",
];

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the HTTPS listener binds; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The URL clients use to reach this deployment (`https://warga.example.go.id`); it is
    /// the issuer of warga's tokens. Absent: `https://<listen address>`.
    pub public_url: Option<String>,
    /// PEM certificate chain; with `tls_key_path`. Absent: a self-signed certificate is
    /// generated under `data_dir/tls` on first start and reused afterwards.
    pub tls_cert_path: Option<PathBuf>,
    pub tls_key_path: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Requests handled at once by this process; more wait in line until `request_timeout_ms`.
    pub concurrency_max: usize,
    pub request_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests before closing connections.
    pub shutdown_grace_ms: u64,
    /// Reverse proxies in front of warga, as CIDR ranges (`10.0.0.0/8`; one address is
    /// `192.0.2.7/32`). A
    /// request from one of them is attributed to the client its `Forwarded` or
    /// `X-Forwarded-For` header names; from anyone else those headers are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_url: None,
            tls_cert_path: None,
            tls_key_path: None,
            body_limit_bytes: 1024 * 1024,
            concurrency_max: 512,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` for PostgreSQL or CockroachDB, `sqlite://…` for a SQLite file.
    /// Absent: SQLite at `data_dir/warga.db`.
    pub url: Option<Secret<String>>,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            acquire_timeout_ms: 5_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BusBackend {
    /// Events flow through the database itself: the outbox is the log, per-consumer delivery
    /// rows are the queue. Durable, single database, no extra process.
    #[default]
    InProcess,
    /// NATS JetStream: the relay publishes the outbox to a stream, consumers are durable pull
    /// consumers.
    Nats,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    pub backend: BusBackend,
    /// `nats://host:4222`; required when `backend = "nats"`.
    pub nats_url: Option<Secret<String>>,
    /// Prefix of the JetStream streams and subjects, so several deployments can share one
    /// NATS account.
    pub nats_prefix: String,
    /// Deliveries of one event to one consumer before it is dead-lettered.
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Outbox rows the relay publishes per round.
    pub relay_batch_max: u32,
    /// How often the relay and in-process consumers look for work when nothing woke them.
    pub poll_interval_ms: u64,
    /// How long a consumer may hold an event before another worker may take it over.
    pub lease_ms: u64,
    /// Published outbox rows and processed-event records older than this are deleted.
    pub retention_hours: u64,
    /// Copies of each JetStream stream in a NATS cluster (1, 3 or 5; 3 survives a server's
    /// loss). Applied when warga creates the streams.
    pub nats_replicas: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            backend: BusBackend::InProcess,
            nats_url: None,
            nats_prefix: "warga".into(),
            max_attempts: 5,
            backoff_base_ms: 200,
            backoff_max_ms: 30_000,
            relay_batch_max: 256,
            poll_interval_ms: 250,
            lease_ms: 30_000,
            retention_hours: 24 * 7,
            nats_replicas: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Pretty when standard error is a terminal, JSON otherwise.
    #[default]
    Auto,
    Json,
    Pretty,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `tracing` filter directives; `RUST_LOG` overrides.
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint (e.g. `http://127.0.0.1:4317`); absent: traces stay in-process.
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            log_format: LogFormat::Auto,
            otlp_endpoint: None,
            service_name: "warga".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// Run the outbox relay and event consumers in this process. A stateless gateway replica
    /// sets this to false and leaves background work to worker processes.
    pub enabled: bool,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// An external OpenID Connect issuer (e.g. `https://sso.example.go.id/realms/warga`) whose
    /// tokens warga accepts, found through discovery. Absent: warga's own provider issues
    /// tokens, with `http.public_url` as issuer.
    pub issuer: Option<String>,
    /// PEM file of a CA to trust when fetching the external issuer's documents (in addition
    /// to the system's roots).
    pub issuer_ca_path: Option<PathBuf>,
    /// Audience every access token must name.
    pub audience: String,
    pub access_token_ttl_s: u64,
    pub id_token_ttl_s: u64,
    pub refresh_token_ttl_s: u64,
    pub authorization_code_ttl_s: u64,
    /// Browser sign-in sessions at the provider.
    pub session_ttl_s: u64,
    /// A new signing key is made after this many days; old keys stay published until the
    /// tokens they signed have expired.
    pub key_rotation_days: u64,
    /// 32 random bytes, base64, sealing the signing keys at rest. Absent: generated once
    /// under `data_dir/keys/master.key` (owner-only), which suits a single machine.
    pub master_key: Option<Secret<String>>,
    /// Password of the first administrator; absent: a one-time password is generated and
    /// printed once.
    pub admin_password: Option<Secret<String>>,
    /// Failed logins of one account within `lockout_window_s` before it is locked.
    pub lockout_account_failures: u32,
    /// Failed logins from one IP address within the window before the address is locked.
    pub lockout_ip_failures: u32,
    pub lockout_window_s: u64,
    pub lockout_duration_s: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            issuer_ca_path: None,
            audience: "warga".into(),
            access_token_ttl_s: 300,
            id_token_ttl_s: 300,
            refresh_token_ttl_s: 30 * 24 * 3_600,
            authorization_code_ttl_s: 60,
            session_ttl_s: 8 * 3_600,
            key_rotation_days: 30,
            master_key: None,
            admin_password: None,
            lockout_account_failures: 5,
            lockout_ip_failures: 20,
            lockout_window_s: 900,
            lockout_duration_s: 900,
        }
    }
}

/// Limits applied at the edge to every service.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Requests per minute for each authenticated user (by token subject).
    pub user_per_minute: u32,
    /// Requests per minute for each client address without a token.
    pub anonymous_per_minute: u32,
    /// Other limits for route classes, matched by the longest path prefix.
    pub route_classes: Vec<RouteClass>,
    /// `redis://…`: share the limits across replicas. Absent: each process counts alone.
    pub redis_url: Option<Secret<String>>,
    /// Prefix of warga's keys in Redis.
    pub redis_prefix: String,
}

/// A route class with its own limits, e.g. the token endpoint.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteClass {
    pub name: String,
    pub path_prefix: String,
    pub user_per_minute: u32,
    pub anonymous_per_minute: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            user_per_minute: 100,
            anonymous_per_minute: 120,
            route_classes: vec![RouteClass {
                name: "sign_in".into(),
                path_prefix: "/oauth2/".into(),
                user_per_minute: 60,
                anonymous_per_minute: 60,
            }],
            redis_url: None,
            redis_prefix: "warga:rl".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            bus: BusConfig::default(),
            telemetry: TelemetryConfig::default(),
            workers: WorkersConfig::default(),
            identity: IdentityConfig::default(),
            gateway: GatewayConfig::default(),
            sections: section::Values::default(),
        }
    }
}

/// A configuration that cannot be used, in one line naming the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    /// Dotted key, e.g. `http.listen`, with its source when known.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` when given, then the process environment — the
    /// platform's sections only.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, &Sections::new())
    }

    /// As [`Config::load`], with the sections the services registered.
    pub fn load_with(file: Option<&Path>, sections: &Sections) -> Result<Self, ConfigError> {
        Self::from_figment_with(Self::figment(file), sections)
    }

    /// A registered section (its default when the program did not register it).
    pub fn section<S: Section>(&self) -> std::borrow::Cow<'_, S> {
        match self.sections.get::<S>() {
            Some(section) => std::borrow::Cow::Borrowed(section),
            None => std::borrow::Cow::Owned(S::default()),
        }
    }

    /// A section to change (tests tune the configuration before starting).
    pub fn section_mut<S: Section>(&mut self) -> &mut S {
        self.sections.get_mut::<S>()
    }

    /// The layered sources, for callers that add their own (tests use `figment::Jail`).
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(
            Env::prefixed(ENV_PREFIX)
                .split("__")
                // WARGA_CONFIG names the file; WARGA_TEST_* belong to the test harness.
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    key != "config" && !key.starts_with("test_")
                }),
        )
    }

    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        Self::from_figment_with(figment, &Sections::new())
    }

    /// The platform's sections and the registered ones from `figment`; a top-level key
    /// neither knows is an error naming it and where it was set.
    pub fn from_figment_with(figment: Figment, sections: &Sections) -> Result<Self, ConfigError> {
        let root: std::collections::BTreeMap<String, figment::value::Value> =
            figment.extract().map_err(figment_error)?;
        {
            for key in root.keys() {
                let known = PLATFORM_KEYS.contains(&key.as_str()) || sections.keys().any(|k| k == key);
                if !known {
                    let source = figment
                        .find_metadata(key)
                        .map(|meta| match &meta.source {
                            Some(figment::Source::File(path)) => format!(" (in {})", path.display()),
                            _ if meta.name.contains("environment") => {
                                format!(" (set as {ENV_PREFIX}{}…)", key.to_ascii_uppercase())
                            }
                            _ => String::new(),
                        })
                        .unwrap_or_default();
                    return Err(ConfigError::new(key, format!("unknown key{source}")));
                }
            }
        }
        let mut config: Config = figment.extract().map_err(figment_error)?;
        config.validate()?;
        config.sections = sections.load(&figment)?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.http.tls_cert_path, &self.http.tls_key_path) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "http.tls_key_path",
                    "required when http.tls_cert_path is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "http.tls_cert_path",
                    "required when http.tls_key_path is set",
                ));
            }
            _ => {}
        }
        if self.http.body_limit_bytes == 0 {
            return Err(ConfigError::new("http.body_limit_bytes", "must be greater than 0"));
        }
        if self.http.concurrency_max == 0 {
            return Err(ConfigError::new("http.concurrency_max", "must be greater than 0"));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new("database.max_connections", "must be greater than 0"));
        }
        if let Some(url) = &self.database.url {
            let url = url.expose();
            let known = ["postgres://", "postgresql://", "sqlite:"];
            if !known.iter().any(|scheme| url.starts_with(scheme)) {
                return Err(ConfigError::new(
                    "database.url",
                    "must start with postgres://, postgresql:// or sqlite:",
                ));
            }
        }
        if self.bus.backend == BusBackend::Nats && self.bus.nats_url.is_none() {
            return Err(ConfigError::new("bus.nats_url", "required when bus.backend = \"nats\""));
        }
        if ![1, 3, 5].contains(&self.bus.nats_replicas) {
            return Err(ConfigError::new("bus.nats_replicas", "must be 1, 3 or 5"));
        }
        if self.bus.max_attempts == 0 {
            return Err(ConfigError::new("bus.max_attempts", "must be at least 1"));
        }
        if self.bus.backoff_base_ms > self.bus.backoff_max_ms {
            return Err(ConfigError::new(
                "bus.backoff_base_ms",
                "must not exceed bus.backoff_max_ms",
            ));
        }
        if self.bus.relay_batch_max == 0 {
            return Err(ConfigError::new("bus.relay_batch_max", "must be greater than 0"));
        }
        if self.bus.poll_interval_ms == 0 {
            return Err(ConfigError::new("bus.poll_interval_ms", "must be greater than 0"));
        }
        let prefix_ok = !self.bus.nats_prefix.is_empty()
            && self
                .bus
                .nats_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !prefix_ok {
            return Err(ConfigError::new(
                "bus.nats_prefix",
                "must be letters, digits, '_' or '-'",
            ));
        }
        if let Some(url) = &self.http.public_url
            && (!url.starts_with("https://") || url.ends_with('/'))
        {
            return Err(ConfigError::new(
                "http.public_url",
                "must start with https:// and not end with /",
            ));
        }
        if let Some(issuer) = &self.identity.issuer
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            return Err(ConfigError::new("identity.issuer", "must be an http(s) URL"));
        }
        if self.identity.audience.is_empty() {
            return Err(ConfigError::new("identity.audience", "must not be empty"));
        }
        for (key, value) in [
            ("identity.access_token_ttl_s", self.identity.access_token_ttl_s),
            ("identity.id_token_ttl_s", self.identity.id_token_ttl_s),
            ("identity.refresh_token_ttl_s", self.identity.refresh_token_ttl_s),
            (
                "identity.authorization_code_ttl_s",
                self.identity.authorization_code_ttl_s,
            ),
            ("identity.session_ttl_s", self.identity.session_ttl_s),
            ("identity.key_rotation_days", self.identity.key_rotation_days),
            ("identity.lockout_window_s", self.identity.lockout_window_s),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be greater than 0"));
            }
        }
        if self.gateway.user_per_minute == 0 || self.gateway.anonymous_per_minute == 0 {
            return Err(ConfigError::new(
                "gateway.user_per_minute",
                "rate limits must be at least 1 per minute",
            ));
        }
        for class in &self.gateway.route_classes {
            if class.user_per_minute == 0 || class.anonymous_per_minute == 0 || !class.path_prefix.starts_with('/') {
                return Err(ConfigError::new(
                    "gateway.route_classes",
                    format!(
                        "class {}: limits must be at least 1 and the prefix must start with /",
                        class.name
                    ),
                ));
            }
        }
        if let Some(url) = &self.gateway.redis_url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            return Err(ConfigError::new(
                "gateway.redis_url",
                "must start with redis:// or rediss://",
            ));
        }
        if self.identity.lockout_account_failures == 0 || self.identity.lockout_ip_failures == 0 {
            return Err(ConfigError::new(
                "identity.lockout_account_failures",
                "lockout thresholds must be at least 1",
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        let mut table = match toml::Value::try_from(self) {
            Ok(toml::Value::Table(table)) => table,
            Ok(_) | Err(_) => toml::Table::new(),
        };
        for (key, value) in &self.sections.0 {
            if let Some(value) = value.to_toml() {
                table.insert((*key).to_owned(), value);
            }
        }
        // Plain data with string keys always prints as TOML.
        toml::to_string_pretty(&table).unwrap_or_else(|e| format!("# unprintable configuration: {e}\n"))
    }
}

/// Turns figment's error into one line: the dotted key, what is wrong, and where it came from.
pub(crate) fn figment_error(error: figment::Error) -> ConfigError {
    let key = error.path.join(".");
    let source = error.metadata.as_ref().map(|meta| match &meta.source {
        Some(figment::Source::File(path)) => format!("{key} in {}", path.display()),
        _ if meta.name.contains("environment") => {
            format!("{ENV_PREFIX}{}", error.path.join("__").to_ascii_uppercase())
        }
        _ => format!("{key} from {}", meta.name),
    });
    let message = match source {
        Some(source) => format!("{} (set as {source})", error.kind),
        None => error.kind.to_string(),
    };
    ConfigError {
        key: if key.is_empty() { "<root>".into() } else { key },
        message,
    }
}

#[cfg(test)]
// figment's `Jail` closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(config.bus.backend, BusBackend::InProcess);
        assert!(config.database.url.is_none());
    }

    #[test]
    fn environment_overrides_file_overrides_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "warga.toml",
                "[http]\nlisten = \"127.0.0.1:9000\"\nbody_limit_bytes = 10\n",
            )?;
            jail.set_env("WARGA_HTTP__BODY_LIMIT_BYTES", "20");
            jail.set_env("WARGA_TEST_POSTGRES_URL", "postgres://ignored");
            jail.set_env("WARGA_CONFIG", "warga.toml");
            let config = Config::load(Some(Path::new("warga.toml"))).unwrap();
            assert_eq!(config.http.listen.port(), 9000);
            assert_eq!(config.http.body_limit_bytes, 20);
            Ok(())
        });
    }

    #[test]
    fn bad_env_value_names_key_and_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("WARGA_HTTP__LISTEN", "not-an-address");
            let err = Config::load(None).unwrap_err();
            assert_eq!(err.key, "http.listen");
            let line = err.to_string();
            assert!(line.contains("WARGA_HTTP__LISTEN"), "{line}");
            assert!(!line.contains('\n'), "one line: {line}");
            Ok(())
        });
    }

    #[test]
    fn bad_file_value_names_key_and_file() {
        Jail::expect_with(|jail| {
            jail.create_file("w.toml", "[bus]\nmax_attempts = \"many\"\n")?;
            let err = Config::load(Some(Path::new("w.toml"))).unwrap_err();
            assert_eq!(err.key, "bus.max_attempts");
            assert!(err.to_string().contains("w.toml"), "{err}");
            Ok(())
        });
    }

    /// A section some service registers.
    #[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Reports {
        sla_hours: u32,
        api_key: Option<Secret<String>>,
    }

    impl Section for Reports {
        const KEY: &'static str = "reports";
        fn validate(&self) -> Result<(), ConfigError> {
            if self.sla_hours > 720 {
                return Err(ConfigError::new("reports.sla_hours", "at most 720"));
            }
            Ok(())
        }
    }

    #[test]
    fn registered_sections_load_check_and_print_like_the_platform_s() {
        Jail::expect_with(|jail| {
            jail.create_file("w.toml", "[reports]\nsla_hours = 72\n")?;
            // Unregistered, the section is refused, naming the key and the file.
            let err = Config::load(Some(Path::new("w.toml"))).unwrap_err();
            assert_eq!(err.key, "reports");
            assert!(err.to_string().contains("w.toml"), "{err}");

            jail.set_env("WARGA_REPORTS__API_KEY", "kunci-rahasia");
            let sections = Sections::new().with::<Reports>();
            let config = Config::load_with(Some(Path::new("w.toml")), &sections).unwrap();
            assert_eq!(config.section::<Reports>().sla_hours, 72);
            assert_eq!(
                config.section::<Reports>().api_key.as_ref().unwrap().expose(),
                "kunci-rahasia"
            );
            let printed = config.to_redacted_toml();
            assert!(
                printed.contains("[reports]") && printed.contains("sla_hours = 72"),
                "{printed}"
            );
            assert!(!printed.contains("kunci-rahasia"), "{printed}");

            // A bad value names its dotted key and variable; a semantic check its key.
            jail.set_env("WARGA_REPORTS__SLA_HOURS", "lama");
            let err = Config::load_with(None, &sections).unwrap_err();
            assert_eq!(err.key, "reports.sla_hours", "{err}");
            assert!(err.to_string().contains("WARGA_REPORTS__SLA_HOURS"), "{err}");
            jail.set_env("WARGA_REPORTS__SLA_HOURS", "1000");
            let err = Config::load_with(None, &sections).unwrap_err();
            assert_eq!(err.key, "reports.sla_hours");
            jail.set_env("WARGA_REPORTS__SLA_HOUR", "1");
            let err = Config::load_with(None, &sections).unwrap_err();
            assert!(err.to_string().contains("sla_hour"), "{err}");
            Ok(())
        });
        // Not registered and not set: the default.
        assert_eq!(Config::default().section::<Reports>().sla_hours, 0);
    }

    #[test]
    fn the_platform_s_keys_are_the_config_s_fields() {
        let printed: toml::Table = toml::from_str(&Config::default().to_redacted_toml()).unwrap();
        let mut keys: Vec<&str> = printed.keys().map(String::as_str).collect();
        let mut platform = PLATFORM_KEYS.to_vec();
        keys.sort_unstable();
        platform.sort_unstable();
        assert_eq!(keys, platform);
    }

    #[test]
    fn unknown_key_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("WARGA_HTTP__LISTN", "127.0.0.1:1");
            let err = Config::load(None).unwrap_err();
            assert!(err.to_string().contains("listn"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn semantic_errors_name_their_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("WARGA_BUS__BACKEND", "nats", "bus.nats_url"),
            ("WARGA_BUS__MAX_ATTEMPTS", "0", "bus.max_attempts"),
            ("WARGA_BUS__NATS_REPLICAS", "2", "bus.nats_replicas"),
            ("WARGA_HTTP__TLS_CERT_PATH", "/tmp/cert.pem", "http.tls_key_path"),
            ("WARGA_DATABASE__URL", "mysql://x", "database.url"),
            ("WARGA_BUS__NATS_PREFIX", "a.b", "bus.nats_prefix"),
        ];
        for (var, value, key) in cases {
            Jail::expect_with(|jail| {
                jail.set_env(var, value);
                let err = Config::load(None).unwrap_err();
                assert_eq!(&err.key, key, "{var}={value}: {err}");
                Ok(())
            });
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_toml() {
        Jail::expect_with(|jail| {
            jail.set_env("WARGA_DATABASE__URL", "postgres://warga:hunter2@db/warga");
            jail.set_env("WARGA_BUS__BACKEND", "nats");
            jail.set_env("WARGA_BUS__NATS_URL", "nats://token-s3cret@nats:4222");
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.database.url.as_ref().unwrap().expose(),
                "postgres://warga:hunter2@db/warga"
            );
            let shown = format!("{config:?}\n{}", config.to_redacted_toml());
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("[redacted]"));
            Ok(())
        });
    }
}
