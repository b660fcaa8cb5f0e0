//! Keepalives: the messages a session answers or sends on a timer while the steps run, never
//! a step themselves. Pure: the session asks what to answer and what is due, and does the I/O.

use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Message;

use super::message::Incoming;
use crate::config::{Keepalive, Matcher};

/// Heartbeats answered (or recognised) at most this many times per probe; past it they are
/// ordinary messages again, so that `max_messages` bounds a server that floods them.
pub const MAX_ANSWERED: usize = 1000;

/// A timer whose period the server's reply sets (STOMP's `CONNECTED` `heart-beat` header).
#[derive(Debug, Clone, Copy)]
pub struct Negotiation {
    /// What the client offered.
    pub offered: Duration,
    /// Reads a message with the offer: `Some(Some(period))` starts the timer, `Some(None)`
    /// turns it off, `None` means the message says nothing about it.
    pub read: fn(Incoming<'_>, Duration) -> Option<Option<Duration>>,
}

/// One keepalive, ready to run: texts filled in, built messages.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Whenever a message matches `when`, answer it with `reply` (or, without one, only
    /// recognise it as a heartbeat, never offered to the steps).
    Answer {
        when: Matcher,
        reply: Option<Message>,
    },
    /// Send `message` every `period` (none yet: until `period_from` reads one).
    Every {
        period: Option<Duration>,
        message: Message,
        period_from: Option<Negotiation>,
    },
}

/// The configured keepalives, their texts filled (`{token}`).
pub fn from_config(config: &[Keepalive], fill: &dyn Fn(&str) -> String) -> Vec<Rule> {
    config
        .iter()
        .map(|entry| match entry {
            Keepalive::Answer { when, send } => Rule::Answer {
                when: when.clone(),
                reply: send.as_deref().map(|text| Message::text(fill(text))),
            },
            Keepalive::Every { every, send } => Rule::Every {
                period: Some(*every),
                message: Message::text(fill(send)),
                period_from: None,
            },
        })
        .collect()
}

/// What keepalives did during one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Heartbeats that matched a `when` (answered or only recognised).
    pub answered: usize,
    /// Messages sent on a timer.
    pub sent: usize,
}

/// The keepalives of one session and their timers.
#[derive(Debug, Clone)]
pub struct Keepalives {
    rules: Vec<Rule>,
    /// When each `Every` rule fires next, by rule index (`None`: off, or not a timer).
    due: Vec<Option<Instant>>,
    pub counts: Counts,
}

impl Keepalives {
    /// Timers start now: the first message goes one period after the upgrade.
    pub fn new(rules: Vec<Rule>, now: Instant) -> Self {
        let due = rules
            .iter()
            .map(|rule| match rule {
                Rule::Every {
                    period: Some(period),
                    ..
                } => Some(now + *period),
                _ => None,
            })
            .collect();
        Self {
            rules,
            due,
            counts: Counts::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `message` is a heartbeat, and what answers it: `None` when it is not one (the
    /// steps see it), `Some(None)` when it is recognised without an answer. A message may
    /// also set a timer's period (`period_from`), whether or not it is a heartbeat.
    pub fn answer(&mut self, message: Incoming<'_>, now: Instant) -> Option<Option<Message>> {
        self.read_periods(message, now);
        if self.counts.answered >= MAX_ANSWERED {
            return None;
        }
        let reply = self.rules.iter().find_map(|rule| match rule {
            Rule::Answer { when, reply } if message.matches(when) => Some(reply.clone()),
            _ => None,
        })?;
        self.counts.answered += 1;
        Some(reply)
    }

    fn read_periods(&mut self, message: Incoming<'_>, now: Instant) {
        for (rule, due) in self.rules.iter_mut().zip(&mut self.due) {
            if let Rule::Every {
                period,
                period_from: Some(negotiation),
                ..
            } = rule
                && let Some(read_period) = (negotiation.read)(message, negotiation.offered)
            {
                *period = read_period;
                *due = read_period.map(|p| now + p);
            }
        }
    }

    /// The next moment a timer fires, if any runs.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.iter().flatten().min().copied()
    }

    /// The messages due at `now`, each timer moved on by its period (from now: a session
    /// busy past a tick sends once, not a burst).
    pub fn take_due(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        for (rule, due) in self.rules.iter().zip(&mut self.due) {
            if let (
                Rule::Every {
                    period: Some(period),
                    message,
                    ..
                },
                Some(at),
            ) = (rule, due.as_mut())
                && *at <= now
            {
                *at = now + *period;
                out.push(message.clone());
            }
        }
        self.counts.sent += out.len();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping_pong() -> Rule {
        Rule::Answer {
            when: Matcher::Equals("2".into()),
            reply: Some(Message::text("3")),
        }
    }

    #[test]
    fn heartbeats_are_answered_and_others_left_to_the_steps() {
        let now = Instant::now();
        let ignore_ka = Rule::Answer {
            when: Matcher::Json(vec![("/type".into(), "ka".into())]),
            reply: None,
        };
        let mut keepalives = Keepalives::new(vec![ping_pong(), ignore_ka], now);
        assert_eq!(
            keepalives.answer(Incoming::Text("2"), now),
            Some(Some(Message::text("3")))
        );
        assert_eq!(
            keepalives.answer(Incoming::Text(r#"{"type":"ka"}"#), now),
            Some(None)
        );
        assert_eq!(keepalives.answer(Incoming::Text("42[\"x\"]"), now), None);
        assert_eq!(keepalives.answer(Incoming::Binary(b"2"), now), None);
        assert_eq!(keepalives.counts.answered, 2);
        assert_eq!(keepalives.next_due(), None);
    }

    #[test]
    fn a_flood_of_heartbeats_stops_being_answered() {
        let now = Instant::now();
        let mut keepalives = Keepalives::new(vec![ping_pong()], now);
        for _ in 0..MAX_ANSWERED {
            assert!(keepalives.answer(Incoming::Text("2"), now).is_some());
        }
        assert_eq!(keepalives.answer(Incoming::Text("2"), now), None);
    }

    #[test]
    fn timers_fire_once_per_period_without_bursts() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut keepalives = Keepalives::new(
            vec![Rule::Every {
                period: Some(second),
                message: Message::text("ping"),
                period_from: None,
            }],
            start,
        );
        assert_eq!(keepalives.next_due(), Some(start + second));
        assert!(keepalives.take_due(start).is_empty());
        // Late by two and a half periods: one message, the next a whole period later.
        let late = start + second * 3 + second / 2;
        assert_eq!(keepalives.take_due(late), vec![Message::text("ping")]);
        assert_eq!(keepalives.next_due(), Some(late + second));
        assert_eq!(keepalives.counts.sent, 1);
    }

    #[test]
    fn a_reply_can_start_or_stop_a_timer() {
        fn heart_beat(message: Incoming<'_>, offered: Duration) -> Option<Option<Duration>> {
            match message {
                Incoming::Text("on") => Some(Some(offered * 2)),
                Incoming::Text("off") => Some(None),
                _ => None,
            }
        }
        let start = Instant::now();
        let mut keepalives = Keepalives::new(
            vec![Rule::Every {
                period: None,
                message: Message::text("\n"),
                period_from: Some(Negotiation {
                    offered: Duration::from_secs(1),
                    read: heart_beat,
                }),
            }],
            start,
        );
        assert_eq!(keepalives.next_due(), None);
        assert_eq!(keepalives.answer(Incoming::Text("on"), start), None);
        assert_eq!(keepalives.next_due(), Some(start + Duration::from_secs(2)));
        keepalives.answer(Incoming::Text("off"), start);
        assert_eq!(keepalives.next_due(), None);
    }
}
