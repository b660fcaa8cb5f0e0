//! `kind: mattermost`: a Mattermost incoming webhook (`https://<server>/hooks/<key>`), with an
//! optional `channel` and `username` to post as (the webhook's own when absent; Mattermost
//! honours overrides only where its admin allowed them). The webhook URL is the secret.

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

#[derive(Debug, Clone)]
pub struct MattermostSettings {
    pub webhook_url: Secret,
    /// A channel's name (`town-square`) or `@user`: where to post instead of the webhook's.
    pub channel: Option<String>,
    pub username: Option<String>,
}

impl ChannelSettings for MattermostSettings {
    const KEYS: &'static [&'static str] = &["webhook_url", "channel", "username"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let webhook_url = super::webhook_url(keys)?;
        let optional = |key: &str| -> Result<Option<String>, ConfigError> {
            match keys.get(key) {
                Some(value) if value.value.trim().is_empty() => {
                    Err(keys.error(value, key, "must not be empty: remove the key for the webhook's own"))
                }
                Some(value) => Ok(Some(value.value.trim().to_owned())),
                None => Ok(None),
            }
        };
        Ok(MattermostSettings {
            webhook_url,
            channel: optional("channel")?,
            username: optional("username")?,
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.webhook_url]
    }

    /// The path holds the hook's key: a receiver may echo the path it was called on.
    fn scrubbed(&self) -> Vec<String> {
        super::echoable_parts(&self.webhook_url, false)
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
                "{ name: mm, kind: mattermost, channel: ops }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `webhook_url`",
            ),
            (
                "{ name: mm, kind: mattermost, webhook_url: \"https://mm.example.com/hooks/k\", channel: \" \" }",
                "probes.yaml:6:93: alerts.channels[0].channel: must not be empty: remove the key for the webhook's own",
            ),
            (
                "{ name: mm, kind: mattermost, webhook_url: \"https://mm.example.com/hooks/k\", secret: s }",
                "probes.yaml:6:92: alerts.channels[0].secret: not used by channel kind mattermost (it takes: webhook_url, channel, username)",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(entry), expected, "{entry}");
        }
    }

    #[test]
    fn the_webhook_url_is_a_secret_and_its_path_is_scrubbed() {
        let kind = channel(
            "{ name: mm, kind: mattermost, webhook_url: \"https://mm.example.com/hooks/K3Y\", channel: ops, username: wsprobe }",
        );
        let ChannelKind::Mattermost(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(settings.channel.as_deref(), Some("ops"));
        assert_eq!(settings.username.as_deref(), Some("wsprobe"));
        assert_eq!(kind.secrets().len(), 1);
        assert_eq!(kind.scrubbed(), ["/hooks/K3Y"]);
    }
}
