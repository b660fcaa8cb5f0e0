//! Microsoft Teams through a Power Automate Workflows webhook: a `message` with one Adaptive
//! Card (version 1.4): the headline, the diagnosis, a FactSet of the Slack fields, the phases,
//! and an `Action.OpenUrl` to the environment's page. The webhook URL is the secret.

use std::time::Duration;

use serde_json::{Value, json};

use crate::alert::facts::{self, Tone};
use crate::alert::notification::{EventName, Notification};
use crate::alert::channels::json_webhook::JsonWebhook;
use crate::alert::notifier::Notifier;
use crate::config::channels::TeamsSettings;
use crate::text::truncate;

/// Teams takes about four messages a second per webhook; Workflows throttle bursts too.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// A Teams message is at most 28 KB: these keep a card well inside it.
const TEXT_MAX: usize = 10_000;
const FACT_MAX: usize = 1_000;

pub fn notifier(name: &str, settings: &TeamsSettings) -> Box<dyn Notifier> {
    Box::new(JsonWebhook::of("teams", name, &settings.webhook_url, payload).paced(MIN_INTERVAL))
}

/// The message for `notification`; `channel` names the channel in test messages. Pure.
pub fn payload(notification: &Notification, channel: &str) -> Value {
    let n = notification;
    let color = match Tone::of(n) {
        Tone::Test | Tone::Note => "Accent",
        Tone::Resolved => "Good",
        Tone::Acknowledged => "Accent",
        Tone::Degraded => "Warning",
        Tone::Down => "Attention",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": escape(&facts::title(n)),
        "size": "Large",
        "weight": "Bolder",
        "color": color,
        "wrap": true,
    })];
    if n.event == EventName::Test {
        body.push(text_block(&facts::test_line(&escape(channel))));
    }
    if let Some(note) = &n.note {
        body.push(text_block(&escape(&facts::note_text(note))));
    }
    if let Some(burn) = &n.slo_burn {
        body.push(text_block(&escape(&facts::burn_lines(burn).join("\n\n"))));
    }
    if let Some(result) = &n.result {
        body.push(text_block(&escape(&truncate(
            &facts::diagnosis(n, result),
            TEXT_MAX,
        ))));
        let facts: Vec<Value> = facts::facts(n, result)
            .into_iter()
            .map(|fact| {
                json!({ "title": fact.label, "value": escape(&truncate(&fact.value, FACT_MAX)) })
            })
            .collect();
        body.push(json!({ "type": "FactSet", "facts": facts }));
        if let Some(phases) = facts::phases(result) {
            body.push(small(&format!("Phases: {phases}")));
        }
    }
    if n.incident.is_some() {
        body.push(small(&facts::footer(n)));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": { "width": "Full" },
    });
    if let Some(link) = &n.link {
        card["actions"] = json!([{
            "type": "Action.OpenUrl",
            "title": facts::link_text(n),
            "url": link,
        }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

fn text_block(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": text, "wrap": true })
}

fn small(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": text, "wrap": true, "size": "Small", "isSubtle": true })
}

/// The Markdown a TextBlock or a fact renders (emphasis, links, code), backslash-escaped: a
/// server's text must not become a link or bold.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    /// The `message` around a card, as Workflows takes it, with the card's own keys merged in.
    fn envelope(card: Value) -> Value {
        let mut content = json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": { "width": "Full" }
        });
        for (key, value) in card.as_object().unwrap() {
            content[key] = value.clone();
        }
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": content
            }]
        })
    }

    #[test]
    fn triggered_card_is_exact() {
        let expected = envelope(json!({
                    "body": [
                        { "type": "TextBlock", "text": "🔴 staging is down: closed\\_before\\_ready", "size": "Large", "weight": "Bolder", "color": "Attention", "wrap": true },
                        { "type": "TextBlock", "text": "Closed 1011 \"Internal error\" 63 ms after the upgrade.", "wrap": true },
                        { "type": "FactSet", "facts": [
                            { "title": "Environment", "value": "staging" },
                            { "title": "Status", "value": "down" },
                            { "title": "Verdict", "value": "closed\\_before\\_ready" },
                            { "title": "Close", "value": "1011 Internal <error> & co" },
                            { "title": "HTTP status", "value": "101" },
                            { "title": "Build", "value": "rev-4812" },
                            { "title": "At", "value": "2026-11-22T22:50:00.123Z" }
                        ] },
                        { "type": "TextBlock", "text": "Phases: dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms", "wrap": true, "size": "Small", "isSubtle": true },
                        { "type": "TextBlock", "text": "wsprobe · incident #7", "wrap": true, "size": "Small", "isSubtle": true }
                    ],
                    "actions": [
                        { "type": "Action.OpenUrl", "title": "Open staging on the status page", "url": "https://status.example.com/environments/staging" }
                    ]
        }));
        assert_eq!(payload(&sample(EventName::Triggered), "ops"), expected);
    }

    #[test]
    fn resolved_card_is_good_and_says_how_long() {
        let body = payload(&sample(EventName::Resolved), "ops");
        let card = &body["attachments"][0]["content"];
        assert_eq!(card["body"][0]["color"], "Good");
        assert_eq!(
            card["body"][0]["text"],
            "✅ staging recovered after 22m 30s (was closed\\_before\\_ready)"
        );
        assert!(
            card["body"][1]["text"]
                .as_str()
                .unwrap()
                .starts_with("Failing from 2026-11-22T22:45:00.000Z to 2026-11-22T23:07:30.000Z (22m 30s).")
        );
    }

    #[test]
    fn a_note_card_is_exact() {
        let expected = envelope(json!({
                    "body": [
                        { "type": "TextBlock", "text": "📝 staging incident #7: identified", "size": "Large", "weight": "Bolder", "color": "Accent", "wrap": true },
                        { "type": "TextBlock", "text": "Identified: The <b>database</b> failed over & @here the pool is reconnecting.\n— ana", "wrap": true },
                        { "type": "TextBlock", "text": "wsprobe · incident #7", "wrap": true, "size": "Small", "isSubtle": true }
                    ],
                    "actions": [
                        { "type": "Action.OpenUrl", "title": "Open staging on the status page", "url": "https://status.example.com/environments/staging" }
                    ]
        }));
        assert_eq!(
            payload(&crate::alert::notification::tests::sample_note(), "ops"),
            expected
        );
    }

    #[test]
    fn test_card_is_exact() {
        let expected = envelope(json!({
                    "body": [
                        { "type": "TextBlock", "text": "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed", "size": "Large", "weight": "Bolder", "color": "Accent", "wrap": true },
                        { "type": "TextBlock", "text": "This is a test sent by `wsprobe alert test` to channel ops: no action needed.", "wrap": true }
                    ],
                    "actions": [
                        { "type": "Action.OpenUrl", "title": "Open wsprobe on the status page", "url": "https://status.example.com/" }
                    ]
        }));
        assert_eq!(
            payload(
                &Notification::test(Some("https://status.example.com/".into())),
                "ops"
            ),
            expected
        );
    }

    #[test]
    fn markdown_from_probed_servers_is_escaped_and_long_text_cut() {
        let mut n = sample(EventName::Triggered);
        n.result.as_mut().unwrap().diagnosis = "**now** [click](https://evil)".into();
        n.result.as_mut().unwrap().version = Some("v".repeat(5000));
        let body = payload(&n, "ops");
        let card = &body["attachments"][0]["content"];
        assert_eq!(
            card["body"][1]["text"],
            r"\*\*now\*\* \[click\](https://evil)"
        );
        let build = card["body"][2]["facts"][5]["value"].as_str().unwrap();
        assert_eq!(build.chars().count(), FACT_MAX);
    }
}
