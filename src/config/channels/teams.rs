//! `kind: teams`: a Microsoft Teams channel through a Power Automate Workflows webhook (the
//! "Post to a channel when a webhook request is received" template), which took over from the
//! retired incoming-webhook connectors. The webhook URL is the secret: its `sig` signs it.

pub type TeamsSettings = super::WebhookUrlOnly<true>;

#[cfg(test)]
mod tests {
    use crate::config::ChannelKind;
    use crate::config::channels::tests::{channel, error_of};

    #[test]
    fn keys_are_validated_at_their_position() {
        let cases = [
            (
                "{ name: ops, kind: teams }",
                "probes.yaml:6:7: alerts.channels[0]: missing key `webhook_url`",
            ),
            (
                "{ name: ops, kind: teams, webhook_url: \"ftp://x/workflows\" }",
                "probes.yaml:6:46: alerts.channels[0].webhook_url: URL scheme must be https or http, not ftp",
            ),
            (
                "{ name: ops, kind: teams, url: \"https://x\" }",
                "probes.yaml:6:38: alerts.channels[0].url: not used by channel kind teams (it takes: webhook_url)",
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(error_of(entry), expected, "{entry}");
        }
    }

    #[test]
    fn the_webhook_url_is_a_secret_and_its_signature_is_scrubbed() {
        let kind = channel(
            "{ name: ops, kind: teams, webhook_url: \"https://prod-01.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S1G\" }",
        );
        let ChannelKind::Teams(settings) = &kind else {
            panic!("{kind:?}");
        };
        assert!(settings.webhook_url.expose().ends_with("sig=S1G"));
        assert_eq!(kind.secrets().len(), 1);
        assert_eq!(
            kind.scrubbed(),
            [
                "/workflows/abc/triggers/manual/paths/invoke",
                "api-version=2016-06-01&sig=S1G"
            ]
        );
    }
}
