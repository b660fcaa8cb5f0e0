//! Telegram Bot API `sendMessage`: one HTML message (`parse_mode: HTML`) of at most 4096
//! characters, every server-derived string HTML-escaped. The bot token is the secret and sits
//! in the URL's path: the URL is never logged, and the token is scrubbed from errors. A 429
//! says how long to wait in `parameters.retry_after`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use url::Url;

use crate::alert::facts;
use crate::alert::notification::{EventName, Notification};
use crate::alert::notifier::{HttpRequest, Notifier, Outgoing};
use crate::config::Secret;
use crate::config::channels::TelegramSettings;
use crate::text::truncate;

/// Telegram's limit on a message's text.
pub const TEXT_MAX: usize = 4096;
/// About one message a second to one chat.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

pub struct Telegram {
    pub name: String,
    pub bot_token: Secret,
    pub chat_id: String,
    pub api_url: Url,
}

pub fn notifier(name: &str, settings: &TelegramSettings) -> Box<dyn Notifier> {
    Box::new(Telegram {
        name: name.to_owned(),
        bot_token: settings.bot_token.clone(),
        chat_id: settings.chat_id.clone(),
        api_url: settings.api_url.clone(),
    })
}

impl Notifier for Telegram {
    fn name(&self) -> &str {
        &self.name
    }

    fn min_interval(&self) -> Duration {
        MIN_INTERVAL
    }

    fn retry_hint(&self, body: &str) -> Option<Duration> {
        retry_hint(body)
    }

    fn request(&self, notification: &Notification, _now: DateTime<Utc>) -> Outgoing {
        let body = payload(notification, &self.chat_id, &self.name);
        let url = format!(
            "{}/bot{}/sendMessage",
            self.api_url.as_str().trim_end_matches('/'),
            self.bot_token.expose()
        );
        match Url::parse(&url) {
            Ok(url) => Outgoing::Http(HttpRequest {
                url,
                headers: Vec::new(),
                body: body.to_string().into_bytes(),
            }),
            // A token with characters no URL takes: say so, without it.
            Err(_) => Outgoing::Log(format!(
                "telegram channel {}: the bot token does not make a URL",
                self.name
            )),
        }
    }
}

/// A 429's `{"parameters": {"retry_after": 5}, …}`, in seconds.
pub fn retry_hint(body: &str) -> Option<Duration> {
    let body: Value = serde_json::from_str(body).ok()?;
    body["parameters"]["retry_after"]
        .as_u64()
        .map(Duration::from_secs)
}

/// The `sendMessage` body for `notification` to `chat_id`; `channel` names the channel in
/// test messages. Pure.
pub fn payload(notification: &Notification, chat_id: &str, channel: &str) -> Value {
    let chat: Value = match chat_id.parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat_id),
    };
    json!({
        "chat_id": chat,
        "text": text(notification, channel),
        "parse_mode": "HTML",
        "link_preview_options": { "is_disabled": true },
    })
}

/// The message's HTML, at most [`TEXT_MAX`] characters even before Telegram reads its tags:
/// the diagnosis (or a note's text) is what gets cut.
pub fn text(notification: &Notification, channel: &str) -> String {
    let n = notification;
    let diagnosis = match (&n.result, &n.note) {
        (Some(result), _) => Some(facts::diagnosis(n, result)),
        (None, Some(note)) => Some(facts::note_text(note)),
        (None, None) => n.slo_burn.as_ref().map(|b| facts::burn_lines(b).join("\n")),
    };
    let fits = |budget: usize| {
        let text = compose(n, channel, diagnosis.as_deref(), budget);
        (text.chars().count() <= TEXT_MAX).then_some(text)
    };
    let whole = diagnosis.as_deref().map_or(0, |d| d.chars().count());
    if let Some(text) = fits(whole) {
        return text;
    }
    // The longest cut of the diagnosis that fits, escaping and all (the search is over
    // characters kept; `fits(lo)` always holds).
    let (mut lo, mut hi) = (0, whole);
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if fits(mid).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    fits(lo).unwrap_or_else(|| truncate(&compose(n, channel, None, 0), TEXT_MAX))
}

fn compose(n: &Notification, channel: &str, diagnosis: Option<&str>, budget: usize) -> String {
    let mut blocks = vec![format!("<b>{}</b>", escape(&facts::title(n)))];
    if n.event == EventName::Test {
        blocks.push(escape(&facts::test_line(channel)));
    }
    if let Some(diagnosis) = diagnosis {
        blocks.push(escape(&truncate(diagnosis, budget)));
    }
    if let Some(result) = &n.result {
        let mut lines: Vec<String> = facts::facts(n, result)
            .into_iter()
            .map(|fact| {
                let value = match fact.label {
                    "Verdict" => format!("<code>{}</code>", escape(&fact.value)),
                    _ => escape(&truncate(&fact.value, 500)),
                };
                format!("<b>{}:</b> {value}", fact.label)
            })
            .collect();
        if let Some(phases) = facts::phases(result) {
            lines.push(format!("<b>Phases:</b> {}", escape(&phases)));
        }
        blocks.push(lines.join("\n"));
    }
    let mut footer = Vec::new();
    if let Some(link) = &n.link {
        footer.push(format!(
            "<a href=\"{}\">{}</a>",
            escape(link),
            escape(&facts::link_text(n))
        ));
    }
    if let Some(incident) = &n.incident {
        footer.push(format!("incident #{}", incident.id));
    }
    if !footer.is_empty() {
        blocks.push(footer.join(" · "));
    }
    blocks.join("\n\n")
}

/// Telegram's HTML escapes: `<`, `>`, `&`, and `"` for attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    #[test]
    fn a_note_is_escaped_and_cut_like_a_diagnosis() {
        let n = crate::alert::notification::tests::sample_note();
        assert_eq!(
            text(&n, "tg"),
            "<b>📝 staging incident #7: identified</b>\n\n\
             Identified: The &lt;b&gt;database&lt;/b&gt; failed over &amp; @here the pool is reconnecting.\n— ana\n\n\
             <a href=\"https://status.example.com/environments/staging\">Open staging on the status page</a> · incident #7"
        );
        let mut long = n.clone();
        long.note.as_mut().unwrap().message = "&".repeat(2000);
        let cut = text(&long, "tg");
        assert!(cut.chars().count() <= TEXT_MAX, "{}", cut.chars().count());
        assert!(cut.ends_with("incident #7"), "the footer survives the cut");
        assert!(!cut.contains("&am…"), "never cut inside an entity");
    }

    #[test]
    fn triggered_message_is_exact() {
        let expected = json!({
            "chat_id": -1001234567890_i64,
            "text": "<b>🔴 staging is down: closed_before_ready</b>\n\n\
                     Closed 1011 &quot;Internal error&quot; 63 ms after the upgrade.\n\n\
                     <b>Environment:</b> staging\n\
                     <b>Status:</b> down\n\
                     <b>Verdict:</b> <code>closed_before_ready</code>\n\
                     <b>Close:</b> 1011 Internal &lt;error&gt; &amp; co\n\
                     <b>HTTP status:</b> 101\n\
                     <b>Build:</b> rev-4812\n\
                     <b>At:</b> 2026-11-22T22:50:00.123Z\n\
                     <b>Phases:</b> dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms\n\n\
                     <a href=\"https://status.example.com/environments/staging\">Open staging on the status page</a> · incident #7",
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        });
        assert_eq!(
            payload(&sample(EventName::Triggered), "-1001234567890", "tg"),
            expected
        );
    }

    #[test]
    fn resolved_message_says_how_long() {
        let body = payload(&sample(EventName::Resolved), "@ops_alerts", "tg");
        assert_eq!(body["chat_id"], "@ops_alerts");
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("<b>✅ staging recovered after 22m 30s (was closed_before_ready)</b>\n\nFailing from 2026-11-22T22:45:00.000Z"),
            "{text}"
        );
    }

    #[test]
    fn test_message_is_exact() {
        let expected = json!({
            "chat_id": 42,
            "text": "<b>🧪 Test notification from wsprobe: this channel is wired correctly, no action needed</b>\n\n\
                     This is a test sent by `wsprobe alert test` to channel a&lt;b&gt;: no action needed.",
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        });
        assert_eq!(payload(&Notification::test(None), "42", "a<b>"), expected);
    }

    #[test]
    fn long_and_hostile_server_text_fits_4096_characters_of_valid_html() {
        let mut n = sample(EventName::Triggered);
        n.result.as_mut().unwrap().diagnosis =
            format!("<a href=\"https://evil\">x</a>{}", "&<".repeat(5000));
        let text = text(&n, "tg");
        assert!(text.chars().count() <= TEXT_MAX, "{}", text.chars().count());
        assert!(!text.contains("<a href=\"https://evil\""));
        assert!(text.contains("&lt;a href=&quot;https://evil&quot;&gt;x&lt;/a&gt;"));
        // Cut on whole characters, never inside an entity.
        let body = text.split("\n\n").nth(1).unwrap();
        assert!(body.ends_with("&amp;&lt;…") || body.ends_with("&lt;&amp;…"), "{}", &body[body.len() - 20..]);
        assert!(text.ends_with("· incident #7"), "the facts and the link survive the cut");
    }

    #[test]
    fn a_429_body_s_retry_after_is_read() {
        let cases = [
            (
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}"#,
                Some(5),
            ),
            (r#"{"ok":false,"error_code":429}"#, None),
            ("Too Many Requests", None),
        ];
        for (body, expected) in cases {
            assert_eq!(retry_hint(body), expected.map(Duration::from_secs), "{body}");
        }
    }
}
