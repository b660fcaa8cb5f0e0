//! Mattermost incoming webhook, Slack-compatible: the headline as `text`, one attachment with
//! the diagnosis, the Slack fields, the phases, a link to the environment's page and a colour
//! by status. Mattermost renders Markdown and notifies on `@channel`, `@all`, `@here`: every
//! server-derived string is Markdown-escaped and its `@` cannot mention. The webhook URL is
//! the secret.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::alert::facts::{self, Tone};
use crate::alert::notification::{EventName, Notification};
use crate::alert::channels::json_webhook::JsonWebhook;
use crate::alert::notifier::Notifier;
use crate::config::channels::MattermostSettings;
use crate::text::truncate;

/// A post is at most 16383 characters (Mattermost's default); texts stay well inside.
const TEXT_MAX: usize = 4_000;
const FIELD_MAX: usize = 1_000;

pub fn notifier(name: &str, settings: &MattermostSettings) -> Box<dyn Notifier> {
    let (channel_override, username) = (settings.channel.clone(), settings.username.clone());
    let post = move |n: &Notification, channel: &str, _: DateTime<Utc>| {
        let mut body = payload(n, channel);
        if let Some(to) = &channel_override {
            body["channel"] = json!(to);
        }
        if let Some(username) = &username {
            body["username"] = json!(username);
        }
        body
    };
    Box::new(JsonWebhook::new(
        "mattermost",
        name,
        &settings.webhook_url,
        Box::new(post),
    ))
}

/// The post for `notification`; `channel` names the channel in test messages. Pure.
pub fn payload(notification: &Notification, channel: &str) -> Value {
    let n = notification;
    let headline = format!("#### {}", escape(&facts::title(n)));
    let color = match Tone::of(n) {
        Tone::Test => "#5865F2",
        Tone::Note => "#3B82F6",
        Tone::Resolved => "#2EB67D",
        Tone::Acknowledged => "#5865F2",
        Tone::Degraded => "#F5A524",
        Tone::Down => "#E5484D",
    };
    let mut text = String::new();
    let mut fields = Vec::new();
    if n.event == EventName::Test {
        text = facts::test_line(&escape(channel));
    }
    if let Some(note) = &n.note {
        text = escape(&facts::note_text(note));
    }
    if let Some(burn) = &n.slo_burn {
        text = escape(&truncate(&facts::burn_lines(burn).join("\n"), TEXT_MAX));
    }
    if let Some(result) = &n.result {
        text = escape(&truncate(&facts::diagnosis(n, result), TEXT_MAX));
        for fact in facts::facts(n, result) {
            let value = match fact.label {
                "Verdict" => format!("`{}`", fact.value),
                _ => escape(&truncate(&fact.value, FIELD_MAX)),
            };
            fields.push(json!({ "short": true, "title": fact.label, "value": value }));
        }
        if let Some(phases) = facts::phases(result) {
            fields.push(json!({ "short": false, "title": "Phases", "value": phases }));
        }
    }
    let mut attachment = json!({
        "fallback": facts::title(n),
        "color": color,
        "text": text,
        "footer": facts::footer(n),
    });
    if !fields.is_empty() {
        attachment["fields"] = json!(fields);
    }
    if let Some(link) = &n.link {
        attachment["title"] = json!(facts::link_text(n));
        attachment["title_link"] = json!(link);
    }
    json!({ "text": headline, "attachments": [attachment] })
}

/// Markdown's special characters backslash-escaped, and `@` followed by a zero-width space so
/// a server's `@channel` mentions nobody.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '[' | ']' | '<' | '>' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200B}"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    #[test]
    fn triggered_post_is_exact() {
        let expected = json!({
            "text": "#### 🔴 staging is down: closed\\_before\\_ready",
            "attachments": [{
                "fallback": "🔴 staging is down: closed_before_ready",
                "color": "#E5484D",
                "title": "Open staging on the status page",
                "title_link": "https://status.example.com/environments/staging",
                "text": "Closed 1011 \"Internal error\" 63 ms after the upgrade.",
                "fields": [
                    { "short": true, "title": "Environment", "value": "staging" },
                    { "short": true, "title": "Status", "value": "down" },
                    { "short": true, "title": "Verdict", "value": "`closed_before_ready`" },
                    { "short": true, "title": "Close", "value": "1011 Internal \\<error\\> & co" },
                    { "short": true, "title": "HTTP status", "value": "101" },
                    { "short": true, "title": "Build", "value": "rev-4812" },
                    { "short": true, "title": "At", "value": "2026-11-22T22:50:00.123Z" },
                    { "short": false, "title": "Phases", "value": "dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms" }
                ],
                "footer": "wsprobe · incident #7"
            }]
        });
        assert_eq!(payload(&sample(EventName::Triggered), "mm"), expected);
    }

    #[test]
    fn resolved_post_is_green_and_says_how_long() {
        let body = payload(&sample(EventName::Resolved), "mm");
        assert_eq!(
            body["text"],
            "#### ✅ staging recovered after 22m 30s (was closed\\_before\\_ready)"
        );
        assert_eq!(body["attachments"][0]["color"], "#2EB67D");
        assert!(
            body["attachments"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Failing from 2026-11-22T22:45:00.000Z to 2026-11-22T23:07:30.000Z (22m 30s).")
        );
    }

    #[test]
    fn a_note_post_is_exact_and_mentions_nobody() {
        let expected = json!({
            "text": "#### 📝 staging incident \\#7: identified",
            "attachments": [{
                "fallback": "📝 staging incident #7: identified",
                "color": "#3B82F6",
                "text": "Identified: The \\<b\\>database\\</b\\> failed over & @\u{200B}here the pool is reconnecting.\n— ana",
                "footer": "wsprobe · incident #7",
                "title": "Open staging on the status page",
                "title_link": "https://status.example.com/environments/staging"
            }]
        });
        assert_eq!(
            payload(&crate::alert::notification::tests::sample_note(), "mm"),
            expected
        );
    }

    #[test]
    fn test_post_is_exact() {
        let expected = json!({
            "text": "#### 🧪 Test notification from wsprobe: this channel is wired correctly, no action needed",
            "attachments": [{
                "fallback": "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed",
                "color": "#5865F2",
                "text": "This is a test sent by `wsprobe alert test` to channel mm: no action needed.",
                "footer": "wsprobe"
            }]
        });
        assert_eq!(payload(&Notification::test(None), "mm"), expected);
    }

    #[test]
    fn mentions_and_markdown_from_probed_servers_are_defused() {
        let mut n = sample(EventName::Triggered);
        n.result.as_mut().unwrap().diagnosis = "@channel see [this](https://evil) **now**".into();
        let body = payload(&n, "mm");
        assert_eq!(
            body["attachments"][0]["text"],
            "@\u{200B}channel see \\[this\\](https://evil) \\*\\*now\\*\\*"
        );
        assert!(!body.to_string().contains("@channel"));
    }
}
