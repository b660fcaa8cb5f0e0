//! `kind: slack`: a Slack incoming webhook. The webhook URL is the secret.

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub webhook_url: Secret,
}

impl ChannelSettings for SlackSettings {
    const KEYS: &'static [&'static str] = &["webhook_url"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let webhook_url = super::webhook_url(keys)?;
        Ok(SlackSettings { webhook_url })
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.webhook_url]
    }

    /// The path alone is the key: a receiver may echo the path it was called on.
    fn scrubbed(&self) -> Vec<String> {
        super::echoable_parts(&self.webhook_url, false)
    }
}
