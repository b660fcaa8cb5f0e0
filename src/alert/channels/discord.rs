//! Discord channel webhook: one embed (title, description, fields, colour, link, time) within
//! Discord's documented limits, and no mentions: `allowed_mentions` is empty, so a server's
//! `@everyone` pings nobody. The webhook URL is the secret. A 429 says how long to wait in
//! `Retry-After` and in its body's `retry_after` (seconds); either is honoured.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::alert::facts::{self, Tone};
use crate::alert::notification::{EventName, Notification};
use crate::alert::channels::json_webhook::JsonWebhook;
use crate::alert::notifier::Notifier;
use crate::config::channels::DiscordSettings;
use crate::text::truncate;

/// Discord allows 5 requests per 2 seconds per webhook, 30 a minute per channel.
const MIN_INTERVAL: Duration = Duration::from_secs(2);
/// Discord's embed limits (developer docs, "Embed Limits").
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
/// Title, description, field names and values, footer and author together.
pub const TOTAL_MAX: usize = 6000;

const RED: u32 = 0xE5484D;
const ORANGE: u32 = 0xF5A524;
const GREEN: u32 = 0x2EB67D;
const BLURPLE: u32 = 0x5865F2;
const BLUE: u32 = 0x3B82F6;

pub fn notifier(name: &str, settings: &DiscordSettings) -> Box<dyn Notifier> {
    Box::new(JsonWebhook {
        min_interval: MIN_INTERVAL,
        retry_hint,
        ..JsonWebhook::new(
            "discord",
            name,
            &settings.webhook_url,
            Box::new(payload),
        )
    })
}

/// A 429's `{"retry_after": 1.5, …}`, in seconds (rounded up to the millisecond).
pub fn retry_hint(body: &str) -> Option<Duration> {
    let seconds = serde_json::from_str::<Value>(body).ok()?["retry_after"].as_f64()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_millis((seconds * 1000.0).ceil() as u64))
}

/// The message for `notification`; `channel` names the channel in test messages, `now`
/// stamps messages without a result. Pure.
pub fn payload(notification: &Notification, channel: &str, now: DateTime<Utc>) -> Value {
    let n = notification;
    let tone = Tone::of(n);
    let title = truncate(&facts::title(n), TITLE_MAX);
    let footer = truncate(&facts::footer(n), FOOTER_MAX);
    let (text, fields) = text_and_fields(n, channel);
    let link = n
        .link
        .as_ref()
        .map(|link| format!("[{}]({link})", escape(&facts::link_text(n))));
    // The description gets what the other parts leave of the 6000 characters; the link
    // line is kept whole, the text cut.
    let others: usize = title.chars().count()
        + footer.chars().count()
        + fields
            .iter()
            .map(|f| chars(&f["name"]) + chars(&f["value"]))
            .sum::<usize>();
    let budget = DESCRIPTION_MAX.min(TOTAL_MAX.saturating_sub(others));
    let tail = link.as_ref().map_or(0, |l| l.chars().count() + 2);
    let mut description = truncate(&text, budget.saturating_sub(tail));
    if let Some(link) = &link {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(link);
    }
    let timestamp = crate::wire::format(n.result.as_ref().map_or(now, |r| r.started_at));
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": match tone {
            Tone::Test => BLURPLE,
            Tone::Note => BLUE,
            Tone::Resolved => GREEN,
            Tone::Acknowledged => BLURPLE,
            Tone::Degraded => ORANGE,
            Tone::Down => RED,
        },
        "timestamp": timestamp,
        "footer": { "text": footer },
    });
    if let Some(link) = &n.link {
        embed["url"] = json!(link);
    }
    if !fields.is_empty() {
        embed["fields"] = json!(fields);
    }
    json!({
        "username": "wsprobe",
        "allowed_mentions": { "parse": [] },
        "embeds": [embed],
    })
}

/// The description's text (the test line, the note or the diagnosis, escaped) and the
/// result's facts as fields, at most [`FIELDS_MAX`].
fn text_and_fields(n: &Notification, channel: &str) -> (String, Vec<Value>) {
    let mut fields = Vec::new();
    let mut text = String::new();
    if n.event == EventName::Test {
        text = facts::test_line(&escape(channel));
    }
    if let Some(note) = &n.note {
        text = escape(&facts::note_text(note));
    }
    if let Some(burn) = &n.slo_burn {
        text = escape(&facts::burn_lines(burn).join("\n"));
    }
    if let Some(result) = &n.result {
        text = escape(&facts::diagnosis(n, result));
        for fact in facts::facts(n, result) {
            let value = match fact.label {
                "Verdict" => format!("`{}`", fact.value),
                _ => escape(&fact.value),
            };
            fields.push(field(fact.label, &value, true));
        }
        if let Some(phases) = facts::phases(result) {
            fields.push(field("Phases", &phases, false));
        }
    }
    fields.truncate(FIELDS_MAX);
    (text, fields)
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

fn field(name: &str, value: &str, inline: bool) -> Value {
    json!({
        "name": truncate(name, FIELD_NAME_MAX),
        "value": truncate(value, FIELD_VALUE_MAX),
        "inline": inline,
    })
}

/// Discord markdown's special characters, backslash-escaped: a server's text must not turn
/// into a link, a mention, a spoiler or a heading.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']' | '#' | '@'
        ) {
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

    fn now() -> DateTime<Utc> {
        "2026-11-22T23:00:00Z".parse().unwrap()
    }

    fn total(body: &Value) -> usize {
        let embed = &body["embeds"][0];
        chars(&embed["title"])
            + chars(&embed["description"])
            + chars(&embed["footer"]["text"])
            + embed["fields"].as_array().map_or(0, |fields| {
                fields
                    .iter()
                    .map(|f| chars(&f["name"]) + chars(&f["value"]))
                    .sum()
            })
    }

    #[test]
    fn triggered_message_is_exact() {
        let expected = json!({
            "username": "wsprobe",
            "allowed_mentions": { "parse": [] },
            "embeds": [{
                "title": "🔴 staging is down: closed_before_ready",
                "url": "https://status.example.com/environments/staging",
                "description": "Closed 1011 \"Internal error\" 63 ms after the upgrade.\n\n[Open staging on the status page](https://status.example.com/environments/staging)",
                "color": 0xE5484D,
                "timestamp": "2026-11-22T22:50:00.123Z",
                "footer": { "text": "wsprobe · incident #7" },
                "fields": [
                    { "name": "Environment", "value": "staging", "inline": true },
                    { "name": "Status", "value": "down", "inline": true },
                    { "name": "Verdict", "value": "`closed_before_ready`", "inline": true },
                    { "name": "Close", "value": "1011 Internal \\<error\\> & co", "inline": true },
                    { "name": "HTTP status", "value": "101", "inline": true },
                    { "name": "Build", "value": "rev-4812", "inline": true },
                    { "name": "At", "value": "2026-11-22T22:50:00.123Z", "inline": true },
                    { "name": "Phases", "value": "dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms", "inline": false }
                ]
            }]
        });
        assert_eq!(
            payload(&sample(EventName::Triggered), "chat", now()),
            expected
        );
    }

    #[test]
    fn resolved_message_is_green_and_says_how_long() {
        let body = payload(&sample(EventName::Resolved), "chat", now());
        let embed = &body["embeds"][0];
        assert_eq!(
            embed["title"],
            "✅ staging recovered after 22m 30s (was closed_before_ready)"
        );
        assert_eq!(embed["color"], GREEN);
        assert!(
            embed["description"]
                .as_str()
                .unwrap()
                .starts_with("Failing from 2026-11-22T22:45:00.000Z to 2026-11-22T23:07:30.000Z (22m 30s). Closed 1011")
        );
        assert_eq!(embed["fields"][1]["value"], "up");
    }

    #[test]
    fn test_message_is_exact() {
        let expected = json!({
            "username": "wsprobe",
            "allowed_mentions": { "parse": [] },
            "embeds": [{
                "title": "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed",
                "description": "This is a test sent by `wsprobe alert test` to channel team\\_chat: no action needed.",
                "color": 0x5865F2,
                "timestamp": "2026-11-22T23:00:00.000Z",
                "footer": { "text": "wsprobe" }
            }]
        });
        assert_eq!(
            payload(&Notification::test(None), "team_chat", now()),
            expected
        );
    }

    #[test]
    fn a_note_is_the_description_escaped_and_blue() {
        let body = payload(&crate::alert::notification::tests::sample_note(), "chat", now());
        let embed = &body["embeds"][0];
        assert_eq!(embed["title"], "📝 staging incident #7: identified");
        assert_eq!(embed["color"], BLUE);
        assert_eq!(
            embed["description"],
            "Identified: The \\<b\\>database\\</b\\> failed over & \\@here the pool is reconnecting.\n— ana\n\n[Open staging on the status page](https://status.example.com/environments/staging)"
        );
        assert_eq!(embed["fields"], Value::Null, "no result, no fields");
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    }

    #[test]
    fn discord_s_limits_hold_for_huge_server_texts() {
        let mut n = sample(EventName::Triggered);
        let result = n.result.as_mut().unwrap();
        result.diagnosis = "d".repeat(10_000);
        result.close_reason = Some("r".repeat(5_000));
        result.version = Some("v".repeat(5_000));
        let body = payload(&n, "chat", now());
        let embed = &body["embeds"][0];
        assert!(chars(&embed["title"]) <= TITLE_MAX);
        assert!(chars(&embed["description"]) <= DESCRIPTION_MAX);
        let fields = embed["fields"].as_array().unwrap();
        assert!(fields.len() <= FIELDS_MAX);
        for field in fields {
            assert!(chars(&field["name"]) <= FIELD_NAME_MAX);
            assert!(chars(&field["value"]) <= FIELD_VALUE_MAX, "{field}");
        }
        assert!(total(&body) <= TOTAL_MAX, "{}", total(&body));
        assert!(
            embed["description"]
                .as_str()
                .unwrap()
                .ends_with("…\n\n[Open staging on the status page](https://status.example.com/environments/staging)"),
            "the link survives the cut"
        );
    }

    #[test]
    fn markup_from_probed_servers_is_escaped() {
        let mut n = sample(EventName::Triggered);
        n.result.as_mut().unwrap().diagnosis =
            "@everyone closed [click](https://evil) **now** <@123>".into();
        let body = payload(&n, "chat", now());
        assert_eq!(
            body["embeds"][0]["description"]
                .as_str()
                .unwrap()
                .lines()
                .next(),
            Some(r"\@everyone closed \[click\](https://evil) \*\*now\*\* \<\@123\>")
        );
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    }

    #[test]
    fn a_429_body_s_retry_after_is_read_in_seconds() {
        let cases = [
            (
                r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#,
                Some(1500),
            ),
            (r#"{"retry_after":2}"#, Some(2000)),
            (r#"{"retry_after":-1}"#, None),
            ("rate limited", None),
            ("{}", None),
        ];
        for (body, expected) in cases {
            assert_eq!(
                retry_hint(body),
                expected.map(Duration::from_millis),
                "{body}"
            );
        }
    }
}
