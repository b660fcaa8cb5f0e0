//! `GET /feed.atom`: incidents as an Atom feed (RFC 4287), one entry per event: opened, each
//! verdict change (as notified), each note, resolved. For feed readers and chat integrations
//! that follow feeds, the way status pages publish their incident history. The public page
//! has a feed of its own (`{public}/feed.atom`): the same events for outside readers, without
//! verdicts and diagnoses (what a probed server said).

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::alert::notification::EventName;
use crate::store::{IncidentRecord, IncidentState, NoteRecord};

/// Who reads the feed, and so what its entries say and link to.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// On-call: verdicts and diagnoses, links to the environment pages (absolute with
    /// `server.public_url`, relative without).
    OnCall { base: Option<&'a url::Url> },
    /// The public page's readers: no verdict, no diagnosis, no author; links to the incident
    /// on the public page, relative to the feed (so any prefix a proxy puts in front holds).
    Public { title: &'a str },
}

/// One event of one incident.
struct FeedEvent<'a> {
    incident: &'a IncidentRecord,
    kind: EventKind<'a>,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EventKind<'a> {
    Opened,
    VerdictChanged,
    Note(&'a NoteRecord),
    Resolved,
}

impl EventKind<'_> {
    /// As the entry's id and category spell it.
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::VerdictChanged => "verdict_changed",
            EventKind::Note(_) => "note",
            EventKind::Resolved => "resolved",
        }
    }
}

/// Every event of `incidents`, newest first; verdict changes only for on-call.
fn events(incidents: &[IncidentRecord], with_verdicts: bool) -> Vec<FeedEvent<'_>> {
    let mut entries: Vec<FeedEvent> = Vec::new();
    for incident in incidents {
        let event = |kind, at| FeedEvent { incident, kind, at };
        entries.push(event(EventKind::Opened, incident.opened_at));
        if with_verdicts {
            let mut changes: Vec<DateTime<Utc>> = incident
                .notifications
                .iter()
                .filter(|n| EventName::parse(&n.event) == Some(EventName::VerdictChanged))
                .map(|n| n.created_at)
                .collect();
            // One notification a channel: one entry a change.
            changes.dedup();
            entries.extend(
                changes
                    .into_iter()
                    .map(|at| event(EventKind::VerdictChanged, at)),
            );
        }
        for note in &incident.notes {
            entries.push(event(EventKind::Note(note), note.created_at));
        }
        if let (IncidentState::Resolved, Some(at)) = (incident.state, incident.resolved_at) {
            entries.push(event(EventKind::Resolved, at));
        }
    }
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.at));
    entries
}

/// The feed for `incidents` (newest incidents first, as the store gives them), for
/// `audience`; `instance` makes the ids unique to this installation.
pub fn render(incidents: &[IncidentRecord], audience: Audience<'_>, instance: &str) -> String {
    let public = matches!(audience, Audience::Public { .. });
    let entries = events(incidents, !public);
    let link = |path: &str| match audience {
        Audience::OnCall { base: Some(base) } => base
            .join(path.trim_start_matches('/'))
            .map_or_else(|_| path.to_owned(), |u| u.to_string()),
        _ => path.to_owned(),
    };
    let (feed_title, home, feed_id) = match audience {
        Audience::OnCall { .. } => ("wsprobe incidents".to_owned(), link("/"), "incidents"),
        Audience::Public { title } => (format!("{title}: incidents"), "./".to_owned(), "public"),
    };
    let self_link = if public {
        "feed.atom".to_owned()
    } else {
        link("/feed.atom")
    };
    let updated = entries.first().map_or_else(Utc::now, |e| e.at);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(xml, "  <id>urn:wsprobe:{}:{feed_id}</id>", escape(instance));
    let _ = writeln!(xml, "  <title>{}</title>", escape(&feed_title));
    let _ = writeln!(xml, "  <updated>{}</updated>", time(updated));
    xml.push_str("  <author><name>wsprobe</name></author>\n");
    let _ = writeln!(xml, "  <link rel=\"alternate\" href=\"{}\"/>", escape(&home));
    let _ = writeln!(xml, "  <link rel=\"self\" href=\"{}\"/>", escape(&self_link));
    for entry in &entries {
        let page = if public {
            format!("./#incident-{}", entry.incident.id)
        } else {
            link(&format!("/environments/{}", entry.incident.environment))
        };
        entry_xml(&mut xml, entry, public, &page, instance);
    }
    xml.push_str("</feed>\n");
    xml
}

/// One `<entry>`.
fn entry_xml(xml: &mut String, entry: &FeedEvent<'_>, public: bool, page: &str, instance: &str) {
    let incident = entry.incident;
    let (title, summary) = if public {
        public_text(entry)
    } else {
        on_call_text(entry)
    };
    let id = match entry.kind {
        EventKind::Note(note) => format!("note:{}", note.id),
        kind => format!("{}:{}", kind.as_str(), entry.at.timestamp_millis()),
    };
    xml.push_str("  <entry>\n");
    let _ = writeln!(
        xml,
        "    <id>urn:wsprobe:{}:incident:{}:{id}</id>",
        escape(instance),
        incident.id,
    );
    let _ = writeln!(xml, "    <title>{}</title>", escape(&title));
    let _ = writeln!(xml, "    <updated>{}</updated>", time(entry.at));
    let _ = writeln!(xml, "    <link rel=\"alternate\" href=\"{}\"/>", escape(page));
    let _ = writeln!(xml, "    <category term=\"{}\"/>", entry.kind.as_str());
    // Diagnoses come from what a probed server sent, notes from a person: text, escaped,
    // never markup.
    let _ = writeln!(xml, "    <summary type=\"text\">{}</summary>", escape(&summary));
    xml.push_str("  </entry>\n");
}

/// On-call's title and summary: the verdict and the diagnosis.
fn on_call_text(entry: &FeedEvent<'_>) -> (String, String) {
    let incident = entry.incident;
    let (env, verdict) = (&incident.environment, incident.verdict.as_str());
    let title = match entry.kind {
        EventKind::Opened => format!("{env} is down: {verdict}"),
        EventKind::VerdictChanged => format!("{env} is still down, now {verdict}"),
        EventKind::Note(note) => format!("{env} incident #{}: {}", incident.id, note.heading()),
        EventKind::Resolved => format!("{env} recovered"),
    };
    let summary = match entry.kind {
        EventKind::Note(note) => note_summary(note, true),
        _ => format!(
            "Incident {} ({verdict}), started {}. {}",
            incident.id,
            time(incident.started_at),
            incident.diagnosis
        ),
    };
    (title, summary)
}

/// The public page's title and summary: what happened when, and the notes, nothing a probed
/// server said.
fn public_text(entry: &FeedEvent<'_>) -> (String, String) {
    let incident = entry.incident;
    let env = &incident.environment;
    let started = format!("Incident {} on {env}, started {}.", incident.id, time(incident.started_at));
    match entry.kind {
        EventKind::Note(note) => (format!("{env}: {}", note.heading()), note_summary(note, false)),
        EventKind::Resolved => (format!("{env} recovered"), started),
        EventKind::Opened | EventKind::VerdictChanged => {
            (format!("{env}: incident opened"), started)
        }
    }
}

/// `Identified: <message>`, and its author for on-call.
fn note_summary(note: &NoteRecord, with_author: bool) -> String {
    match (&note.author, with_author) {
        (Some(author), true) => format!("{}: {} — {author}", note.heading(), note.message),
        _ => format!("{}: {}", note.heading(), note.message),
    }
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
