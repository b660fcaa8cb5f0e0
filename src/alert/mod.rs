//! Alerting: probe results become incidents, incidents become notifications, and
//! notifications go out through a persisted outbox.
//!
//! - the pure state machine is [`crate::incident`] (`step(state, policy, observation, now)`).
//! - [`maintenance`]: which window covers an environment now (pure).
//! - [`notification`]: the channel-neutral notification, stored in the outbox; also the
//!   webhook's JSON event.
//! - [`notifier`]: the small [`Notifier`] trait every channel kind implements; [`channels`]:
//!   one file per kind (`slack`, `pagerduty`, `webhook`, `log`, `discord`, `teams`, …),
//!   registered once with its settings in [`crate::config::channels`]; [`facts`]: what the
//!   chat-style kinds say, as plain text, for each to mark up and escape its own way.
//! - [`delivery`]: the channels built from a config, the one sender (HTTP; SMTP in
//!   [`smtp`]), the pacer.
//! - [`outbox`]: [`outbox::attempt`] (one notification) and [`outbox::run`] (the loop):
//!   retries, backoff, `Retry-After`, giving up, pacing.
//! - `step`: one step's writes (incidents, notifications, the state after) from its events.
//! - [`grouping`]: `alerts.grouping`, between the step and the outbox: triggers that start
//!   together wait for each other and go out (and resolve) as one notification per channel.
//! - [`unwritten`]: the steps the store has not taken yet, and the notifications sent from
//!   memory meanwhile.
//! - `adopt`: incidents a fleet instance paged while the shared store was away, taken in by the
//!   evaluator under the id they were paged with, their notices recorded as delivered.
//! - `open`: which environments have an incident open, and who hears when that changes (the
//!   `wsprobe.incidents.open` gauge).
//! - [`burn`]: an SLO burn's notifications, to the outbox beside the incidents'.
//! - [`send_test`]: `wsprobe alert test`.
//! - [`Alerts::add_note`]: a written update on an incident, stored and sent to its channels.
//! - [`Alerts`]: the engine the daemon holds: `observe` runs a step in memory and hands its
//!   writes to the dispatcher, which writes them in one transaction and delivers;
//!   `acknowledge` does the same for someone acknowledging an open incident. A result's
//!   [`Hold`] (a maintenance window, a silence) holds its notices back.

mod adopt;
pub mod burn;
pub mod channels;
pub mod delivery;
pub mod facts;
pub mod grouping;
pub mod maintenance;
pub mod notification;
pub mod notifier;
mod open;
pub mod outbox;
pub mod smtp;
mod step;
mod test_send;
pub mod unwritten;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use adopt::{Adopted, away_notification, away_rows, merged_resolve};
pub use delivery::{Attempt, Channels, Pacer, SEND_TIMEOUT, Sender};
pub use maintenance::{ActiveWindow, in_maintenance};
pub use notification::{EventName, Notification};
pub use notifier::Notifier;
pub use outbox::{AttemptReport, DeliveryOutcome, DeliveryReport};
pub use test_send::{TestSend, send_test};

use crate::config::{Config, Environment};
use crate::incident::{self, IncidentEvent, Observation};
use crate::oncall::Acknowledgement;
use crate::probe::ProbeResult;
use crate::store::{
    AlertState, AlertStore, DeliveryState, IncidentRecord, NewNote, NewNotification, NoteRecord,
    StoreError,
};
use grouping::Grouper;
use open::OpenIncidents;
use outbox::Unrecorded;
use step::{AckInput, StepInput};
use unwritten::{IncidentWrite, StepWrite, Unwritten};

type DeliveryHook = Box<dyn Fn(&AttemptReport) + Send + Sync>;

/// What holds a result's notices back: recorded as held, never sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hold {
    /// A maintenance window covers the environment.
    pub maintenance: bool,
    /// The id of the silence that matched the result.
    pub silence: Option<i64>,
    /// An environment it `depends_on` has an incident open: that one pages, not this.
    pub dependency: bool,
}

/// How long shutdown waits to write the alert steps still in memory.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// The alert engine: one per daemon.
pub struct Alerts {
    store: AlertStore,
    /// Shared by every `Channels` built from successive configs.
    sender: Sender,
    /// Survives config reloads, so a reload does not reset Slack's pacing or a `Retry-After`.
    pacer: Arc<Pacer>,
    /// Wakes the dispatcher when a step has something to write or send.
    wake: Notify,
    /// Open incident id per environment, for the status page and the incidents-open gauge
    /// without a query.
    open: OpenIncidents,
    /// Each environment's state: the engine's own, read from the store once at start, so that
    /// a step never reads the store and goes on while the store fails.
    states: Mutex<HashMap<String, AlertState>>,
    /// Incident ids are handed out here, so that a notification names its incident before
    /// the store has taken either.
    next_incident_id: AtomicI64,
    unwritten: Mutex<Unwritten>,
    unrecorded: Unrecorded,
    /// The channels of the config in force, rebuilt only when it changes: building them
    /// builds the redactor over every configured secret.
    built: Mutex<Option<(Arc<Config>, Arc<Channels>)>>,
    hooks: RwLock<Vec<DeliveryHook>>,
    /// `alerts.grouping`'s groups: those waiting for members, and those with members open.
    /// Locked after `states`, never before.
    grouper: Mutex<Grouper>,
}

impl Alerts {
    /// Reads the alert states and open incidents from `store`.
    pub async fn new(store: AlertStore) -> anyhow::Result<Alerts> {
        let alerts = Alerts::unloaded(store)?;
        alerts.reload().await?;
        Ok(alerts)
    }

    /// An engine that has read nothing yet: for a fleet instance whose shared store is not
    /// reached at start. It knows no incident until [`Alerts::reload`], which the evaluator
    /// makes before it steps anything.
    pub fn unloaded(store: AlertStore) -> anyhow::Result<Alerts> {
        Ok(Alerts {
            store,
            sender: Sender::new(SEND_TIMEOUT).map_err(anyhow::Error::msg)?,
            pacer: Arc::new(Pacer::default()),
            wake: Notify::new(),
            open: OpenIncidents::new(BTreeMap::new()),
            states: Mutex::new(HashMap::new()),
            next_incident_id: AtomicI64::new(1),
            unwritten: Mutex::new(Unwritten::default()),
            unrecorded: Unrecorded::default(),
            built: Mutex::new(None),
            hooks: RwLock::new(Vec::new()),
            grouper: Mutex::new(Grouper::restored(&[])),
        })
    }

    /// Read the alert states, open incidents and the next incident id again: a fleet
    /// instance that takes the evaluator over starts from what the previous one wrote.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let open = environment_incidents(self.store.open_incidents().await?);
        let states: HashMap<String, AlertState> =
            self.store.alert_states().await?.into_iter().collect();
        let next_incident_id = self.store.next_incident_id().await?;
        let grouper = Grouper::restored(&self.store.open_group_triggers().await?);
        *self.states.lock() = states;
        *self.grouper.lock() = grouper;
        self.open.replace(open);
        self.next_incident_id
            .store(next_incident_id, Ordering::Relaxed);
        Ok(())
    }

    /// Replace the open incidents this engine shows (a fleet instance that does not
    /// evaluate learns them from the shared store).
    pub fn set_open_incidents(&self, open: BTreeMap<String, i64>) {
        self.open.replace(open);
    }

    /// Run one result through the environment's state machine under `config`'s policy. The
    /// new state applies at once, in memory; what the step changed (incidents, the
    /// notifications for the environment's channels, held ones too, the state) is handed to
    /// the dispatcher, which writes it in one transaction and sends what is due. Never waits
    /// on the store. Returns the step's events.
    #[tracing::instrument(skip_all, fields(environment = %env.name))]
    pub fn observe(
        &self,
        config: &Config,
        env: &Environment,
        result: &ProbeResult,
        hold: Hold,
        now: DateTime<Utc>,
    ) -> Vec<IncidentEvent> {
        let subject = Subject {
            name: env.name.as_str(),
            policy: config.alert_policy(env),
            channels: config.channels_for(env),
        };
        self.observe_subject(config, subject, result, hold, now)
    }

    /// [`Alerts::observe`] for what is not one environment's own result: an environment
    /// across a fleet's locations, or a location that went quiet.
    pub fn observe_subject(
        &self,
        config: &Config,
        subject: Subject<'_>,
        result: &ProbeResult,
        hold: Hold,
        now: DateTime<Utc>,
    ) -> Vec<IncidentEvent> {
        let Subject {
            name,
            policy,
            channels,
        } = subject;
        let observation = Observation {
            status: result.status,
            verdict: result.verdict,
            // A failing dependency holds notices as a window does.
            in_maintenance: hold.maintenance || hold.dependency,
            silenced: hold.silence.is_some(),
            started_at: result.started_at,
        };
        // One step at a time per engine: two results of one environment must not step from
        // the same state.
        let mut states = self.states.lock();
        let before = states.get(name).cloned().unwrap_or_default();
        let (state, events) = incident::step(&before.state, &policy, &observation, now);
        if events.is_empty() && !incident::needs_saving(&before.state, &state, &policy) {
            // The steady state: nothing to write; the recent results are kept in memory.
            states.entry(name.to_owned()).or_default().state.recent = state.recent;
            return events;
        }
        let input = StepInput {
            name,
            channels: &channels,
            result,
            hold,
            now,
            link: environment_link(config, name),
            before: &before,
            after: &state,
            flap_window: policy.flapping.window,
            grouping: config.alerts.grouping.as_ref(),
        };
        let step = step::step_write(
            &input,
            &events,
            &self.next_incident_id,
            &self.unwritten,
            &mut self.grouper.lock(),
        );
        states.insert(name.to_owned(), step.after.clone());
        // Still under the states' lock: the open incidents follow the steps in their order.
        self.open.set(name, step.after.incident_id);
        self.unwritten.lock().push(step);
        drop(states);
        self.wake.notify_one();
        events
    }

    /// Someone acknowledged incident `id` (already stored with the incident): if this engine
    /// holds it open and did not know, its reminders stop from now on and an `acknowledged`
    /// notification goes to the subject's channels, through the dispatcher like a step's.
    /// Returns whether this engine took it.
    pub fn acknowledge(
        &self,
        config: &Config,
        id: i64,
        ack: &Acknowledgement,
        now: DateTime<Utc>,
    ) -> bool {
        let mut states = self.states.lock();
        let Some((name, before)) = states
            .iter()
            .find(|(_, state)| state.incident_id == Some(id))
            .map(|(name, state)| (name.clone(), state.clone()))
        else {
            return false;
        };
        let (after, events) = incident::acknowledge(&before.state);
        if after == before.state {
            return false;
        }
        // A location or an instance that went quiet has no environment: all channels hear.
        let channels = match config.environment(&name) {
            Some(env) => config.channels_for(env),
            None => config.alerts.channels.iter().collect(),
        };
        let grouper = self.grouper.lock();
        let input = AckInput {
            name: &name,
            channels: &channels,
            ack,
            now,
            link: environment_link(config, &name),
            before: &before,
            after: &after,
            group: grouper.group_of(id),
            group_sends_at: grouper.sends_at(id),
        };
        let step = step::acknowledge_write(&input, &events, &self.unwritten);
        tracing::info!(environment = %name, incident = id, by = %ack.by, "incident acknowledged");
        states.insert(name, step.after.clone());
        self.unwritten.lock().push(step);
        // The group is one page: acknowledging a member quiets the others' reminders too.
        let peers: Vec<i64> = grouper
            .open_peers(id)
            .iter()
            .map(|m| m.incident_id)
            .collect();
        drop(grouper);
        acknowledge_peers(&mut states, &peers, &self.unwritten);
        drop(states);
        self.wake.notify_one();
        true
    }

    /// Write every step not yet written, oldest first; stops at the first store error and
    /// keeps the rest for the next try.
    pub async fn flush(&self) -> Result<(), StoreError> {
        loop {
            let Some(step) = self.unwritten.lock().pop_step() else {
                break;
            };
            if let Err(err) = write_step(&self.store, &step).await {
                self.unwritten.lock().unpop_step(step);
                return Err(err);
            }
        }
        let states = self.unwritten.lock().take_states();
        if states.is_empty() {
            return Ok(());
        }
        let list: Vec<(&str, &AlertState)> = states
            .iter()
            .map(|(env, state)| (env.as_str(), state))
            .collect();
        let saved = self.store.save_alert_states(&list).await;
        if saved.is_err() {
            self.unwritten.lock().restore_states(states);
        }
        saved
    }

    /// Whether steps wait to be written (the store failed on the last try).
    pub fn has_unwritten(&self) -> bool {
        !self.unwritten.lock().is_empty()
    }

    /// The dispatcher's step at `now`: write what the engine has not written, send what is due
    /// from memory (steps the store refused), then what is due in the outbox.
    pub async fn deliver_due(&self, channels: &Channels, now: DateTime<Utc>) -> DeliveryReport {
        self.deliver_step(channels, now, None).await
    }

    async fn deliver_step(
        &self,
        channels: &Channels,
        now: DateTime<Utc>,
        stop: Option<&CancellationToken>,
    ) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        if let Err(err) = self.flush().await {
            report.store_error = Some(format!("alert state not written: {err}"));
        }
        let due = self.unwritten.lock().due(now);
        for batch in grouping::merge(due) {
            if stop.is_some_and(|s| s.is_cancelled()) {
                break;
            }
            let decided = outbox::attempt(channels, now, &batch.row).await;
            report.attempts.extend(decided.report);
            let mut unwritten = self.unwritten.lock();
            for id in &batch.ids {
                unwritten.record(*id, &decided.recorded);
            }
        }
        let next = self.unwritten.lock().next_due();
        report.due_at(next);
        let mut stored = DeliveryReport::default();
        outbox::deliver_stored(
            &self.store,
            channels,
            now,
            stop,
            &self.unrecorded,
            &mut stored,
        )
        .await;
        report.attempts.append(&mut stored.attempts);
        report.due_at(stored.next_due);
        report.store_error = report.store_error.or(stored.store_error);
        report
    }

    /// The delivery context for `config`: its channels, with this engine's sender and pacer.
    pub fn channels(&self, config: &Config) -> Channels {
        Channels::new(config, self.sender.clone(), self.pacer.clone())
    }

    fn channels_in_force(&self, config: &Arc<Config>) -> Arc<Channels> {
        let mut built = self.built.lock();
        if let Some((for_config, channels)) = built.as_ref()
            && Arc::ptr_eq(for_config, config)
        {
            return channels.clone();
        }
        let channels = Arc::new(self.channels(config));
        *built = Some((config.clone(), channels.clone()));
        channels
    }

    /// Store a note on incident `id` and queue it, in the same transaction, for the
    /// incident's channels that have a way to say it ([`Notifier::sends`]); `Ok(None)` when
    /// there is no such incident. Notes are not held by maintenance windows: someone wrote
    /// this one to be read.
    #[tracing::instrument(skip_all, fields(incident = id))]
    pub async fn add_note(
        &self,
        config: &Arc<Config>,
        id: i64,
        note: &NewNote<'_>,
    ) -> Result<Option<NoteRecord>, StoreError> {
        let Some(incident) = self.store.incident(id).await? else {
            return Ok(None);
        };
        let mut tx = self.store.begin_alerts(&incident.environment).await?;
        let stored = tx.insert_note(id, note).await?;
        let link = environment_link(config, &incident.environment);
        let mut notification = Notification::note(&incident, stored.clone(), link);
        // A grouped incident's note goes to the group's PagerDuty incident, not a new one.
        notification.group = self.grouper.lock().group_of(id);
        let payload =
            serde_json::to_string(&notification).expect("a notification always encodes as JSON");
        let channels = self.channels_in_force(config);
        for channel in incident_channels(config, &incident) {
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
                event: EventName::Note.as_str(),
                payload: &payload,
                state: DeliveryState::Pending,
                at: note.at,
                attempts: 0,
                due_at: note.at,
                last_error: None,
                finished_at: None,
            })
            .await?;
        }
        tx.commit().await?;
        tracing::info!(note = stored.id, "note added to the incident");
        self.wake.notify_one();
        Ok(Some(stored))
    }

    /// Open incident id per environment (the `wsprobe.incidents.open` gauge reads this: 1 for
    /// every environment listed, 0 for the others).
    pub fn open_incidents(&self) -> BTreeMap<String, i64> {
        self.open.all()
    }

    pub fn open_incident(&self, env: &str) -> Option<i64> {
        self.open.get(env)
    }

    /// Call `hook(environment, open)` whenever an incident opens or closes, and again for
    /// every open one on [`Alerts::announce_open_incidents`]: the `wsprobe.incidents.open`
    /// gauge's one source.
    pub fn on_open_changed(&self, hook: impl Fn(&str, bool) + Send + Sync + 'static) {
        self.open.on_change(hook);
    }

    /// Tell the [`Alerts::on_open_changed`] hooks of every incident open now.
    pub fn announce_open_incidents(&self) {
        self.open.announce();
    }

    /// Call `hook` for every delivery attempt the dispatcher makes (the
    /// `wsprobe.notifications` counter: `channel`, `kind`, `outcome`).
    pub fn on_delivery(&self, hook: impl Fn(&AttemptReport) + Send + Sync + 'static) {
        self.hooks.write().push(Box::new(hook));
    }

    /// The dispatcher loop, until `stop`; `config` is read on every step, so reloads apply.
    /// `on_store_error` gets store failures (the daemon rate-limits their logging). Before
    /// returning it writes what it can of the steps still in memory.
    pub async fn dispatch(
        &self,
        config: impl Fn() -> Arc<Config>,
        stop: CancellationToken,
        on_store_error: impl Fn(&str),
    ) {
        outbox::run(
            |now, stop| {
                let channels = self.channels_in_force(&config());
                let stop = stop.clone();
                async move { self.deliver_step(&channels, now, Some(&stop)).await }
            },
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
        match tokio::time::timeout(FINAL_FLUSH, self.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::error!("alert state lost at shutdown, the store failed: {err}")
            }
            Err(_) => tracing::error!(
                "alert state lost at shutdown: the store did not answer within {FINAL_FLUSH:?}"
            ),
        }
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

/// Acknowledge, in memory and without a notice of their own, the open incidents `peers`
/// (the other members of an acknowledged incident's group).
fn acknowledge_peers(
    states: &mut HashMap<String, AlertState>,
    peers: &[i64],
    unwritten: &Mutex<Unwritten>,
) {
    for (name, state) in states.iter_mut() {
        if !state.incident_id.is_some_and(|id| peers.contains(&id)) {
            continue;
        }
        let (after, _) = incident::acknowledge(&state.state);
        state.state = after;
        unwritten.lock().push(StepWrite {
            env: name.clone(),
            incidents: Vec::new(),
            notifications: Vec::new(),
            after: state.clone(),
        });
    }
}

/// What an alert step is about: its name (the incident's `environment`), the policy and the
/// channels that hear of it.
pub struct Subject<'a> {
    pub name: &'a str,
    pub policy: crate::config::AlertPolicy,
    pub channels: Vec<&'a crate::config::ChannelConfig>,
}

/// The open incidents that are an environment's (or a fleet's): an SLO burn's record is
/// neither, and no environment shows it as its incident.
fn environment_incidents(open: Vec<(String, i64)>) -> BTreeMap<String, i64> {
    open.into_iter()
        .filter(|(name, _)| burn::parse_subject(name).is_none())
        .collect()
}

/// `{server.public_url}/environments/{name}`, when `public_url` is set.
pub fn environment_link(config: &Config, env: &str) -> Option<String> {
    let base = config.server.public_url.as_ref()?;
    Some(format!(
        "{}/environments/{env}",
        base.as_str().trim_end_matches('/')
    ))
}

/// The channels that hear of `incident`: its environment's, or every channel for a fleet's
/// own incidents (a location gone quiet); none for an environment no longer configured.
fn incident_channels<'c>(
    config: &'c Config,
    incident: &IncidentRecord,
) -> Vec<&'c crate::config::ChannelConfig> {
    match config.environment(&incident.environment) {
        Some(env) => config.channels_for(env),
        None if crate::fleet::is_fleet_subject(&incident.environment) => {
            config.alerts.channels.iter().collect()
        }
        None => Vec::new(),
    }
}

/// One step's writes, all or nothing.
async fn write_step(store: &AlertStore, step: &StepWrite) -> Result<(), StoreError> {
    let mut tx = store.begin_alerts(&step.env).await?;
    for incident in &step.incidents {
        match incident {
            IncidentWrite::Open {
                id,
                open,
                diagnosis,
            } => tx.insert_incident(*id, open, diagnosis).await?,
            IncidentWrite::Verdict {
                id,
                verdict,
                diagnosis,
            } => tx.set_incident_verdict(*id, *verdict, diagnosis).await?,
            IncidentWrite::Resolve { id, at } => tx.resolve_incident(*id, *at).await?,
        }
    }
    for n in &step.notifications {
        tx.enqueue(&NewNotification {
            incident_id: n.row.incident_id,
            channel: &n.row.channel,
            kind: &n.row.kind,
            event: &n.row.event,
            payload: &n.row.payload,
            state: n.state,
            at: n.row.created_at,
            attempts: n.row.attempts,
            due_at: n.row.due_at,
            last_error: n.row.last_error.as_deref(),
            finished_at: n.finished_at,
        })
        .await?;
    }
    tx.save_state(&step.after).await?;
    tx.commit().await
}
