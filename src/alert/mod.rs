//! Alerting: probe results become incidents, incidents become notifications, and
//! notifications go out through a persisted outbox.
//!
//! - the pure state machine is [`crate::incident`] (`step(state, policy, observation, now)`).
//! - [`maintenance`]: which window covers an environment now (pure).
//! - [`notification`]: the channel-neutral notification, stored in the outbox; also the
//!   webhook's JSON event.
//! - [`channel`]: the small [`Channel`] trait every channel implements, one file per channel:
//!   [`slack`], [`pagerduty`], [`webhook`], [`log`].
//! - [`delivery`]: the channels built from a config, the one HTTP sender, the pacer.
//! - [`outbox`]: [`outbox::deliver_due`] (the step) and [`outbox::run`] (the loop): retries,
//!   backoff, `Retry-After`, giving up, pacing.
//! - [`Alerts`]: the engine the daemon holds: `observe` runs a step, persists the state and
//!   queues notifications in one transaction, and wakes the dispatcher.

pub mod channel;
pub mod delivery;
pub mod log;
pub mod maintenance;
pub mod notification;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use channel::Channel;
pub use delivery::{Attempt, Channels, Pacer, SEND_TIMEOUT, Sender};
pub use maintenance::{ActiveWindow, in_maintenance};
pub use notification::{EventName, Notification};
pub use outbox::{AttemptReport, DeliveryOutcome, DeliveryReport, deliver_due};

use crate::config::{Config, Environment};
use crate::incident::{self, IncidentEvent, Notice, Observation, Open};
use crate::probe::ProbeResult;
use crate::store::{AlertState, DeliveryState, NewNotification, Store, StoreError};
use notification::{IncidentInfo, ResultSummary};

type DeliveryHook = Box<dyn Fn(&AttemptReport) + Send + Sync>;

/// The alert engine: one per daemon.
pub struct Alerts {
    store: Store,
    /// Shared by every `Channels` built from successive configs.
    sender: Sender,
    /// Survives config reloads, so a reload does not reset Slack's pacing or a `Retry-After`.
    pacer: Arc<Pacer>,
    /// Wakes the dispatcher when a row is queued.
    wake: Notify,
    /// Open incident id per environment, for the status page and the incidents-open gauge
    /// without a query.
    open: Mutex<BTreeMap<String, i64>>,
    /// Each environment's state as last committed, so that the steady state (the same outcome
    /// again) costs no store access. Filled from the store on an environment's first result.
    states: Mutex<HashMap<String, AlertState>>,
    hooks: RwLock<Vec<DeliveryHook>>,
}

impl Alerts {
    /// Reads the open incidents from `store`.
    pub async fn new(store: Store) -> anyhow::Result<Alerts> {
        let open = store.open_incidents().await?.into_iter().collect();
        Ok(Alerts {
            store,
            sender: Sender::new(SEND_TIMEOUT).map_err(anyhow::Error::msg)?,
            pacer: Arc::new(Pacer::default()),
            wake: Notify::new(),
            open: Mutex::new(open),
            states: Mutex::new(HashMap::new()),
            hooks: RwLock::new(Vec::new()),
        })
    }

    /// Run one result through the environment's state machine under `config`'s policy, and
    /// in one transaction: record incident changes, queue the notifications for the
    /// environment's channels (held ones too, marked held), save the state. Wakes the
    /// dispatcher when something is to be sent. Returns the step's events.
    #[tracing::instrument(skip_all, fields(environment = %env.name))]
    pub async fn observe(
        &self,
        config: &Config,
        env: &Environment,
        result: &ProbeResult,
        in_maintenance: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<IncidentEvent>, StoreError> {
        let name = env.name.as_str();
        let policy = config.alert_policy(env);
        let observation = Observation {
            status: result.status,
            verdict: result.verdict,
            in_maintenance,
        };
        let known = self.states.lock().get(name).cloned();
        if let Some(before) = &known {
            let (state, events) = incident::step(&before.state, &policy, &observation, now);
            if state == before.state && events.is_empty() {
                // The steady state: nothing to read or write.
                return Ok(events);
            }
        }
        let mut tx = self.store.begin_alerts(name).await?;
        let before = match known {
            Some(before) => before,
            None => tx.state().await?,
        };
        let (state, events) = incident::step(&before.state, &policy, &observation, now);
        if state == before.state && events.is_empty() {
            tx.rollback().await?;
            self.states.lock().insert(name.to_owned(), before);
            return Ok(events);
        }
        let mut incident_id = before.incident_id;
        let mut queued = false;
        let link = environment_link(config, name);
        for event in &events {
            match event {
                IncidentEvent::Opened => {
                    let open = state.open.as_ref().expect("Opened leaves an open incident");
                    incident_id = Some(tx.open_incident(open, &result.diagnosis).await?);
                    tracing::warn!(verdict = %result.verdict, "incident opened");
                }
                IncidentEvent::Resolved => {
                    if let Some(id) = incident_id {
                        tx.resolve_incident(id, now).await?;
                    }
                    tracing::info!("incident resolved");
                }
                IncidentEvent::Notify { notice, held } => {
                    let Some(id) = incident_id else { continue };
                    let (open, diagnosis) = match notice {
                        Notice::Resolved => (
                            before.state.open.as_ref(),
                            before.diagnosis.clone().unwrap_or_default(),
                        ),
                        _ => (state.open.as_ref(), result.diagnosis.clone()),
                    };
                    let Some(open) = open else { continue };
                    if let Notice::VerdictChanged { .. } = notice {
                        tx.set_incident_verdict(id, result.verdict, &result.diagnosis)
                            .await?;
                    }
                    let notification = Notification {
                        event: event_name(*notice),
                        environment: Some(name.to_owned()),
                        incident: Some(incident_info(id, open, *notice, diagnosis, now)),
                        result: Some(ResultSummary::of(result, in_maintenance)),
                        link: link.clone(),
                    };
                    let payload =
                        serde_json::to_string(&notification).map_err(StoreError::Encode)?;
                    let delivery = if *held {
                        DeliveryState::Held
                    } else {
                        DeliveryState::Pending
                    };
                    for channel in config.channels_for(env) {
                        tx.enqueue(&NewNotification {
                            incident_id: id,
                            channel: &channel.name,
                            kind: channel.kind.kind(),
                            event: notification.event.as_str(),
                            payload: &payload,
                            state: delivery,
                            at: now,
                        })
                        .await?;
                        queued |= !held;
                    }
                    if *held {
                        tracing::info!(event = %notification.event, "notification held: maintenance window");
                    }
                }
            }
        }
        let incident_id = incident_id.filter(|_| state.open.is_some());
        let rediagnosed = events.iter().any(|event| {
            matches!(
                event,
                IncidentEvent::Opened
                    | IncidentEvent::Notify {
                        notice: Notice::VerdictChanged { .. },
                        ..
                    }
            )
        });
        let after = AlertState {
            diagnosis: incident_id.and_then(|_| {
                if rediagnosed {
                    Some(result.diagnosis.clone())
                } else {
                    before.diagnosis.clone()
                }
            }),
            state,
            incident_id,
        };
        tx.save_state(&after).await?;
        tx.commit().await?;
        self.states.lock().insert(name.to_owned(), after);
        {
            let mut open = self.open.lock();
            match incident_id {
                Some(id) => open.insert(name.to_owned(), id),
                None => open.remove(name),
            };
        }
        if queued {
            self.wake.notify_one();
        }
        Ok(events)
    }

    /// The delivery context for `config`: its channels, with this engine's sender and pacer.
    pub fn channels(&self, config: &Config) -> Channels {
        Channels::new(config, self.sender.clone(), self.pacer.clone())
    }

    /// Open incident id per environment (the `wsprobe.incidents.open` gauge reads this: 1 for
    /// every environment listed, 0 for the others).
    pub fn open_incidents(&self) -> BTreeMap<String, i64> {
        self.open.lock().clone()
    }

    pub fn open_incident(&self, env: &str) -> Option<i64> {
        self.open.lock().get(env).copied()
    }

    /// Call `hook` for every delivery attempt the dispatcher makes (the
    /// `wsprobe.notifications` counter: `channel`, `kind`, `outcome`).
    pub fn on_delivery(&self, hook: impl Fn(&AttemptReport) + Send + Sync + 'static) {
        self.hooks.write().push(Box::new(hook));
    }

    /// The dispatcher loop, until `stop`; `config` is read on every step, so reloads apply.
    /// `on_store_error` gets store failures (the daemon rate-limits their logging).
    pub async fn dispatch(
        &self,
        config: impl Fn() -> Arc<Config>,
        stop: CancellationToken,
        on_store_error: impl Fn(&str),
    ) {
        outbox::run(
            &self.store,
            || self.channels(&config()),
            &self.wake,
            stop,
            |report| {
                self.reported(report);
                if let Some(error) = &report.store_error {
                    on_store_error(error);
                }
            },
        )
        .await;
    }

    fn reported(&self, report: &DeliveryReport) {
        let hooks = self.hooks.read();
        for attempt in &report.attempts {
            let error = attempt.error.as_deref().unwrap_or_default();
            match attempt.outcome {
                DeliveryOutcome::Delivered => tracing::info!(
                    channel = %attempt.channel, event = %attempt.event,
                    incident = attempt.incident_id, "notification delivered"
                ),
                DeliveryOutcome::Retried => tracing::warn!(
                    channel = %attempt.channel, event = %attempt.event,
                    incident = attempt.incident_id,
                    next_attempt = ?attempt.next_attempt_at.map(|t| t.to_rfc3339()),
                    "notification not delivered, will retry: {error}"
                ),
                DeliveryOutcome::Failed => tracing::error!(
                    channel = %attempt.channel, event = %attempt.event,
                    incident = attempt.incident_id,
                    "notification failed for good: {error}"
                ),
            }
            for hook in hooks.iter() {
                hook(attempt);
            }
        }
    }
}

/// `{server.public_url}/environments/{name}`, when `public_url` is set.
pub fn environment_link(config: &Config, env: &str) -> Option<String> {
    let base = config.server.public_url.as_ref()?;
    Some(format!(
        "{}/environments/{env}",
        base.as_str().trim_end_matches('/')
    ))
}

fn event_name(notice: Notice) -> EventName {
    match notice {
        Notice::Triggered => EventName::Triggered,
        Notice::Reminder => EventName::Reminder,
        Notice::VerdictChanged { .. } => EventName::VerdictChanged,
        Notice::Resolved => EventName::Resolved,
    }
}

fn incident_info(
    id: i64,
    open: &Open,
    notice: Notice,
    diagnosis: String,
    now: DateTime<Utc>,
) -> IncidentInfo {
    let resolved = notice == Notice::Resolved;
    IncidentInfo {
        id,
        state: if resolved { "resolved" } else { "open" }.to_owned(),
        started_at: open.since,
        opened_at: open.opened_at,
        resolved_at: resolved.then_some(now),
        duration_s: resolved.then(|| (now - open.since).num_seconds()),
        verdict: open.verdict,
        previous_verdict: match notice {
            Notice::VerdictChanged { from } => Some(from),
            _ => None,
        },
        diagnosis,
    }
}

/// One request `send_test` made.
#[derive(Debug, Clone)]
pub struct TestSend {
    /// `test`, or `resolve` (PagerDuty: the test's alert is resolved right after).
    pub what: &'static str,
    pub attempt: Attempt,
    pub took: Duration,
}

/// `wsprobe alert test`: send a clearly marked test notification through the channel named
/// `channel` now, once, through the same channel code the daemon uses. A PagerDuty test
/// alert is resolved right after, so it pages (at `info` severity) but does not stay open.
/// `Err`: no such channel (or no HTTP client), a usage problem.
pub async fn send_test(
    config: &Config,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<(String, Vec<TestSend>), String> {
    let channels = Channels::from_config(config)?;
    let Some(target) = channels.get(channel) else {
        let known: Vec<&str> = config
            .alerts
            .channels
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(if known.is_empty() {
            format!("no channel named {channel:?}: alerts.channels defines none")
        } else {
            format!(
                "no channel named {channel:?} (alerts.channels defines: {})",
                known.join(", ")
            )
        });
    };
    let link = config
        .server
        .public_url
        .as_ref()
        .map(|url| url.as_str().to_owned());
    let mut test = Notification::test(link);
    let channels = &channels;
    let send = |what: &'static str, test: Notification| async move {
        let started = Instant::now();
        let attempt = channels
            .sender
            .send(target, target.request(&test, now), &channels.redactor, now)
            .await;
        TestSend {
            what,
            attempt,
            took: started.elapsed(),
        }
    };
    let mut sends = vec![send("test", test.clone()).await];
    if sends[0].attempt == Attempt::Delivered && target.kind() == "pagerduty" {
        test.event = EventName::Resolved;
        sends.push(send("resolve", test).await);
    }
    Ok((target.kind().to_owned(), sends))
}
