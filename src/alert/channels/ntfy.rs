//! ntfy: a plain-text message posted to the topic's URL, with its headline as `Title`,
//! `Priority` (`urgent` when an incident opens, `default` otherwise), emoji `Tags` and the
//! environment's page as `Click`; `Authorization: Bearer` when the channel has a token (the
//! secret). No Markdown is asked for, so nothing is rendered; header values are kept to one
//! line, and a non-ASCII title is sent RFC 2047-encoded, which ntfy decodes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use url::Url;

use crate::alert::facts::{self, Tone};
use crate::alert::notification::{EventName, Notification};
use crate::alert::notifier::{HttpRequest, Notifier, Outgoing};
use crate::config::Secret;
use crate::config::channels::NtfySettings;
use crate::text::truncate;

/// ntfy's message limit (bytes); a longer body would become an attachment.
pub const BODY_MAX_BYTES: usize = 4096;
const TITLE_MAX: usize = 250;

pub struct Ntfy {
    pub name: String,
    pub url: Url,
    pub token: Option<Secret>,
}

pub fn notifier(name: &str, settings: &NtfySettings) -> Box<dyn Notifier> {
    Box::new(Ntfy {
        name: name.to_owned(),
        url: settings.url.clone(),
        token: settings.token.clone(),
    })
}

impl Notifier for Ntfy {
    fn name(&self) -> &str {
        &self.name
    }

    fn request(&self, notification: &Notification, _now: DateTime<Utc>) -> Outgoing {
        let message = message(notification, &self.name);
        let mut headers = message.headers();
        if let Some(token) = &self.token {
            headers.push(("Authorization", format!("Bearer {}", token.expose())));
        }
        Outgoing::Http(HttpRequest {
            url: self.url.clone(),
            headers,
            body: message.body.into_bytes(),
        })
    }
}

/// What ntfy is sent: a body and the headers that say how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub title: String,
    pub priority: &'static str,
    pub tags: Vec<&'static str>,
    pub click: Option<String>,
    pub body: String,
}

impl Message {
    /// The request's headers, each value one line of visible text.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Type", "text/plain; charset=utf-8".to_owned()),
            ("Title", header_text(&self.title)),
            ("Priority", self.priority.to_owned()),
            ("Tags", self.tags.join(",")),
        ];
        if let Some(click) = &self.click {
            headers.push(("Click", click.clone()));
        }
        headers
    }
}

/// The message for `notification`; `channel` names the channel in test messages. Pure.
pub fn message(notification: &Notification, channel: &str) -> Message {
    let n = notification;
    let (tag, priority) = match Tone::of(n) {
        Tone::Test => ("test_tube", "low"),
        Tone::Note => ("memo", "default"),
        Tone::Resolved => ("white_check_mark", "default"),
        Tone::Acknowledged => ("eyes", "low"),
        Tone::Degraded => ("warning", "default"),
        Tone::Down => ("rotating_light", "default"),
    };
    let priority = match (n.event, n.slo_burn.as_ref().map(|b| b.speed)) {
        (EventName::Triggered, _) | (EventName::SloBurn, Some(crate::slo::burn::Speed::Fast)) => {
            "urgent"
        }
        (EventName::SloBurn, _) => "high",
        _ => priority,
    };
    let mut lines = facts::plain_lines(n, channel);
    if let Some(link) = &n.link {
        lines.push(link.clone());
    }
    Message {
        // The icon is the tag's emoji.
        title: truncate(&n.headline(), TITLE_MAX),
        priority,
        tags: vec![tag, "wsprobe"],
        click: n.link.clone(),
        body: cut_bytes(&lines.join("\n"), BODY_MAX_BYTES),
    }
}

/// At most `max` bytes of `text`, cut on a character with `…` when cut.
fn cut_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// One line of header text: control characters become spaces; anything beyond ASCII makes it
/// an RFC 2047 encoded word.
fn header_text(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.is_ascii() {
        line
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(line.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::facts::tests::TRIGGERED_LINES;
    use crate::alert::notification::tests::sample;

    #[test]
    fn triggered_message_is_exact() {
        let expected = Message {
            title: "staging is down: closed_before_ready".into(),
            priority: "urgent",
            tags: vec!["rotating_light", "wsprobe"],
            click: Some("https://status.example.com/environments/staging".into()),
            body: format!(
                "Closed 1011 \"Internal error\" 63 ms after the upgrade.\n{TRIGGERED_LINES}\n\
                 https://status.example.com/environments/staging"
            ),
        };
        let message = message(&sample(EventName::Triggered), "phone");
        assert_eq!(message, expected);
        assert_eq!(
            message.headers(),
            [
                ("Content-Type", "text/plain; charset=utf-8".to_owned()),
                ("Title", "staging is down: closed_before_ready".to_owned()),
                ("Priority", "urgent".to_owned()),
                ("Tags", "rotating_light,wsprobe".to_owned()),
                (
                    "Click",
                    "https://status.example.com/environments/staging".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn only_the_opening_notice_is_urgent() {
        let cases = [
            (EventName::Reminder, "default", "rotating_light"),
            (EventName::VerdictChanged, "default", "rotating_light"),
            (EventName::Resolved, "default", "white_check_mark"),
            (EventName::Acknowledged, "low", "eyes"),
        ];
        for (event, priority, tag) in cases {
            let message = message(&sample(event), "phone");
            assert_eq!(message.priority, priority, "{event}");
            assert_eq!(message.tags[0], tag, "{event}");
        }
        let resolved = message(&sample(EventName::Resolved), "phone");
        assert_eq!(
            resolved.title,
            "staging recovered after 22m 30s (was closed_before_ready)"
        );
        assert!(resolved.body.starts_with("Failing from 2026-11-22T22:45:00.000Z"));
    }

    #[test]
    fn a_note_message_is_exact() {
        let expected = Message {
            title: "staging incident #7: identified".into(),
            priority: "default",
            tags: vec!["memo", "wsprobe"],
            click: Some("https://status.example.com/environments/staging".into()),
            body: "Identified: The <b>database</b> failed over & @here the pool is reconnecting.\n— ana\n\
                   Incident #7\n\
                   https://status.example.com/environments/staging"
                .into(),
        };
        assert_eq!(
            message(&crate::alert::notification::tests::sample_note(), "phone"),
            expected
        );
    }

    #[test]
    fn test_message_is_exact() {
        let expected = Message {
            title:
                "Test notification from wsprobe: this channel is wired correctly, no action needed"
                    .into(),
            priority: "low",
            tags: vec!["test_tube", "wsprobe"],
            click: None,
            body: "This is a test sent by `wsprobe alert test` to channel phone: no action needed."
                .into(),
        };
        assert_eq!(message(&Notification::test(None), "phone"), expected);
    }

    #[test]
    fn bodies_fit_ntfy_s_limit_and_titles_stay_one_header_line() {
        let mut n = sample(EventName::Triggered);
        n.result.as_mut().unwrap().diagnosis = "é".repeat(5000);
        let body = message(&n, "phone").body;
        assert!(body.len() <= BODY_MAX_BYTES, "{}", body.len());
        assert!(body.ends_with('…'));
        n.environment = Some("prod\r\nX-Evil: 1 ü".into());
        let title = &message(&n, "phone").headers()[1].1;
        assert!(title.starts_with("=?UTF-8?B?") && title.is_ascii(), "{title}");
        let decoded = STANDARD
            .decode(title.trim_start_matches("=?UTF-8?B?").trim_end_matches("?="))
            .unwrap();
        assert!(String::from_utf8(decoded).unwrap().starts_with("prod  X-Evil: 1 ü is down"));
    }
}
