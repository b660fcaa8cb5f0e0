//! `GET /feed.atom`: incidents as an Atom feed (RFC 4287), one entry per event: opened, each
//! verdict change (as notified), each note, resolved. For feed readers and chat integrations
//! that follow feeds, the way status pages publish their incident history.
//!
//! Two feeds share one writer ([`write`], over [`Entry`] values): on-call's, from the store's
//! incidents with their verdicts and diagnoses ([`on_call`]), and the public page's, from the
//! public view model alone ([`public`]), which has nothing a probed server said to put in it.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::public::{PublicIncident, PublicStatus};
use crate::alert::notification::EventName;
use crate::store::{IncidentRecord, IncidentState, NoteRecord};

/// One event of one incident, as an entry says it.
struct Entry {
    incident: i64,
    /// `opened`, `verdict_changed`, `note` or `resolved`: the category, and part of the id.
    kind: &'static str,
    /// What makes the id unique within the incident: the time, or the note's id.
    key: String,
    at: DateTime<Utc>,
    title: String,
    /// Plain text (`type="text"`): diagnoses come from what a probed server sent, notes from
    /// a person; escaped, never markup.
    summary: String,
    link: String,
}

/// A feed's own lines.
struct Head<'a> {
    /// `incidents` or `public`: unique per feed of one installation.
    id: &'a str,
    title: String,
    home: String,
    self_link: String,
    instance: &'a str,
}

/// On-call's feed: every event of `incidents` (newest incidents first, as the store gives
/// them) with the verdict and the diagnosis. `base` is `server.public_url` (links are absolute
/// with it, relative without); `instance` makes the ids unique to this installation.
pub fn on_call(incidents: &[IncidentRecord], base: Option<&url::Url>, instance: &str) -> String {
    let link = |path: &str| match base {
        Some(base) => base
            .join(path.trim_start_matches('/'))
            .map_or_else(|_| path.to_owned(), |u| u.to_string()),
        None => path.to_owned(),
    };
    let entries = incidents
        .iter()
        .flat_map(|incident| {
            let page = link(&format!("/environments/{}", incident.environment));
            on_call_entries(incident, page)
        })
        .collect();
    let head = Head {
        id: "incidents",
        title: "wsprobe incidents".into(),
        home: link("/"),
        self_link: link("/feed.atom"),
        instance,
    };
    write(&head, entries)
}

/// One incident's events, each linking to `page`.
fn on_call_entries(incident: &IncidentRecord, page: String) -> Vec<Entry> {
    let (env, verdict) = (&incident.environment, incident.verdict.as_str());
    let about = format!(
        "Incident {} ({verdict}), started {}. {}",
        incident.id,
        time(incident.started_at),
        incident.diagnosis
    );
    let event = |kind, at: DateTime<Utc>, title, summary| Entry {
        incident: incident.id,
        kind,
        key: at.timestamp_millis().to_string(),
        at,
        title,
        summary,
        link: page.clone(),
    };
    let mut entries = vec![event(
        "opened",
        incident.opened_at,
        format!("{env} is down: {verdict}"),
        about.clone(),
    )];
    let mut changes: Vec<DateTime<Utc>> = incident
        .notifications
        .iter()
        .filter(|n| EventName::parse(&n.event) == Some(EventName::VerdictChanged))
        .map(|n| n.created_at)
        .collect();
    // One notification a channel: one entry a change.
    changes.dedup();
    for at in changes {
        let title = format!("{env} is still down, now {verdict}");
        entries.push(event("verdict_changed", at, title, about.clone()));
    }
    for note in &incident.notes {
        let title = format!("{env} incident #{}: {}", incident.id, note.heading());
        entries.push(Entry {
            key: note.id.to_string(),
            ..event("note", note.created_at, title, on_call_note(note))
        });
    }
    if let (IncidentState::Resolved, Some(at)) = (incident.state, incident.resolved_at) {
        entries.push(event("resolved", at, format!("{env} recovered"), about));
    }
    entries
}

/// `Identified: <message> — <author>`.
fn on_call_note(note: &NoteRecord) -> String {
    match &note.author {
        Some(author) => format!("{}: {} — {author}", note.heading(), note.message),
        None => format!("{}: {}", note.heading(), note.message),
    }
}

/// The public page's feed: its incidents' start, notes and end, from the public view model.
/// Links are relative to the feed, so it works under any prefix a proxy puts in front.
pub fn public(status: &PublicStatus, instance: &str) -> String {
    let mut entries = Vec::new();
    for incident in &status.incidents {
        entries.extend(public_entries(incident));
    }
    let head = Head {
        id: "public",
        title: format!("{}: incidents", status.title),
        home: "./".into(),
        self_link: "feed.atom".into(),
        instance,
    };
    write(&head, entries)
}

fn public_entries(incident: &PublicIncident) -> Vec<Entry> {
    let env = &incident.environment;
    let started = format!(
        "Incident {} on {env}, started {}.",
        incident.id,
        time(incident.started_at)
    );
    let event = |kind, key: String, at, title, summary| Entry {
        incident: incident.id,
        kind,
        key,
        at,
        title,
        summary,
        link: format!("./#incident-{}", incident.id),
    };
    let ms = |at: DateTime<Utc>| at.timestamp_millis().to_string();
    let at = incident.started_at;
    let mut entries = vec![event(
        "opened",
        ms(at),
        at,
        format!("{env}: incident opened"),
        started.clone(),
    )];
    for (i, note) in incident.notes.iter().enumerate() {
        // Newest first in the model: the n-th note written is the (len - i)-th.
        let key = (incident.notes.len() - i).to_string();
        let title = format!("{env}: {}", note.heading());
        let summary = format!("{}: {}", note.heading(), note.message);
        entries.push(event("note", key, note.created_at, title, summary));
    }
    if let Some(at) = incident.resolved_at {
        entries.push(event(
            "resolved",
            ms(at),
            at,
            format!("{env} recovered"),
            started,
        ));
    }
    entries
}

/// The feed document, entries newest first.
fn write(head: &Head<'_>, mut entries: Vec<Entry>) -> String {
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.at));
    let instance = escape(head.instance);
    let updated = entries.first().map_or_else(Utc::now, |e| e.at);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(xml, "  <id>urn:wsprobe:{instance}:{}</id>", head.id);
    let _ = writeln!(xml, "  <title>{}</title>", escape(&head.title));
    let _ = writeln!(xml, "  <updated>{}</updated>", time(updated));
    xml.push_str("  <author><name>wsprobe</name></author>\n");
    let _ = writeln!(
        xml,
        "  <link rel=\"alternate\" href=\"{}\"/>",
        escape(&head.home)
    );
    let _ = writeln!(
        xml,
        "  <link rel=\"self\" href=\"{}\"/>",
        escape(&head.self_link)
    );
    for entry in &entries {
        xml.push_str("  <entry>\n");
        let _ = writeln!(
            xml,
            "    <id>urn:wsprobe:{instance}:{}incident:{}:{}:{}</id>",
            if head.id == "public" { "public:" } else { "" },
            entry.incident,
            entry.kind,
            entry.key
        );
        let _ = writeln!(xml, "    <title>{}</title>", escape(&entry.title));
        let _ = writeln!(xml, "    <updated>{}</updated>", time(entry.at));
        let _ = writeln!(
            xml,
            "    <link rel=\"alternate\" href=\"{}\"/>",
            escape(&entry.link)
        );
        let _ = writeln!(xml, "    <category term=\"{}\"/>", entry.kind);
        let _ = writeln!(
            xml,
            "    <summary type=\"text\">{}</summary>",
            escape(&entry.summary)
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
