//! `kind: opsgenie`: Opsgenie's Alert API (create and close by alias), or Jira Service
//! Management's Opsgenie-compatible one through `api_url`. The API key is the secret.

use url::Url;

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

/// `api_url` when the file does not set it (the EU region: `https://api.eu.opsgenie.com`).
pub const OPSGENIE_API_URL: &str = "https://api.opsgenie.com";

#[derive(Debug, Clone)]
pub struct OpsgenieSettings {
    pub api_key: Secret,
    /// `P1` (critical) to `P5` (informational).
    pub priority: String,
    pub api_url: Url,
}

impl ChannelSettings for OpsgenieSettings {
    const KEYS: &'static [&'static str] = &["api_key", "priority", "api_url"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let api_key = keys.required("api_key")?;
        let priority = match keys.get("priority") {
            Some(value) => match value.value.as_str() {
                "P1" | "P2" | "P3" | "P4" | "P5" => value.value.clone(),
                other => {
                    return Err(keys.error(
                        value,
                        "priority",
                        format!("unknown priority {other:?}: expected P1, P2, P3, P4 or P5"),
                    ));
                }
            },
            None => "P1".to_owned(),
        };
        let api_url = match keys.get("api_url") {
            Some(value) => keys.url(value, "api_url")?,
            None => Url::parse(OPSGENIE_API_URL).expect("the built-in URL parses"),
        };
        Ok(OpsgenieSettings {
            api_key: keys.secret(api_key, "api_key")?,
            priority,
            api_url,
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.api_key]
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ChannelKind;
    use crate::config::channels::tests::{channel, error_of};

    #[test]
    fn keys_are_validated_at_their_position() {
        let cases = [
            (
                "{ name: og, kind: opsgenie, priority: P2 }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `api_key`",
            ),
            (
                "{ name: og, kind: opsgenie, api_key: k, priority: critical }",
                "probes.yaml:6:57: alerts.channels[0].priority: unknown priority \"critical\": expected P1, P2, P3, P4 or P5",
            ),
            (
                "{ name: og, kind: opsgenie, api_key: k, api_url: \"ftp://api.opsgenie.com\" }",
                "probes.yaml:6:56: alerts.channels[0].api_url: URL scheme must be https or http, not ftp",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(entry), expected, "{entry}");
        }
    }

    #[test]
    fn the_key_is_a_secret_and_the_region_a_url() {
        let kind = channel(
            "{ name: og, kind: opsgenie, api_key: \"0GK3Y\", api_url: \"https://api.eu.opsgenie.com\" }",
        );
        let ChannelKind::Opsgenie(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(settings.api_key.expose(), "0GK3Y");
        assert_eq!(settings.priority, "P1");
        assert_eq!(settings.api_url.as_str(), "https://api.eu.opsgenie.com/");
        assert_eq!(kind.secrets().len(), 1);
    }
}
