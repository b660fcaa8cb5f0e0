//! `kind: telegram`: a Telegram bot's `sendMessage` (Bot API) to one chat. The bot token is
//! the secret, and the Bot API puts it in the URL's path (`/bot<token>/sendMessage`), so it is
//! scrubbed from every error. `api_url` points at a local Bot API server or a proxy.

use url::Url;

use super::{ChannelKeys, ChannelSettings};
use crate::config::{ConfigError, Secret};

/// `api_url` when the file does not set it.
pub const TELEGRAM_API_URL: &str = "https://api.telegram.org";

#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub bot_token: Secret,
    /// A chat's numeric id (`-1001234567890` for a group or channel) or `@channelusername`.
    pub chat_id: String,
    pub api_url: Url,
}

impl ChannelSettings for TelegramSettings {
    const KEYS: &'static [&'static str] = &["bot_token", "chat_id", "api_url"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        let bot_token = keys.required("bot_token")?;
        let bot_token = keys.secret(bot_token, "bot_token")?;
        let chat = keys.required("chat_id")?;
        let chat_id = chat.value.trim();
        let numeric = chat_id
            .strip_prefix('-')
            .unwrap_or(chat_id)
            .chars()
            .all(|c| c.is_ascii_digit());
        let username = chat_id.strip_prefix('@').is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if chat_id.is_empty() || !(numeric && chat_id != "-" || username) {
            return Err(keys.error(
                chat,
                "chat_id",
                format!(
                    "invalid chat id {chat_id:?}: expected a number (-1001234567890) or a channel's @username"
                ),
            ));
        }
        let api_url = match keys.get("api_url") {
            Some(value) => keys.url(value, "api_url")?,
            None => Url::parse(TELEGRAM_API_URL).expect("the built-in URL parses"),
        };
        Ok(TelegramSettings {
            bot_token,
            chat_id: chat_id.to_owned(),
            api_url,
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.bot_token]
    }

    /// The token, and the path that holds it: a receiver may echo either.
    fn scrubbed(&self) -> Vec<String> {
        vec![
            format!("bot{}", self.bot_token.expose()),
            self.bot_token.expose().to_owned(),
        ]
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
                "{ name: tg, kind: telegram, chat_id: 42 }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `bot_token`",
            ),
            (
                "{ name: tg, kind: telegram, bot_token: \"123:ABC\" }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `chat_id`",
            ),
            (
                "{ name: tg, kind: telegram, bot_token: \"123:ABC\", chat_id: ops team }",
                "probes.yaml:6:66: alerts.channels[0].chat_id: invalid chat id \"ops team\": expected a number (-1001234567890) or a channel's @username",
            ),
            (
                "{ name: tg, kind: telegram, bot_token: \"123:ABC\", chat_id: 42, api_url: \"api.telegram.org\" }",
                "probes.yaml:6:79: alerts.channels[0].api_url: invalid URL: relative URL without a base",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(entry), expected, "{entry}");
        }
    }

    #[test]
    fn the_token_is_a_secret_scrubbed_with_its_path() {
        let kind = channel(
            "{ name: tg, kind: telegram, bot_token: \"123456:S3CRET\", chat_id: \"-1001234567890\" }",
        );
        let ChannelKind::Telegram(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(settings.chat_id, "-1001234567890");
        assert_eq!(settings.api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(kind.secrets().len(), 1);
        assert_eq!(kind.scrubbed(), ["bot123456:S3CRET", "123456:S3CRET"]);
        let ChannelKind::Telegram(settings) =
            channel("{ name: tg, kind: telegram, bot_token: t, chat_id: \"@ops_alerts\" }")
        else {
            panic!()
        };
        assert_eq!(settings.chat_id, "@ops_alerts");
    }
}
