//! The population service's section of the configuration, `[population]`.

use serde::{Deserialize, Serialize};
use warga_config::{ConfigError, Secret, Section};

/// Population services.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopulationConfig {
    pub sms: SmsConfig,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmsProviderKind {
    /// Keep messages in warga (readable by administrators): for a single machine and demos.
    #[default]
    Outbox,
    /// A Twilio-compatible HTTP API.
    Twilio,
}

/// How officer notifications are sent.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    pub provider: SmsProviderKind,
    /// e.g. `https://api.twilio.com` or a compatible gateway.
    pub twilio_base_url: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Secret<String>>,
    /// The sender number or id.
    pub twilio_from: Option<String>,
}

impl Section for PopulationConfig {
    const KEY: &'static str = "population";

    fn validate(&self) -> Result<(), ConfigError> {
        if self.sms.provider == SmsProviderKind::Twilio {
            let sms = &self.sms;
            for (key, missing) in [
                ("population.sms.twilio_base_url", sms.twilio_base_url.is_none()),
                ("population.sms.twilio_account_sid", sms.twilio_account_sid.is_none()),
                ("population.sms.twilio_auth_token", sms.twilio_auth_token.is_none()),
                ("population.sms.twilio_from", sms.twilio_from.is_none()),
            ] {
                if missing {
                    return Err(ConfigError::new(
                        key,
                        "required when population.sms.provider = \"twilio\"",
                    ));
                }
            }
        }
        Ok(())
    }
}
