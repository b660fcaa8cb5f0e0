//! `kind: google_chat`: a Google Chat space's incoming webhook
//! (`https://chat.googleapis.com/v1/spaces/<space>/messages?key=…&token=…`). The webhook URL
//! is the secret: its query holds the key and the token.

pub type GoogleChatSettings = super::WebhookUrlOnly<true>;

#[cfg(test)]
mod tests {
    use crate::config::ChannelKind;
    use crate::config::channels::tests::{channel, error_of};

    #[test]
    fn keys_are_validated_at_their_position() {
        let cases = [
            (
                "{ name: ops, kind: google_chat }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `webhook_url`",
            ),
            (
                "{ name: ops, kind: google_chat, webhook_url: \"ftp://x/v1/spaces\" }",
                "probes.yaml:6:52: alerts.channels[0].webhook_url: URL scheme must be https or http, not ftp",
            ),
            (
                "{ name: ops, kind: google_chat, url: \"https://x\" }",
                "probes.yaml:6:44: alerts.channels[0].url: not used by channel kind google_chat (it takes: webhook_url)",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(entry), expected, "{entry}");
        }
    }

    #[test]
    fn the_webhook_url_is_a_secret_and_its_key_and_token_are_scrubbed() {
        let kind = channel(
            "{ name: ops, kind: google_chat, webhook_url: \"https://chat.googleapis.com/v1/spaces/AAAA/messages?key=K3Y&token=T0K\" }",
        );
        let ChannelKind::GoogleChat(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert!(settings.webhook_url.expose().ends_with("token=T0K"));
        assert_eq!(kind.secrets().len(), 1);
        assert_eq!(
            kind.scrubbed(),
            [
                "/v1/spaces/AAAA/messages",
                "key=K3Y&token=T0K"
            ]
        );
    }
}
