//! The log channel: one tracing line per notification, for consoles and log pipelines.

use chrono::{DateTime, Utc};

use crate::alert::facts;
use crate::alert::notifier::{Notifier, Outgoing};
use crate::config::channels::LogSettings;
use crate::alert::notification::Notification;

pub struct Log {
    pub name: String,
}

pub fn notifier(name: &str, _: &LogSettings) -> Box<dyn Notifier> {
    Box::new(Log {
        name: name.to_owned(),
    })
}

impl Notifier for Log {
    fn name(&self) -> &str {
        &self.name
    }

    fn request(&self, notification: &Notification, _now: DateTime<Utc>) -> Outgoing {
        Outgoing::Log(line(notification))
    }
}

/// The line for `notification`: what happened, the diagnosis, the incident and the link. Pure.
pub fn line(notification: &Notification) -> String {
    let n = notification;
    let mut line = format!("alert {}: {}", n.event, n.headline());
    if let Some(result) = &n.result {
        line.push_str(" — ");
        line.push_str(&result.diagnosis);
    }
    if let Some(comment) = n.acknowledgement.as_ref().and_then(|a| a.comment.as_ref()) {
        line.push_str(" — ");
        line.push_str(&comment.replace(['\r', '\n'], " "));
    }
    if let Some(note) = &n.note {
        // One line, as a log line must be.
        line.push_str(" — ");
        line.push_str(&facts::note_text(note).replace(['\r', '\n'], " "));
    }
    if let Some(incident) = &n.incident {
        line.push_str(&format!(" (incident #{})", incident.id));
    }
    if let Some(link) = &n.link {
        line.push(' ');
        line.push_str(link);
    }
    line
}

/// Write `line` for `channel`.
pub fn emit(channel: &str, line: &str) {
    tracing::warn!(target: "wsprobe::alert", channel, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::EventName;
    use crate::alert::notification::tests::sample;

    #[test]
    fn one_line_says_it_all() {
        assert_eq!(
            line(&sample(EventName::Triggered)),
            "alert triggered: staging is down: closed_before_ready — Closed 1011 \"Internal error\" 63 ms after the upgrade. (incident #7) https://status.example.com/environments/staging"
        );
        assert_eq!(
            line(&sample(EventName::Acknowledged)),
            "alert acknowledged: staging: alice acknowledged incident #7 (closed_before_ready) — looking into it <b>now</b> (incident #7) https://status.example.com/environments/staging"
        );
        assert_eq!(
            line(&crate::alert::notification::tests::sample_note()),
            "alert note: staging incident #7: identified — Identified: The <b>database</b> failed over & @here the pool is reconnecting. — ana (incident #7) https://status.example.com/environments/staging"
        );
        assert_eq!(
            line(&Notification::test(None)),
            "alert test: Test notification from wsprobe: this channel is wired correctly, no action needed"
        );
    }
}
