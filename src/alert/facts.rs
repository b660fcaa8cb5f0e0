//! What every chat-style channel says about a notification, as plain text: the diagnosis
//! (a resolve says first how long the incident lasted), the result's facts, the phases. Each
//! kind adds its own markup and escapes the server-derived parts for its format; Slack's
//! message is the model (`channels/slack.rs`).

use super::notification::{EventName, Notification, ResultSummary};
use crate::probe::Status;
use crate::slo::burn::Speed;
use crate::store::NoteRecord;
use crate::text::{duration_words, ms};

/// How a notification looks at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Test,
    /// A written update: news, not an alarm.
    Note,
    Resolved,
    /// Someone holds the incident: news, not an alarm.
    Acknowledged,
    Degraded,
    Down,
}

impl Tone {
    pub fn of(n: &Notification) -> Tone {
        match (n.event, n.result.as_ref().map(|r| r.status)) {
            (EventName::Test, _) => Tone::Test,
            (EventName::Note, _) => Tone::Note,
            (EventName::Resolved, _) => Tone::Resolved,
            (EventName::Acknowledged, _) => Tone::Acknowledged,
            (EventName::SloBurnResolved, _) => Tone::Resolved,
            // A slow burn is a ticket, not a page: the colour of a warning.
            (EventName::SloBurn, _)
                if n.slo_burn.as_ref().is_some_and(|b| b.speed == Speed::Slow) =>
            {
                Tone::Degraded
            }
            (_, Some(Status::Degraded)) => Tone::Degraded,
            _ => Tone::Down,
        }
    }

    /// The emoji Slack's header leads with.
    pub fn icon(self) -> &'static str {
        match self {
            Tone::Test => "🧪",
            Tone::Note => "📝",
            Tone::Resolved => "✅",
            Tone::Acknowledged => "👀",
            Tone::Degraded => "🟠",
            Tone::Down => "🔴",
        }
    }
}

/// The headline with its icon: `🔴 staging is down: closed_before_ready`.
/// `&`, `<` and `>` as entities: the HTML subsets and mrkdwn of chat services read them as
/// markup, and a probed server's text must never become a link, a mention or a tag.
pub fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn title(n: &Notification) -> String {
    format!("{} {}", Tone::of(n).icon(), n.headline())
}

/// The line a test notification adds, naming the channel.
pub fn test_line(channel: &str) -> String {
    format!("This is a test sent by `wsprobe alert test` to channel {channel}: no action needed.")
}

/// A note as posted: `Identified: <message>`, then `— <author>` when it names one. Plain
/// text: each kind escapes it for its format like a server's text (whoever wrote it, it must
/// not mention a channel or become a link).
pub fn note_text(note: &NoteRecord) -> String {
    let mut text = format!("{}: {}", note.heading(), note.message);
    if let Some(author) = &note.author {
        text.push_str(&format!("\n— {author}"));
    }
    text
}

/// The diagnosis; a resolve says first how long the incident lasted.
pub fn diagnosis(n: &Notification, result: &ResultSummary) -> String {
    match (n.event, &n.incident) {
        (EventName::Resolved, Some(incident)) => format!(
            "Failing from {} to {} ({}). {}",
            crate::wire::format(incident.started_at),
            incident
                .resolved_at
                .map_or_else(|| "now".into(), crate::wire::format),
            duration_words(incident.duration_s.unwrap_or_default()),
            result.diagnosis
        ),
        _ => result.diagnosis.clone(),
    }
}

/// One fact of a result: its label and its plain value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
    /// Whether the value came from the probed server (its close reason, its build): the part
    /// a format must escape.
    pub from_server: bool,
}

/// The result's facts, in Slack's order: environment, status, verdict, close code and reason,
/// HTTP status, build, time.
pub fn facts(n: &Notification, result: &ResultSummary) -> Vec<Fact> {
    let fact = |label, value: String, from_server| Fact {
        label,
        value,
        from_server,
    };
    let environment = match &n.group {
        Some(group) if group.environments.len() > 1 => fact(
            "Environments",
            group
                .environments
                .iter()
                .map(|m| format!("{} ({}, {})", m.environment, m.verdict, m.state))
                .collect::<Vec<_>>()
                .join(", "),
            false,
        ),
        _ => fact("Environment", n.subject().to_owned(), false),
    };
    let mut facts = vec![
        environment,
        fact("Status", result.status.as_str().to_owned(), false),
        fact("Verdict", result.verdict.to_string(), false),
    ];
    if let Some(code) = result.close_code {
        let reason = result
            .close_reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        facts.push(fact("Close", format!("{code}{reason}"), true));
    }
    if let Some(status) = result.http_status {
        facts.push(fact("HTTP status", status.to_string(), false));
    }
    if let Some(version) = &result.version {
        facts.push(fact("Build", version.clone(), true));
    }
    facts.push(fact("At", crate::wire::format(result.started_at), false));
    facts
}

/// `dns 0.4 ms · connect 1.1 ms · …`, the phases the probe reached.
pub fn phases(result: &ResultSummary) -> Option<String> {
    let phases: Vec<String> = result
        .phases_ms
        .named()
        .into_iter()
        .filter(|(_, value)| value.is_some())
        .map(|(name, value)| format!("{name} {}", ms(value)))
        .collect();
    (!phases.is_empty()).then(|| phases.join(" · "))
}

/// `Open staging on the status page`: the link's text.
pub fn link_text(n: &Notification) -> String {
    format!("Open {} on the status page", n.subject())
}

/// `wsprobe · incident #7`, or `wsprobe`.
pub fn footer(n: &Notification) -> String {
    match &n.incident {
        Some(incident) => format!("wsprobe · incident #{}", incident.id),
        None => "wsprobe".to_owned(),
    }
}

/// The plain-text body every text channel shares: title, diagnosis, facts, phases, link, one
/// per line. No markup, nothing escaped.
pub fn plain_lines(n: &Notification, channel: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if n.event == EventName::Test {
        lines.push(test_line(channel));
    }
    if let Some(note) = &n.note {
        lines.push(note_text(note));
    }
    if let Some(result) = &n.result {
        lines.push(diagnosis(n, result));
        for fact in facts(n, result) {
            lines.push(format!("{}: {}", fact.label, fact.value));
        }
        if let Some(phases) = phases(result) {
            lines.push(format!("Phases: {phases}"));
        }
    }
    if let Some(ack) = &n.acknowledgement {
        lines.extend(acknowledgement_lines(ack));
    }
    if let Some(burn) = &n.slo_burn {
        lines.extend(burn_lines(burn));
    }
    if let Some(incident) = &n.incident {
        lines.push(format!("Incident #{}", incident.id));
    }
    lines
}

/// An SLO burn's figures, plain: severity, both windows' rates, the budget left.
pub fn burn_lines(burn: &crate::alert::burn::SloBurnInfo) -> Vec<String> {
    let rate = |r: Option<f64>| r.map_or_else(|| "not measured".to_owned(), |r| format!("{r:.1}×"));
    let mut lines = vec![
        burn.summary.clone(),
        format!("Severity: {} ({})", burn.severity, burn.action),
        format!(
            "Burn rate: {} over {}, {} over {} (alert at {}×)",
            rate(burn.long_burn_rate),
            burn.long_window,
            rate(burn.short_burn_rate),
            burn.short_window,
            burn.threshold
        ),
    ];
    if let Some(left) = burn.budget_remaining {
        lines.push(format!(
            "Error budget left: {:.1}% of {}",
            left * 100.0,
            burn.window
        ));
    }
    lines.push(format!(
        "Burning since {}",
        crate::wire::format(burn.started_at)
    ));
    lines
}

/// `Acknowledged by alice at …` and what they said, plain.
pub fn acknowledgement_lines(ack: &crate::oncall::Acknowledgement) -> Vec<String> {
    let mut lines = vec![format!(
        "Acknowledged by {} at {}",
        ack.by,
        crate::wire::format(ack.at)
    )];
    if let Some(comment) = &ack.comment {
        lines.push(format!("Comment: {comment}"));
    }
    lines
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alert::notification::tests::sample;

    /// The sample triggered notification's facts as plain lines, as the text channels write them.
    pub(crate) const TRIGGERED_LINES: &str = "Environment: staging\n\
        Status: down\n\
        Verdict: closed_before_ready\n\
        Close: 1011 Internal <error> & co\n\
        HTTP status: 101\n\
        Build: rev-4812\n\
        At: 2026-11-22T22:50:00.123Z\n\
        Phases: dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms\n\
        Incident #7";

    #[test]
    fn facts_are_slack_s_fields_in_plain_text() {
        let n = sample(EventName::Triggered);
        let facts: Vec<(&str, String)> = facts(&n, n.result.as_ref().unwrap())
            .into_iter()
            .map(|f| (f.label, f.value))
            .collect();
        let expected = [
            ("Environment", "staging"),
            ("Status", "down"),
            ("Verdict", "closed_before_ready"),
            ("Close", "1011 Internal <error> & co"),
            ("HTTP status", "101"),
            ("Build", "rev-4812"),
            ("At", "2026-11-22T22:50:00.123Z"),
        ];
        let expected: Vec<(&str, String)> = expected
            .iter()
            .map(|(l, v)| (*l, (*v).to_owned()))
            .collect();
        assert_eq!(facts, expected);
        assert_eq!(
            phases(n.result.as_ref().unwrap()).as_deref(),
            Some("dns 0.4 ms · connect 1.1 ms · upgrade 3.2 ms · total 70 ms")
        );
        assert_eq!(title(&n), "🔴 staging is down: closed_before_ready");
        assert_eq!(footer(&n), "wsprobe · incident #7");
    }

    #[test]
    fn a_note_is_its_status_message_and_author() {
        let n = crate::alert::notification::tests::sample_note();
        assert_eq!(Tone::of(&n), Tone::Note);
        assert_eq!(title(&n), "📝 staging incident #7: identified");
        assert_eq!(
            plain_lines(&n, "chat"),
            [
                "Identified: The <b>database</b> failed over & @here the pool is reconnecting.\n— ana",
                "Incident #7"
            ]
        );
    }
}
