//! Email: one `multipart/alternative` message per notification, a plain-text part and an HTML
//! part with Slack's facts (environment, verdict, diagnosis, close code, phases, link), handed
//! to the channel's SMTP server ([`crate::alert::smtp`]). The subject says the state and the
//! headline (`[FIRING] staging is down: closed_before_ready`); every message of an incident
//! answers its first (`In-Reply-To`, `References`), so a mail client threads the resolve under
//! the trigger. Server-derived text is HTML-escaped in the HTML part and never reaches a header
//! line; the evidence is cut to bounded sizes. The password is the secret.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use maud::{DOCTYPE, Markup, html};

use crate::alert::facts::{self, Tone};
use crate::alert::notification::{EventName, IncidentInfo, Notification};
use crate::alert::notifier::{Notifier, Outgoing};
use crate::alert::smtp::{MailRequest, Security, Server};
use crate::config::channels::EmailSettings;
use crate::config::channels::email::SmtpTls;
use crate::text::truncate;

/// Submission services cap the rate per account (Exchange Online: 30 messages a minute, the
/// lowest of the common ones): one message every 2 s keeps under it.
const MIN_INTERVAL: Duration = Duration::from_secs(2);
/// RFC 5322 §2.1.1 asks for header lines of at most 78 characters; a subject is folded, but
/// a long one is cut first.
const SUBJECT_MAX: usize = 200;
/// A hostile server's close reason or diagnosis can be megabytes: what a message keeps.
const DIAGNOSIS_MAX: usize = 2000;
const FACT_MAX: usize = 500;

pub struct Email {
    pub name: String,
    pub server: Arc<Server>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub subject_prefix: Option<String>,
}

pub fn notifier(name: &str, settings: &EmailSettings) -> Box<dyn Notifier> {
    let security = match settings.tls {
        SmtpTls::StartTls => Security::StartTls,
        SmtpTls::Tls => Security::Tls,
        SmtpTls::None => Security::None,
    };
    Box::new(Email {
        name: name.to_owned(),
        server: Arc::new(Server {
            host: settings.host.clone(),
            port: settings.port,
            security,
            credentials: settings
                .credentials
                .as_ref()
                .map(|c| (c.username.clone(), c.password.clone())),
            ca_pem: settings.ca_file.as_ref().map(|ca| ca.pem.clone()),
            insecure_skip_verify: settings.insecure_skip_verify,
        }),
        from: settings.from.clone(),
        to: settings.to.clone(),
        subject_prefix: settings.subject_prefix.clone(),
    })
}

impl Notifier for Email {
    fn name(&self) -> &str {
        &self.name
    }

    fn min_interval(&self) -> Duration {
        MIN_INTERVAL
    }

    fn request(&self, notification: &Notification, now: DateTime<Utc>) -> Outgoing {
        let mail = mail(
            notification,
            &self.name,
            self.subject_prefix.as_deref(),
            self.from.email.domain(),
        );
        match self.message(&mail, now) {
            Ok(message) => Outgoing::Mail(MailRequest {
                server: self.server.clone(),
                envelope: message.envelope().clone(),
                message: message.formatted(),
            }),
            // Not reached: `from` and `to` are checked when the config loads.
            Err(err) => Outgoing::Log(format!(
                "email channel {}: the message cannot be built: {err}",
                self.name
            )),
        }
    }
}

impl Email {
    /// The MIME message for `mail`, dated `now`.
    fn message(&self, mail: &Mail, now: DateTime<Utc>) -> Result<Message, lettre::error::Error> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .date(now.into())
            .message_id(Some(mail.message_id.clone()))
            // RFC 3834: vacation responders and the like do not answer it.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        if let Some(first) = &mail.in_reply_to {
            builder = builder
                .in_reply_to(first.clone())
                .references(first.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
    }
}

/// What one notification says by mail, before MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// One line, without control characters.
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<…@domain>`: the incident's own for its `triggered`, the notification's otherwise.
    pub message_id: String,
    /// The `triggered` message's id, which every later message of its incident answers.
    pub in_reply_to: Option<String>,
}

/// The mail for `notification`; `channel` names the channel in test messages, `domain` (the
/// sender's) ends the message ids. Pure.
pub fn mail(n: &Notification, channel: &str, prefix: Option<&str>, domain: &str) -> Mail {
    let domain = if !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        domain
    } else {
        "wsprobe.invalid"
    };
    let own = format!("<wsprobe.{}@{domain}>", id_part(&n.delivery_id));
    let (message_id, in_reply_to) = match &n.incident {
        Some(incident) if n.event == EventName::Triggered => (thread_id(incident, domain), None),
        Some(incident) => (own, Some(thread_id(incident, domain))),
        // A burn's resolve answers its start.
        None => match &n.slo_burn {
            Some(burn) if n.event == EventName::SloBurn => (burn_thread_id(burn, domain), None),
            Some(burn) => (own, Some(burn_thread_id(burn, domain))),
            None => (own, None),
        },
    };
    Mail {
        subject: subject(n, prefix),
        text: text(n, channel),
        html: html_body(n, channel).into_string(),
        message_id,
        in_reply_to,
    }
}

/// `[FIRING] staging is down: closed_before_ready`, after the channel's prefix.
pub fn subject(n: &Notification, prefix: Option<&str>) -> String {
    let state = match n.event {
        EventName::Test => "TEST",
        EventName::Resolved | EventName::SloBurnResolved => "RESOLVED",
        EventName::Acknowledged => "ACKNOWLEDGED",
        EventName::Note => "UPDATE",
        _ => "FIRING",
    };
    let subject = match prefix {
        Some(prefix) => format!("{prefix} [{state}] {}", n.headline()),
        None => format!("[{state}] {}", n.headline()),
    };
    truncate(&one_line(&subject), SUBJECT_MAX)
}

/// The plain-text part: headline, diagnosis, facts and phases, link, footer.
pub fn text(n: &Notification, channel: &str) -> String {
    let mut blocks = vec![facts::title(n)];
    if n.event == EventName::Test {
        blocks.push(facts::test_line(channel));
    }
    if let Some(note) = &n.note {
        blocks.push(facts::note_text(note));
    }
    if let Some(burn) = &n.slo_burn {
        blocks.push(facts::burn_lines(burn).join("\n"));
    }
    if let Some(result) = &n.result {
        blocks.push(truncate(&facts::diagnosis(n, result), DIAGNOSIS_MAX));
        let mut lines: Vec<String> = facts::facts(n, result)
            .into_iter()
            .map(|fact| format!("{}: {}", fact.label, truncate(&fact.value, FACT_MAX)))
            .collect();
        lines.extend(facts::phases(result).map(|phases| format!("Phases: {phases}")));
        blocks.push(lines.join("\n"));
    }
    if let Some(ack) = &n.acknowledgement {
        blocks.push(facts::acknowledgement_lines(ack).join("\n"));
    }
    if let Some(link) = &n.link {
        blocks.push(format!("{}: {link}", facts::link_text(n)));
    }
    blocks.push(facts::footer(n));
    blocks.join("\n\n") + "\n"
}

/// The HTML part: the same facts, every value escaped (maud escapes what it is given).
fn html_body(n: &Notification, channel: &str) -> Markup {
    let colour = match Tone::of(n) {
        Tone::Test => "#57606a",
        Tone::Note => "#0969da",
        Tone::Resolved => "#1a7f37",
        Tone::Acknowledged => "#0969da",
        Tone::Degraded => "#9a6700",
        Tone::Down => "#cf222e",
    };
    let facts = n.result.as_ref().map(|r| facts::facts(n, r));
    html! {
        (DOCTYPE)
        html {
            head { meta charset="utf-8"; title { (subject(n, None)) } }
            body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.4;" {
                h2 style={ "margin: 0 0 12px; color: " (colour) ";" } { (facts::title(n)) }
                @if n.event == EventName::Test { p { (facts::test_line(channel)) } }
                @if let Some(note) = &n.note {
                    p style="white-space: pre-line;" { (facts::note_text(note)) }
                }
                @if let Some(burn) = &n.slo_burn {
                    p style="white-space: pre-line;" { (facts::burn_lines(burn).join("\n")) }
                }
                @if let Some(result) = &n.result {
                    p { (truncate(&facts::diagnosis(n, result), DIAGNOSIS_MAX)) }
                }
                @if let Some(facts) = facts {
                    table style="border-collapse: collapse; margin: 12px 0;" {
                        @for fact in facts {
                            tr {
                                th style="text-align: left; vertical-align: top; padding: 2px 16px 2px 0; white-space: nowrap;" { (fact.label) }
                                td style="padding: 2px 0;" {
                                    @if fact.label == "Verdict" { code { (fact.value) } }
                                    @else { (truncate(&fact.value, FACT_MAX)) }
                                }
                            }
                        }
                    }
                }
                @if let Some(phases) = n.result.as_ref().and_then(facts::phases) {
                    p { b { "Phases" } " " (phases) }
                }
                @if let Some(ack) = &n.acknowledgement {
                    @for line in facts::acknowledgement_lines(ack) { p { (line) } }
                }
                @if let Some(link) = &n.link { p { a href=(link) { (facts::link_text(n)) } } }
                p style="color: #57606a; font-size: 12px;" { (facts::footer(n)) }
            }
        }
    }
}

/// The id of an incident's first message: its number and start make it unique even where
/// numbering starts again (a new database).
fn thread_id(incident: &IncidentInfo, domain: &str) -> String {
    format!(
        "<wsprobe.incident.{}.{}@{domain}>",
        incident.id,
        incident.started_at.timestamp_millis()
    )
}

fn burn_thread_id(burn: &crate::alert::burn::SloBurnInfo, domain: &str) -> String {
    format!(
        "<wsprobe.slo-burn.{}.{}@{domain}>",
        burn.id,
        burn.started_at.timestamp_millis()
    )
}

/// What of `text` an RFC 5322 message id's left part may hold (letters, digits, `-`, `.`).
fn id_part(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    if kept.is_empty() { "x".into() } else { kept }
}

/// Control characters (CR and LF above all: they would end the header) as spaces, and runs
/// of white space as one.
fn one_line(text: &str) -> String {
    let spaced: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    #[test]
    fn triggered_text_part_is_exact() {
        let expected = "🔴 staging is down: closed_before_ready\n\n\
            Closed 1011 \"Internal error\" 63 ms after the upgrade.\n\n\
            Environment: staging\n\
            Status: down\n\
            Verdict: closed_before_ready\n\
            Close: 1011 Internal <error> & co\n\
            HTTP status: 101\n\
            Build: rev-4812\n\
            At: 2026-11-22T22:50:00.123Z\n\
            Phases: dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms\n\n\
            Open staging on the status page: https://status.example.com/environments/staging\n\n\
            wsprobe · incident #7\n";
        assert_eq!(text(&sample(EventName::Triggered), "mail"), expected);
    }

    #[test]
    fn test_text_part_is_exact() {
        let expected = "🧪 Test notification from wsprobe: this channel is wired correctly, no action needed\n\n\
            This is a test sent by `wsprobe alert test` to channel mail: no action needed.\n\n\
            wsprobe\n";
        assert_eq!(text(&Notification::test(None), "mail"), expected);
    }

    #[test]
    fn a_note_is_an_update_threaded_under_its_incident_and_escaped() {
        let n = crate::alert::notification::tests::sample_note();
        assert_eq!(subject(&n, None), "[UPDATE] staging incident #7: identified");
        assert_eq!(
            text(&n, "mail"),
            "📝 staging incident #7: identified\n\n\
             Identified: The <b>database</b> failed over & @here the pool is reconnecting.\n— ana\n\n\
             Open staging on the status page: https://status.example.com/environments/staging\n\n\
             wsprobe · incident #7\n"
        );
        let html = html_body(&n, "mail").into_string();
        assert!(
            html.contains("The &lt;b&gt;database&lt;/b&gt; failed over &amp; @here"),
            "{html}"
        );
        let threaded = mail(&n, "mail", None, "example.com");
        let first = mail(&sample(EventName::Triggered), "mail", None, "example.com");
        assert_eq!(threaded.in_reply_to.as_deref(), Some(first.message_id.as_str()));
    }

    #[test]
    fn subjects_say_the_state_and_the_headline() {
        let cases = [
            (
                sample(EventName::Triggered),
                None,
                "[FIRING] staging is down: closed_before_ready",
            ),
            (
                sample(EventName::Reminder),
                Some("[wsprobe]"),
                "[wsprobe] [FIRING] staging is still down since 2026-11-22 22:45 UTC: closed_before_ready",
            ),
            (
                sample(EventName::Resolved),
                None,
                "[RESOLVED] staging recovered after 22m 30s (was closed_before_ready)",
            ),
            (
                sample(EventName::Acknowledged),
                None,
                "[ACKNOWLEDGED] staging: alice acknowledged incident #7 (closed_before_ready)",
            ),
            (
                Notification::test(None),
                None,
                "[TEST] Test notification from wsprobe: this channel is wired correctly, no action needed",
            ),
        ];
        for (n, prefix, expected) in cases {
            assert_eq!(subject(&n, prefix), expected);
        }
    }

    #[test]
    fn no_line_break_reaches_the_subject() {
        let mut n = sample(EventName::Triggered);
        n.environment = Some("staging\r\nBcc: victim@example.com\r\n\r\nbody".into());
        let line = subject(&n, None);
        assert!(!line.contains(['\r', '\n']), "{line:?}");
        assert_eq!(
            line,
            "[FIRING] staging Bcc: victim@example.com body is down: closed_before_ready"
        );
        n.environment = Some("x".repeat(5000));
        assert_eq!(subject(&n, None).chars().count(), SUBJECT_MAX);
    }

    #[test]
    fn server_text_is_escaped_in_the_html_part() {
        let mut n = sample(EventName::Triggered);
        let result = n.result.as_mut().unwrap();
        result.close_reason = Some("<script>alert(1)</script>".into());
        result.version = Some("\"><img src=x onerror=alert(1)>".into());
        result.diagnosis = "<a href=\"https://evil\">click</a>".into();
        let html = mail(&n, "mail", None, "example.com").html;
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<a href=\"https://evil\""), "{html}");
        assert!(
            html.contains("1011 &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://status.example.com/environments/staging\">Open staging on the status page</a>"
            ),
            "{html}"
        );
        assert!(html.contains("<th style="), "a table of the facts: {html}");
        assert!(html.contains("<code>closed_before_ready</code>"), "{html}");
    }

    #[test]
    fn long_evidence_is_cut() {
        let mut n = sample(EventName::Triggered);
        let result = n.result.as_mut().unwrap();
        result.diagnosis = "d".repeat(100_000);
        result.close_reason = Some("r".repeat(100_000));
        let mail = mail(&n, "mail", None, "example.com");
        assert!(mail.text.len() < 4000, "{}", mail.text.len());
        assert!(mail.html.len() < 8000, "{}", mail.html.len());
        assert!(mail.text.contains(&format!("{}…", "d".repeat(DIAGNOSIS_MAX - 1))));
    }

    #[test]
    fn every_message_of_an_incident_answers_its_first() {
        let trigger = mail(&sample(EventName::Triggered), "mail", None, "example.com");
        let first = "<wsprobe.incident.7.1795387500000@example.com>";
        assert_eq!(trigger.message_id, first);
        assert_eq!(trigger.in_reply_to, None);
        for event in [EventName::Reminder, EventName::VerdictChanged, EventName::Resolved] {
            let later = mail(&sample(event), "mail", None, "example.com");
            assert_eq!(
                later.message_id,
                "<wsprobe.3f0c1c8e-6a51-4c39-9d8e-2f7f4b0c9a11@example.com>"
            );
            assert_eq!(later.in_reply_to.as_deref(), Some(first), "{event}");
        }
        let mut test = Notification::test(None);
        test.delivery_id = "a b<c>@d".into();
        let test = mail(&test, "mail", None, "bücher.example");
        assert_eq!(test.message_id, "<wsprobe.abcd@wsprobe.invalid>");
        assert_eq!(test.in_reply_to, None);
    }
}
