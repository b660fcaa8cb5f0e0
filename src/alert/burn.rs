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
