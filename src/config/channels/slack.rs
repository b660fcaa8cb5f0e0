//! `kind: slack`: a Slack incoming webhook. The webhook URL is the secret.

use url::Url;

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub webhook_url: Secret,
}

impl ChannelSettings for SlackSettings {
    const KEYS: &'static [&'static str] = &["webhook_url"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let url = keys.required("webhook_url")?;
        let webhook_url = keys.secret(url, "webhook_url")?;
        // Checked for shape only: the URL is the secret, so it is kept as one.
        keys.url(url, "webhook_url")?;
        Ok(SlackSettings { webhook_url })
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.webhook_url]
    }

    /// The path alone is the key: a receiver may echo the path it was called on.
    fn scrubbed(&self) -> Vec<String> {
        match Url::parse(self.webhook_url.expose()) {
            Ok(url) if url.path().len() > 1 => vec![url.path().to_owned()],
            _ => Vec::new(),
        }
    }
}
