//! `kind: discord`: a Discord channel webhook (`https://discord.com/api/webhooks/<id>/<token>`).
//! The webhook URL is the secret.

pub type DiscordSettings = super::WebhookUrlOnly<false>;

#[cfg(test)]
mod tests {
    use crate::config::ChannelKind;
    use crate::config::channels::tests::{channel, error_of};

    #[test]
    fn keys_are_validated_at_their_position() {
        let cases = [
            (
                "{ name: chat, kind: discord }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `webhook_url`",
            ),
            (
                "{ name: chat, kind: discord, webhook_url: \"discord.com/api/webhooks/1/x\" }",
                "probes.yaml:6:49: alerts.channels[0].webhook_url: invalid URL: relative URL without a base",
            ),
            (
                "{ name: chat, kind: discord, webhook_url: \"\" }",
                "probes.yaml:6:49: alerts.channels[0].webhook_url: is empty (if it comes from a ${VARIABLE}, that variable is set but empty)",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(entry), expected, "{entry}");
        }
    }

    #[test]
    fn the_webhook_url_is_a_secret_and_its_path_is_scrubbed() {
        let kind = channel(
            "{ name: chat, kind: discord, webhook_url: \"https://discord.com/api/webhooks/123/T0KEN\" }",
        );
        let ChannelKind::Discord(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert_eq!(
            settings.webhook_url.expose(),
            "https://discord.com/api/webhooks/123/T0KEN"
        );
        assert_eq!(kind.secrets().len(), 1);
        assert_eq!(kind.scrubbed(), ["/api/webhooks/123/T0KEN"]);
    }
}
