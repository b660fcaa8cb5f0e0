//! `kind: log`: one log line per notification; it takes no other keys.

use super::{ChannelKeys, ChannelSettings};
use crate::config::ConfigError;

#[derive(Debug, Clone)]
pub struct LogSettings;

impl ChannelSettings for LogSettings {
    const KEYS: &'static [&'static str] = &[];

    fn parse(_: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        Ok(LogSettings)
    }
}
