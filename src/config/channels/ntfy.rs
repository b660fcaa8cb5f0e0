//! `kind: ntfy`: a topic on an ntfy server (`url: https://ntfy.sh/<topic>`), with an optional
//! access `token` (sent as `Authorization: Bearer`). The token is the secret; the URL is
//! scrubbed from errors, as a topic's name is all a public server asks for.

use url::Url;

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

#[derive(Debug, Clone)]
pub struct NtfySettings {
    /// The server and the topic: `https://ntfy.sh/wsprobe-alerts`.
    pub url: Url,
    pub token: Option<Secret>,
}

impl ChannelSettings for NtfySettings {
    const KEYS: &'static [&'static str] = &["url", "token"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let value = keys.required("url")?;
        let url = keys.url(value, "url")?;
        if url.path().trim_matches('/').is_empty() {
            return Err(keys.error(
                value,
                "url",
                "no topic: the URL is the server and the topic, like https://ntfy.sh/wsprobe-alerts",
            ));
        }
        Ok(NtfySettings {
            url,
            // Empty (`${NTFY_TOKEN:-}`) means no token, as if the key were absent.
            token: keys
                .get("token")
                .filter(|token| !token.value.is_empty())
                .map(|token| Secret::new(token.value.clone())),
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        self.token.iter().collect()
    }

    fn scrubbed(&self) -> Vec<String> {
        vec![self.url.to_string()]
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
                "{ name: phone, kind: ntfy, token: t }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `url`",
            ),
            (
                "{ name: phone, kind: ntfy, url: \"https://ntfy.sh/\" }",
                "probes.yaml:6:39: alerts.channels[0].url: no topic: the URL is the server and the topic, like https://ntfy.sh/wsprobe-alerts",
            ),
            (
                "{ name: phone, kind: ntfy, url: \"https://ntfy.sh/t\", webhook_url: \"https://x\" }",
                "probes.yaml:6:73: alerts.channels[0].webhook_url: not used by channel kind ntfy (it takes: url, token)",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(entry), expected, "{entry}");
        }
    }

    #[test]
    fn the_token_is_a_secret_and_the_url_is_scrubbed() {
        let kind = channel(
            "{ name: phone, kind: ntfy, url: \"https://ntfy.sh/wsprobe-alerts\", token: tk_S3CRET }",
        );
        let ChannelKind::Ntfy(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(settings.url.as_str(), "https://ntfy.sh/wsprobe-alerts");
        assert_eq!(settings.token.as_ref().unwrap().expose(), "tk_S3CRET");
        assert_eq!(kind.secrets().len(), 1);
        assert_eq!(kind.scrubbed(), ["https://ntfy.sh/wsprobe-alerts"]);
        let ChannelKind::Ntfy(settings) =
            channel("{ name: phone, kind: ntfy, url: \"https://ntfy.sh/t\", token: \"\" }")
        else {
            panic!()
        };
        assert!(settings.token.is_none());
    }
}
