//! The reports service's section of the configuration, `[reports]`.

use serde::{Deserialize, Serialize};
use warga_config::{ConfigError, Section};

/// JagaWarga.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Anonymous reports one account may file per day (abuse control; counted under a
    /// short-lived keyed hash of the account, never with the report).
    pub anonymous_per_day: u32,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig { anonymous_per_day: 5 }
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
        Ok(())
    }
}
