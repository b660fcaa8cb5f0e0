//! Slack incoming webhook: Block Kit blocks plus the fallback `text` that notifications and
//! old clients show. The webhook URL is the secret.

use std::time::Duration;

use serde_json::{Value, json};

use crate::alert::channels::json_webhook::JsonWebhook;
use crate::alert::notifier::Notifier;
use crate::alert::facts;
use crate::alert::notification::{EventName, Notification, ResultSummary};
use crate::config::channels::SlackSettings;
use crate::text::truncate;

/// Slack accepts about one message per second per webhook.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Block Kit limits: a header's text, a section's text.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;

pub fn notifier(name: &str, settings: &SlackSettings) -> Box<dyn Notifier> {
    Box::new(JsonWebhook::of("slack", name, &settings.webhook_url, payload).paced(MIN_INTERVAL))
}

/// The message for `notification`; `channel` names the channel in test messages. Pure.
pub fn payload(notification: &Notification, channel: &str) -> Value {
    let n = notification;
    let headline = facts::title(n);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate(&headline, HEADER_MAX), "emoji": true },
    })];
    let mut fallback = facts::escape_markup(&headline);

    if n.event == EventName::Test {
        blocks.push(section(&format!(
            "This is a test sent by `wsprobe alert test` to channel *{}*: no action needed.",
            facts::escape_markup(channel)
        )));
    }
    if let Some(note) = &n.note {
        let text = facts::escape_markup(&facts::note_text(note));
        fallback = format!("{fallback} — {text}");
        blocks.push(section(&text));
    }
    if let Some(result) = &n.result {
        let diagnosis = facts::diagnosis(n, result);
        fallback = format!("{fallback} — {}", facts::escape_markup(&diagnosis));
        blocks.push(section(&facts::escape_markup(&diagnosis)));
        blocks.push(json!({ "type": "section", "fields": fields(n, result) }));
        if let Some(phases) = phases(result) {
            blocks.push(section(&phases));
        }
    }
    if let Some(burn) = &n.slo_burn {
        let lines = facts::burn_lines(burn).join("\n");
        blocks.push(section(&facts::escape_markup(&lines)));
    }
    if let Some(ack) = &n.acknowledgement {
        let lines = facts::acknowledgement_lines(ack).join("\n");
        blocks.push(section(&facts::escape_markup(&lines)));
    }
    if let Some(context) = context(n) {
        blocks.push(context);
    }
    json!({ "text": truncate(&fallback, SECTION_MAX), "blocks": blocks })
}

/// The result's facts, one field each; the verdict as code, what a server said escaped.
fn fields(n: &Notification, result: &ResultSummary) -> Vec<Value> {
    facts::facts(n, result)
        .into_iter()
        .map(|fact| match fact.label {
            "Verdict" => field(fact.label, &format!("`{}`", fact.value)),
            "Status" | "HTTP status" | "At" => field(fact.label, &fact.value),
            _ => field(fact.label, &facts::escape_markup(&fact.value)),
        })
        .collect()
}

/// `*Phases* dns 0.4 ms · …`, the phases the probe reached.
fn phases(result: &ResultSummary) -> Option<String> {
    facts::phases(result).map(|phases| format!("*Phases* {phases}"))
}

/// The status page link and the incident number, when there are any.
fn context(n: &Notification) -> Option<Value> {
    let mut context = Vec::new();
    if let Some(link) = &n.link {
        context.push(format!(
            "<{}|Open {} on the status page>",
            facts::escape_markup(link),
            facts::escape_markup(n.subject())
        ));
    }
    if let Some(incident) = &n.incident {
        context.push(format!("incident #{}", incident.id));
    }
    (!context.is_empty()).then(|| {
        json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": context.join(" · ") }],
        })
    })
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(text, SECTION_MAX) } })
}

fn field(label: &str, value: &str) -> Value {
    json!({ "type": "mrkdwn", "text": format!("*{label}*\n{value}") })
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    #[test]
    fn triggered_message_is_exact() {
        let expected = json!({
            "text": "🔴 staging is down: closed_before_ready — Closed 1011 \"Internal error\" 63 ms after the upgrade.",
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "🔴 staging is down: closed_before_ready", "emoji": true } },
                { "type": "section", "text": { "type": "mrkdwn", "text": "Closed 1011 \"Internal error\" 63 ms after the upgrade." } },
                { "type": "section", "fields": [
                    { "type": "mrkdwn", "text": "*Environment*\nstaging" },
                    { "type": "mrkdwn", "text": "*Status*\ndown" },
                    { "type": "mrkdwn", "text": "*Verdict*\n`closed_before_ready`" },
                    { "type": "mrkdwn", "text": "*Close*\n1011 Internal &lt;error&gt; &amp; co" },
                    { "type": "mrkdwn", "text": "*HTTP status*\n101" },
                    { "type": "mrkdwn", "text": "*Build*\nrev-4812" },
                    { "type": "mrkdwn", "text": "*At*\n2026-11-22T22:50:00.123Z" }
                ] },
                { "type": "section", "text": { "type": "mrkdwn", "text": "*Phases* dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms" } },
                { "type": "context", "elements": [ { "type": "mrkdwn", "text": "<https://status.example.com/environments/staging|Open staging on the status page> · incident #7" } ] }
            ]
        });
        assert_eq!(
            payload(&sample(EventName::Triggered), "team-slack"),
            expected
        );
    }

    #[test]
    fn resolved_message_says_how_long_it_lasted() {
        let body = payload(&sample(EventName::Resolved), "team-slack");
        assert_eq!(
            body["blocks"][0]["text"]["text"],
            "✅ staging recovered after 22m 30s (was closed_before_ready)"
        );
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "Failing from 2026-11-22T22:45:00.000Z to 2026-11-22T23:07:30.000Z (22m 30s). Closed 1011 \"Internal error\" 63 ms after the upgrade."
        );
        assert_eq!(body["blocks"][2]["fields"][1]["text"], "*Status*\nup");
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("✅ staging recovered after 22m 30s")
        );
    }

    #[test]
    fn acknowledged_message_says_who_and_why_escaped() {
        let body = payload(&sample(EventName::Acknowledged), "team-slack");
        assert_eq!(
            body["blocks"][0]["text"]["text"],
            "👀 staging: alice acknowledged incident #7 (closed_before_ready)"
        );
        assert_eq!(
            body["blocks"][1]["text"]["text"],
            "Acknowledged by alice at 2026-11-22T22:55:00.000Z\nComment: looking into it &lt;b&gt;now&lt;/b&gt;"
        );
        assert_eq!(body["blocks"].as_array().unwrap().len(), 3, "{body:#}");
    }

    #[test]
    fn test_message_is_marked_as_a_test() {
        let expected = json!({
            "text": "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed",
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed", "emoji": true } },
                { "type": "section", "text": { "type": "mrkdwn", "text": "This is a test sent by `wsprobe alert test` to channel *team-slack*: no action needed." } }
            ]
        });
        assert_eq!(payload(&Notification::test(None), "team-slack"), expected);
    }

    #[test]
    fn a_note_is_its_own_section_escaped() {
        let body = payload(&crate::alert::notification::tests::sample_note(), "team-slack");
        let expected = json!({
            "text": "📝 staging incident #7: identified — Identified: The &lt;b&gt;database&lt;/b&gt; failed over &amp; @here the pool is reconnecting.\n— ana",
            "blocks": [
                { "type": "header", "text": { "type": "plain_text", "text": "📝 staging incident #7: identified", "emoji": true } },
                { "type": "section", "text": { "type": "mrkdwn", "text": "Identified: The &lt;b&gt;database&lt;/b&gt; failed over &amp; @here the pool is reconnecting.\n— ana" } },
                { "type": "context", "elements": [ { "type": "mrkdwn", "text": "<https://status.example.com/environments/staging|Open staging on the status page> · incident #7" } ] }
            ]
        });
        assert_eq!(body, expected);
    }

    #[test]
    fn markup_from_probed_servers_is_escaped() {
        let mut n = sample(EventName::Triggered);
        n.result.as_mut().unwrap().diagnosis = "<!channel> closed <https://evil|click>".into();
        let body = payload(&n, "team-slack");
        let text = body.to_string();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<https://evil"), "{text}");
    }
}
