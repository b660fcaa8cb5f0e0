//! `GET /feed.atom`: incidents as an Atom feed (RFC 4287), one entry per event: opened, each
//! verdict change (as notified), resolved. For feed readers and chat integrations that follow
//! feeds, the way status pages publish their incident history.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alert::notification::EventName;
use crate::store::{IncidentRecord, IncidentState};

/// One event of one incident.
struct FeedEvent<'a> {
    incident: &'a IncidentRecord,
    kind: EventKind,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EventKind {
    Opened,
    VerdictChanged,
    Resolved,
}

impl EventKind {
    /// As the entry's id and category spell it.
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::VerdictChanged => "verdict_changed",
            EventKind::Resolved => "resolved",
        }
    }
}

/// The feed for `incidents` (newest incidents first, as the store gives them). `base` is
/// `server.public_url` (links are absolute with it, relative without); `instance` makes the
/// ids unique to this installation.
pub fn render(incidents: &[IncidentRecord], base: Option<&url::Url>, instance: &str) -> String {
    let mut entries: Vec<FeedEvent> = Vec::new();
    for incident in incidents {
        entries.push(FeedEvent {
            incident,
            kind: EventKind::Opened,
            at: incident.opened_at,
        });
        let mut changes: Vec<DateTime<Utc>> = incident
            .notifications
            .iter()
            .filter(|n| EventName::parse(&n.event) == Some(EventName::VerdictChanged))
            .map(|n| n.created_at)
            .collect();
        // One notification a channel: one entry a change.
        changes.dedup();
        entries.extend(changes.into_iter().map(|at| FeedEvent {
            incident,
            kind: EventKind::VerdictChanged,
            at,
        }));
        if let (IncidentState::Resolved, Some(at)) = (incident.state, incident.resolved_at) {
            entries.push(FeedEvent {
                incident,
                kind: EventKind::Resolved,
                at,
            });
        }
    }
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.at));
    let link = |path: &str| match base {
        Some(base) => base
            .join(path.trim_start_matches('/'))
            .map_or_else(|_| path.to_owned(), |u| u.to_string()),
        None => path.to_owned(),
    };
    let updated = entries.first().map_or_else(Utc::now, |e| e.at);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(xml, "  <id>urn:wsprobe:{}:incidents</id>", escape(instance));
    xml.push_str("  <title>wsprobe incidents</title>\n");
    let _ = writeln!(xml, "  <updated>{}</updated>", time(updated));
    xml.push_str("  <author><name>wsprobe</name></author>\n");
    let _ = writeln!(
        xml,
        "  <link rel=\"alternate\" href=\"{}\"/>",
        escape(&link("/"))
    );
    let _ = writeln!(
        xml,
        "  <link rel=\"self\" href=\"{}\"/>",
        escape(&link("/feed.atom"))
    );
    for entry in &entries {
        let incident = entry.incident;
        let title = match entry.kind {
            EventKind::Opened => format!(
                "{} is down: {}",
                incident.environment,
                incident.verdict.as_str()
            ),
            EventKind::VerdictChanged => format!(
                "{} is still down, now {}",
                incident.environment,
                incident.verdict.as_str()
            ),
            EventKind::Resolved => format!("{} recovered", incident.environment),
        };
        let page = link(&format!("/environments/{}", incident.environment));
        xml.push_str("  <entry>\n");
        let _ = writeln!(
            xml,
            "    <id>urn:wsprobe:{}:incident:{}:{}:{}</id>",
            escape(instance),
            incident.id,
            entry.kind.as_str(),
            entry.at.timestamp_millis()
        );
        let _ = writeln!(xml, "    <title>{}</title>", escape(&title));
        let _ = writeln!(xml, "    <updated>{}</updated>", time(entry.at));
        let _ = writeln!(
            xml,
            "    <link rel=\"alternate\" href=\"{}\"/>",
            escape(&page)
        );
        let _ = writeln!(
            xml,
            "    <category term=\"{}\"/>",
            escape(entry.kind.as_str())
        );
        // The diagnosis came from what a probed server sent: text, escaped, never markup.
        let _ = writeln!(
            xml,
            "    <summary type=\"text\">Incident {} ({}), started {}. {}</summary>",
            incident.id,
            incident.verdict.as_str(),
            time(incident.started_at),
            escape(&incident.diagnosis)
        );
        xml.push_str("  </entry>\n");
    }
    xml.push_str("</feed>\n");
    xml
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// XML text and attribute escaping; characters XML 1.0 cannot carry are dropped.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_markup_and_control_bytes_out() {
        assert_eq!(
            escape("<script>\"a\" & 'b'\u{1}</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &apos;b&apos;&lt;/script&gt;"
        );
    }
}
