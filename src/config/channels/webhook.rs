//! `kind: webhook`: a generic JSON webhook, signed when it has a `secret`.

use url::Url;

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: Url,
    /// Signs each body (HMAC-SHA256); `None`: unsigned.
    pub secret: Option<Secret>,
}

impl ChannelSettings for WebhookSettings {
    const KEYS: &'static [&'static str] = &["url", "secret"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let url = keys.required("url")?;
        Ok(WebhookSettings {
            url: keys.url(url, "url")?,
            // Empty (`${HOOK_SECRET:-}`) means unsigned, as if the key were absent.
            secret: keys
                .get("secret")
                .filter(|secret| !secret.value.is_empty())
                .map(|secret| Secret::new(secret.value.clone())),
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        self.secret.iter().collect()
    }

    fn scrubbed(&self) -> Vec<String> {
        vec![self.url.to_string()]
    }
}
