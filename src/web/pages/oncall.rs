//! What on-call did, as the pages show it: the silences holding notifications (who, what they
//! match, until when, why) and an incident's acknowledgement (who, when, what they said).
//! Every string here came from someone with the admin token; maud escapes it all the same.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::{ago, when};
use crate::oncall::{Acknowledgement, Silence, SilenceState};

/// The silences given, one line each; nothing when there are none.
pub fn silences(silences: &[Silence], now: DateTime<Utc>) -> Markup {
    html! {
        @if !silences.is_empty() {
            section class="silences" {
                h2 { "Silences" span class="muted legend" { " matching results are recorded and shown, never notified" } }
                ul {
                    @for s in silences {
                        li id={ "silence-" (s.id) } {
                            b { "#" (s.id) } " " code { (s.matchers.describe()) }
                            @if s.state(now) == SilenceState::Pending { " · from " (ago(Some(s.starts_at), now)) }
                            " · until " (ago(Some(s.ended_at()), now))
                            " · by " b { (s.created_by) } " — " (s.comment)
                        }
                    }
                }
            }
        }
    }
}

/// The silences that can hold `environment`'s notices (their location and verdict matchers
/// aside: those depend on the result).
pub fn silences_of(all: &[Silence], environment: &str, now: DateTime<Utc>) -> Markup {
    let applying: Vec<Silence> = all
        .iter()
        .filter(|s| s.matchers.may_match_environment(environment))
        .cloned()
        .collect();
    silences(&applying, now)
}

/// `acknowledged by alice 2026-… UTC: looking into it`.
pub fn acknowledgement(ack: &Acknowledgement) -> Markup {
    html! {
        span class="ack" {
            "acknowledged by " b { (ack.by) } " " span class="mono" { (when(Some(ack.at))) }
            @if let Some(comment) = &ack.comment { ": " (comment) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oncall::Matchers;

    #[test]
    fn what_on_call_wrote_is_escaped() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let silence = Silence {
            id: 3,
            matchers: Matchers {
                environment: Some("chat".into()),
                verdict: Some("connect_*".into()),
                ..Matchers::default()
            },
            starts_at: at,
            ends_at: at + chrono::Duration::hours(2),
            created_by: "alice".into(),
            comment: "<script>deploy</script>".into(),
            created_at: at,
            expired_at: None,
        };
        let page = silences(&[silence], at).into_string();
        assert!(page.contains("id=\"silence-3\""), "{page}");
        assert!(
            page.contains("environment=chat verdict=connect_*"),
            "{page}"
        );
        assert!(page.contains("&lt;script&gt;deploy"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(silences(&[], at).into_string().is_empty());
        let ack = Acknowledgement {
            by: "bob".into(),
            at,
            comment: Some("<b>on it</b>".into()),
        };
        let shown = acknowledgement(&ack).into_string();
        assert!(shown.contains("acknowledged by <b>bob</b>"), "{shown}");
        assert!(shown.contains("&lt;b&gt;on it"), "{shown}");
    }
}
