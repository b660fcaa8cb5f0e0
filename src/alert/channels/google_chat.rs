//! Google Chat incoming webhook: one card (`cardsV2`) with the headline, the diagnosis, the
//! Slack fields as decorated texts, the phases and a button to the environment's page, and
//! a `fallbackText` for notifications. Card text is Google Chat's HTML subset, so every
//! server-derived string is HTML-escaped. The webhook URL is the secret.

use std::time::Duration;

use serde_json::{Value, json};

use crate::alert::facts;
use crate::alert::notification::{EventName, Notification};
use crate::alert::channels::json_webhook::JsonWebhook;
use crate::alert::notifier::Notifier;
use crate::config::channels::GoogleChatSettings;
use crate::text::truncate;

/// Google Chat takes one message a second per space.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// A message's text is at most 4096 characters, a whole message 32 KB: a card's texts are
/// kept well inside.
const TEXT_MAX: usize = 4_000;
const FACT_MAX: usize = 1_000;

pub fn notifier(name: &str, settings: &GoogleChatSettings) -> Box<dyn Notifier> {
    let post = JsonWebhook::of("google_chat", name, &settings.webhook_url, payload).paced(MIN_INTERVAL);
    Box::new(JsonWebhook {
        content_type: Some("application/json; charset=UTF-8"),
        ..post
    })
}

/// The message for `notification`; `channel` names the channel in test messages. Pure.
pub fn payload(notification: &Notification, channel: &str) -> Value {
    let n = notification;
    let title = facts::title(n);
    let mut sections = Vec::new();
    if n.event == EventName::Test {
        sections.push(paragraph(&facts::escape_markup(&facts::test_line(channel))));
    }
    if let Some(note) = &n.note {
        sections.push(paragraph(&facts::escape_markup(&facts::note_text(note))));
    }
    if let Some(burn) = &n.slo_burn {
        let lines = facts::burn_lines(burn).join("\n");
        sections.push(paragraph(&facts::escape_markup(&lines)));
    }
    if let Some(result) = &n.result {
        sections.push(paragraph(&facts::escape_markup(&truncate(
            &facts::diagnosis(n, result),
            TEXT_MAX,
        ))));
        let widgets: Vec<Value> = facts::facts(n, result)
            .into_iter()
            .map(|fact| {
                json!({ "decoratedText": {
                    "topLabel": fact.label,
                    "text": facts::escape_markup(&truncate(&fact.value, FACT_MAX)),
                } })
            })
            .collect();
        sections.push(json!({ "widgets": widgets }));
        if let Some(phases) = facts::phases(result) {
            sections.push(paragraph(&format!("<b>Phases</b> {}", facts::escape_markup(&phases))));
        }
    }
    if let Some(link) = &n.link {
        sections.push(json!({ "widgets": [{ "buttonList": { "buttons": [{
            "text": facts::link_text(n),
            "onClick": { "openLink": { "url": link } },
        }] } }] }));
    }
    let mut card = json!({
        "header": { "title": title, "subtitle": facts::footer(n) },
    });
    if !sections.is_empty() {
        card["sections"] = json!(sections);
    }
    json!({
        "fallbackText": title,
        "cardsV2": [{ "cardId": "wsprobe", "card": card }],
    })
}

fn paragraph(html: &str) -> Value {
    json!({ "widgets": [{ "textParagraph": { "text": html } }] })
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    #[test]
    fn triggered_card_is_exact() {
        let expected = json!({
            "fallbackText": "🔴 staging is down: closed_before_ready",
            "cardsV2": [{ "cardId": "wsprobe", "card": {
                "header": { "title": "🔴 staging is down: closed_before_ready", "subtitle": "wsprobe · incident #7" },
                "sections": [
                    { "widgets": [{ "textParagraph": { "text": "Closed 1011 \"Internal error\" 63 ms after the upgrade." } }] },
                    { "widgets": [
                        { "decoratedText": { "topLabel": "Environment", "text": "staging" } },
                        { "decoratedText": { "topLabel": "Status", "text": "down" } },
                        { "decoratedText": { "topLabel": "Verdict", "text": "closed_before_ready" } },
                        { "decoratedText": { "topLabel": "Close", "text": "1011 Internal &lt;error&gt; &amp; co" } },
                        { "decoratedText": { "topLabel": "HTTP status", "text": "101" } },
                        { "decoratedText": { "topLabel": "Build", "text": "rev-4812" } },
                        { "decoratedText": { "topLabel": "At", "text": "2026-11-22T22:50:00.123Z" } }
                    ] },
                    { "widgets": [{ "textParagraph": { "text": "<b>Phases</b> dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms" } }] },
                    { "widgets": [{ "buttonList": { "buttons": [{
                        "text": "Open staging on the status page",
                        "onClick": { "openLink": { "url": "https://status.example.com/environments/staging" } }
                    }] } }] }
                ]
            } }]
        });
        assert_eq!(payload(&sample(EventName::Triggered), "ops"), expected);
    }

    #[test]
    fn resolved_card_says_how_long() {
        let body = payload(&sample(EventName::Resolved), "ops");
        let card = &body["cardsV2"][0]["card"];
        assert_eq!(
            card["header"]["title"],
            "✅ staging recovered after 22m 30s (was closed_before_ready)"
        );
        assert!(
            card["sections"][0]["widgets"][0]["textParagraph"]["text"]
                .as_str()
                .unwrap()
                .starts_with("Failing from 2026-11-22T22:45:00.000Z to 2026-11-22T23:07:30.000Z (22m 30s).")
        );
    }

    #[test]
    fn a_note_card_is_exact() {
        let expected = json!({
            "fallbackText": "📝 staging incident #7: identified",
            "cardsV2": [{ "cardId": "wsprobe", "card": {
                "header": { "title": "📝 staging incident #7: identified", "subtitle": "wsprobe · incident #7" },
                "sections": [
                    { "widgets": [{ "textParagraph": { "text": "Identified: The &lt;b&gt;database&lt;/b&gt; failed over &amp; @here the pool is reconnecting.\n— ana" } }] },
                    { "widgets": [{ "buttonList": { "buttons": [{
                        "text": "Open staging on the status page",
                        "onClick": { "openLink": { "url": "https://status.example.com/environments/staging" } }
                    }] } }] }
                ]
            } }]
        });
        assert_eq!(
            payload(&crate::alert::notification::tests::sample_note(), "chat"),
            expected
        );
    }

    #[test]
    fn test_card_is_exact() {
        let expected = json!({
            "fallbackText": "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed",
            "cardsV2": [{ "cardId": "wsprobe", "card": {
                "header": { "title": "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed", "subtitle": "wsprobe" },
                "sections": [
                    { "widgets": [{ "textParagraph": { "text": "This is a test sent by `wsprobe alert test` to channel a&amp;b: no action needed." } }] }
                ]
            } }]
        });
        assert_eq!(payload(&Notification::test(None), "a&b"), expected);
    }

    #[test]
    fn markup_from_probed_servers_is_escaped_and_long_text_cut() {
        let mut n = sample(EventName::Triggered);
        n.result.as_mut().unwrap().diagnosis =
            format!("<a href=\"https://evil\">click</a>{}", "x".repeat(9000));
        let body = payload(&n, "ops");
        let text = body["cardsV2"][0]["card"]["sections"][0]["widgets"][0]["textParagraph"]
            ["text"]
            .as_str()
            .unwrap();
        assert!(text.starts_with("&lt;a href=\"https://evil\"&gt;click&lt;/a&gt;xxx"));
        assert!(text.ends_with('…'));
        assert!(text.chars().count() < 4096);
    }
}
