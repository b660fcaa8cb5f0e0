//! `kind: pagerduty`: PagerDuty's Events API v2. The routing key is the secret.

use url::Url;

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

/// `events_url` when the file does not set it.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone)]
pub struct PagerDutySettings {
    pub routing_key: Secret,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: String,
    pub events_url: Url,
}

impl ChannelSettings for PagerDutySettings {
    const KEYS: &'static [&'static str] = &["routing_key", "severity", "events_url"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let routing_key = keys.required("routing_key")?;
        let severity = match keys.get("severity") {
            Some(value) => match value.value.as_str() {
                "critical" | "error" | "warning" | "info" => value.value.clone(),
                other => {
                    return Err(keys.error(
                        value,
                        "severity",
                        format!(
                            "unknown severity {other:?}: expected critical, error, warning or info"
                        ),
                    ));
                }
            },
            None => "critical".to_owned(),
        };
        let events_url = match keys.get("events_url") {
            Some(value) => keys.url(value, "events_url")?,
            None => Url::parse(PAGERDUTY_EVENTS_URL).expect("the built-in URL parses"),
        };
        Ok(PagerDutySettings {
            routing_key: keys.secret(routing_key, "routing_key")?,
            severity,
            events_url,
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.routing_key]
    }

    fn scrubbed(&self) -> Vec<String> {
        vec![self.events_url.to_string()]
    }
}
