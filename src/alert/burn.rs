//! SLO burn-rate alerts as notifications of their own ([`crate::slo::burn`] decides when).
//!
//! A burn is not an incident of its environment: the environment's status, incident and
//! reminders are untouched. It still needs a record, for the outbox to hang its notifications
//! on and for a restart (or another fleet instance taking the evaluator over) to know that it
//! already went out: an incident row under a subject of its own, `slo fast burn chat`, as a
//! fleet's quiet location has one. It opens with the `slo_burn` notifications and resolves with
//! the `slo_burn_resolved` ones, in the same transaction, straight into the outbox: to every
//! channel of the environment, held (recorded, never sent) in a maintenance window or a silence.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Alerts, EventName, Notification, environment_link};
use crate::config::{Config, Environment};
use crate::incident::Open;
use crate::probe::Verdict;
use crate::slo::burn::Speed;
use crate::store::{AlertTx, DeliveryState, NewNotification, StoreError};

/// How a burn's record is named: a space never appears in an environment's name.
const SUBJECT: &str = "slo ";

/// `slo fast burn chat`: the record's subject.
pub fn subject(speed: Speed, env: &str) -> String {
    format!("{SUBJECT}{} burn {env}", speed.as_str())
}

/// The speed and environment of a burn's record, `None` for any other subject.
pub fn parse_subject(subject: &str) -> Option<(Speed, &str)> {
    let rest = subject.strip_prefix(SUBJECT)?;
    let (speed, env) = rest.split_once(" burn ")?;
    Some((Speed::parse(speed)?, env))
}

/// The burn, as its notifications carry it (`slo_burn` in the webhook's JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloBurnInfo {
    /// The burn's record: the same in its `slo_burn` and its `slo_burn_resolved`, so that a
    /// receiver (PagerDuty's `dedup_key`, Opsgenie's `alias`) pairs them.
    pub id: i64,
    pub speed: Speed,
    /// `critical` (fast) or `warning` (slow).
    pub severity: String,
    /// `page` (fast) or `ticket` (slow).
    pub action: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub objective: f64,
    /// The SLO's window, `30d`.
    pub window: String,
    pub threshold: f64,
    pub long_window: String,
    pub short_window: String,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    pub budget_remaining: Option<f64>,
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    #[serde(default, with = "crate::wire::time_opt")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// One sentence: what burns, how fast, what is left.
    pub summary: String,
}

impl SloBurnInfo {
    fn event(&self) -> EventName {
        if self.resolved_at.is_some() {
            EventName::SloBurnResolved
        } else {
            EventName::SloBurn
        }
    }
}

impl Alerts {
    /// Record a burn that starts (its `id` is given here) and queue its `slo_burn`
    /// notifications, `held` or not, in one transaction. Returns the id.
    pub async fn start_burn(
        &self,
        config: &Arc<Config>,
        env: &Environment,
        mut burn: SloBurnInfo,
        held: bool,
    ) -> Result<i64, StoreError> {
        let id = self
            .next_incident_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        burn.id = id;
        let name = subject(burn.speed, env.name.as_str());
        let mut tx = self.store.begin_alerts(&name).await?;
        let open = Open {
            since: burn.started_at,
            opened_at: burn.started_at,
            // The record needs one; a burn is no probe outcome, as a quiet location is not.
            verdict: Verdict::ProbeError,
            last_notice_at: burn.started_at,
            announced: !held,
            acknowledged: false,
            flapping: false,
        };
        tx.insert_incident(id, &open, &burn.summary).await?;
        self.queue_burn(&mut tx, config, env, burn, held).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Resolve burn `burn.id` at `burn.resolved_at` and queue its `slo_burn_resolved`
    /// notifications in one transaction.
    pub async fn end_burn(
        &self,
        config: &Arc<Config>,
        env: &Environment,
        burn: SloBurnInfo,
        held: bool,
    ) -> Result<(), StoreError> {
        let name = subject(burn.speed, env.name.as_str());
        let at = burn.resolved_at.unwrap_or_else(Utc::now);
        let mut tx = self.store.begin_alerts(&name).await?;
        tx.resolve_incident(burn.id, at).await?;
        self.queue_burn(&mut tx, config, env, burn, held).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Close the record of a burn whose environment lost its `slo` (or left the config) at
    /// `at`, sending nothing: there is nothing left to measure it by, and no one asked.
    pub async fn drop_burn(
        &self,
        speed: Speed,
        env: &str,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_alerts(&subject(speed, env)).await?;
        tx.resolve_incident(id, at).await?;
        tx.commit().await
    }

    /// One notification per channel of `env` that has a way to say it.
    async fn queue_burn(
        &self,
        tx: &mut AlertTx,
        config: &Arc<Config>,
        env: &Environment,
        burn: SloBurnInfo,
        held: bool,
    ) -> Result<(), StoreError> {
        let at = burn.resolved_at.unwrap_or(burn.started_at);
        let id = burn.id;
        let notification = Notification {
            delivery_id: super::notification::new_delivery_id(),
            event: burn.event(),
            environment: Some(env.name.as_str().to_owned()),
            incident: None,
            result: None,
            link: environment_link(config, env.name.as_str()),
            acknowledgement: None,
            note: None,
            slo_burn: Some(burn),
            group: None,
        };
        let payload =
            serde_json::to_string(&notification).expect("a notification always encodes as JSON");
        let channels = self.channels_in_force(config);
        let state = if held {
            DeliveryState::Held
        } else {
            DeliveryState::Pending
        };
        for channel in config.channels_for(env) {
            if !channels
                .get(&channel.name)
                .is_some_and(|notifier| notifier.sends(&notification))
            {
                continue;
            }
            tx.enqueue(&NewNotification {
                incident_id: id,
                channel: &channel.name,
                kind: channel.kind.kind(),
                event: notification.event.as_str(),
                payload: &payload,
                state,
                at,
                attempts: 0,
                due_at: at,
                last_error: None,
                finished_at: None,
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::channels::{
        discord, email, google_chat, log, mattermost, ntfy, opsgenie, pagerduty, slack, teams,
        telegram, webhook,
    };
    use serde_json::json;

    const SUMMARY: &str = "chat is spending its error budget 20.0× as fast as its 99.9% objective allows over 1h (40.0× over 5m), a fast burn (page); at this rate the whole budget lasts 36 hours; 42.0% of the 30d error budget is left.";

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A burn of `chat` at `speed`, resolved or not.
    fn burn(speed: Speed, resolved: bool) -> Notification {
        let info = SloBurnInfo {
            id: 57,
            speed,
            severity: speed.severity().into(),
            action: speed.action().into(),
            state: if resolved { "resolved" } else { "firing" }.into(),
            objective: 0.999,
            window: "30d".into(),
            threshold: speed.threshold(),
            long_window: crate::slo::burn::window_text(speed.long()),
            short_window: crate::slo::burn::window_text(speed.short()),
            long_burn_rate: Some(20.0),
            short_burn_rate: Some(if resolved { 0.0 } else { 40.0 }),
            budget_remaining: Some(0.42),
            started_at: at("2026-12-07T14:02:10Z"),
            resolved_at: resolved.then(|| at("2026-12-07T14:14:10Z")),
            summary: SUMMARY.into(),
        };
        Notification {
            delivery_id: "3f0c1c8e-6a51-4c39-9d8e-2f7f4b0c9a11".into(),
            event: info.event(),
            environment: Some("chat".into()),
            incident: None,
            result: None,
            link: Some("https://status.example.com/environments/chat".into()),
            acknowledgement: None,
            note: None,
            slo_burn: Some(info),
            group: None,
        }
    }

    #[test]
    fn the_webhook_carries_the_burn_and_pagerduty_pairs_its_trigger_and_resolve() {
        let now = at("2026-12-07T14:02:11Z");
        let fast = burn(Speed::Fast, false);
        let body = webhook::body(&fast, now);
        assert_eq!(body["event"], "slo_burn");
        assert_eq!(body["incident"], json!(null));
        assert_eq!(body["slo_burn"]["severity"], "critical");
        assert_eq!(body["slo_burn"]["summary"], SUMMARY);
        assert_eq!(body["slo_burn"]["resolved_at"], json!(null));
        let back: Notification = serde_json::from_value(body).unwrap();
        assert_eq!(
            back.slo_burn, fast.slo_burn,
            "stored and read back from the outbox"
        );

        let trigger = pagerduty::payload(&fast, "KEY", "error", "oncall", now);
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(trigger["dedup_key"], "wsprobe-chat-slo-fast-57");
        assert_eq!(
            trigger["payload"]["summary"],
            format!(
                "chat burns its error budget 20.0× too fast over 1h (fast page burn) — {SUMMARY}"
            )
        );
        assert_eq!(
            trigger["payload"]["severity"], "critical",
            "the burn's, not the channel's"
        );
        assert_eq!(trigger["payload"]["custom_details"]["slo_burn"]["id"], 57);
        let slow = pagerduty::payload(&burn(Speed::Slow, false), "KEY", "error", "oncall", now);
        assert_eq!(slow["payload"]["severity"], "warning");
        assert_eq!(slow["dedup_key"], "wsprobe-chat-slo-slow-57");
        let resolve = pagerduty::payload(&burn(Speed::Fast, true), "KEY", "error", "oncall", now);
        assert_eq!(
            resolve,
            json!({ "routing_key": "KEY", "event_action": "resolve", "dedup_key": "wsprobe-chat-slo-fast-57" })
        );
    }

    #[test]
    fn opsgenie_email_and_ntfy_rank_and_pair_a_burn() {
        let fast = burn(Speed::Fast, false);
        let slow = burn(Speed::Slow, false);
        let created = opsgenie::create_payload(&fast, "P1", "og");
        assert_eq!(created["alias"], "wsprobe-chat-slo-fast-57");
        assert_eq!(created["priority"], "P1");
        assert_eq!(
            created["message"],
            "chat burns its error budget 20.0× too fast over 1h (fast page burn)"
        );
        assert!(
            created["description"]
                .as_str()
                .unwrap()
                .starts_with(SUMMARY)
        );
        assert_eq!(
            opsgenie::create_payload(&slow, "P1", "og")["priority"],
            "P3"
        );
        assert_eq!(
            opsgenie::alias(&burn(Speed::Fast, true), "og"),
            "wsprobe-chat-slo-fast-57"
        );

        let first = email::mail(&fast, "mail", None, "example.com");
        assert_eq!(
            first.subject,
            "[FIRING] chat burns its error budget 20.0× too fast over 1h (fast page burn)"
        );
        assert!(first.text.contains(SUMMARY), "{}", first.text);
        assert_eq!(
            first.message_id,
            "<wsprobe.slo-burn.57.1796652130000@example.com>"
        );
        assert!(
            first.text.contains("Severity: critical (page)"),
            "{}",
            first.text
        );
        let resolve = email::mail(&burn(Speed::Fast, true), "mail", None, "example.com");
        assert_eq!(resolve.subject, "[RESOLVED] chat's fast SLO burn is over");
        assert_eq!(
            resolve.in_reply_to.as_deref(),
            Some(first.message_id.as_str())
        );

        assert_eq!(ntfy::message(&fast, "n").priority, "urgent");
        assert_eq!(ntfy::message(&slow, "n").priority, "high");
    }

    #[test]
    fn every_chat_kind_leads_with_the_summary() {
        let now = at("2026-12-07T14:02:11Z");
        for n in [
            burn(Speed::Fast, false),
            burn(Speed::Slow, false),
            burn(Speed::Fast, true),
        ] {
            let sent = [
                slack::payload(&n, "c").to_string(),
                discord::payload(&n, "c", now).to_string(),
                teams::payload(&n, "c").to_string(),
                google_chat::payload(&n, "c").to_string(),
                mattermost::payload(&n, "c").to_string(),
                telegram::payload(&n, "42", "c").to_string(),
                ntfy::message(&n, "c").body,
                email::mail(&n, "c", None, "example.com").html,
            ];
            for text in sent {
                assert!(
                    text.contains("chat is spending its error budget 20.0×"),
                    "{text}"
                );
                assert!(
                    !text.contains("[TEST]") && !text.contains("test sent by"),
                    "{text}"
                );
            }
        }
        let lines = crate::alert::facts::plain_lines(&burn(Speed::Slow, false), "c");
        assert_eq!(
            log::line(&burn(Speed::Fast, true)),
            "alert slo_burn_resolved: chat's fast SLO burn is over https://status.example.com/environments/chat"
        );
        assert_eq!(
            lines,
            [
                SUMMARY,
                "Severity: warning (ticket)",
                "Burn rate: 20.0× over 6h, 40.0× over 30m (alert at 6×)",
                "Error budget left: 42.0% of 30d",
                "Burning since 2026-12-07T14:02:10.000Z",
            ]
        );
    }

    #[test]
    fn a_burn_s_subject_names_its_speed_and_environment_and_no_environment_is_one() {
        for speed in Speed::ALL {
            let name = subject(speed, "chat-eu_1");
            assert_eq!(parse_subject(&name), Some((speed, "chat-eu_1")));
            assert!(crate::config::EnvName::parse(&name).is_err(), "{name}");
        }
        assert_eq!(parse_subject("location eu"), None);
        assert_eq!(parse_subject("chat"), None);
        assert_eq!(parse_subject("slo medium burn chat"), None);
    }
}
