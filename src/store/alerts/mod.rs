//! [`AlertStore`]: alerting's view of the store (incidents and their acknowledgements, the
//! per-environment alert state, the notification outbox, silences), and [`AlertTx`], the one write transaction in which an alert step
//! records incident changes, queues notifications and saves the new state — all or nothing.
//!
//! The statements are written once for both databases (`shared.rs`); `sqlite.rs` and
//! `postgres.rs` hold only the texts where their schemas differ. Only the engine that writes
//! incidents (on a fleet, the holder of the evaluator lease) writes these tables, so incident
//! ids are handed out in memory.

mod decode;
mod postgres;
mod records;
mod shared;
mod sqlite;

use chrono::{DateTime, Utc};

pub use records::{
    AckOutcome, AlertState, DeliveryState, ExpireOutcome, FailedNotification, IncidentFilter,
    IncidentRecord, IncidentState, NewNote, NewNotification, NoteRecord, NoteStatus,
    NotificationRecord, PendingNotification,
};

use super::write::WriteTx;
use super::{Backend, StoreError};
use crate::incident::Open;
use crate::oncall::{Acknowledgement, NewSilence, Silence};
use crate::probe::Verdict;

/// What the alert engine and the dispatcher read and write. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertStore {
    backend: Backend,
}

/// One statement on a connection of its own: SQLite's read-only pool, or PostgreSQL's pool.
macro_rules! on_reader {
    ($store:expr, $f:ident($($arg:expr),*)) => {
        match &$store.backend {
            Backend::Sqlite(s) => sqlite::$f(&mut *s.reader().acquire().await?, $($arg),*).await,
            Backend::Postgres(p) => postgres::$f(&mut *p.pool().acquire().await?, $($arg),*).await,
        }
    };
}

/// One write, committed: SQLite's writer takes one transaction at a time.
macro_rules! on_writer {
    ($store:expr, $f:ident($($arg:expr),*)) => {
        match &$store.backend {
            Backend::Sqlite(s) => {
                s.usable()?;
                let mut tx = WriteTx::begin(&s.writer()).await?;
                let written = sqlite::$f(&mut tx, $($arg),*).await?;
                tx.commit().await?;
                Ok(written)
            }
            Backend::Postgres(p) => postgres::$f(&mut *p.pool().acquire().await?, $($arg),*).await,
        }
    };
}

/// One write of the evaluator's, committed: on PostgreSQL in a transaction that first checks
/// the evaluator lease's fencing token (`PgStore::check_fence`).
macro_rules! on_fenced_writer {
    ($store:expr, $f:ident($($arg:expr),*)) => {
        match &$store.backend {
            Backend::Sqlite(_) => on_writer!($store, $f($($arg),*)),
            Backend::Postgres(p) => {
                let mut tx = p.pool().begin().await?;
                p.check_fence(&mut tx).await?;
                let written = postgres::$f(&mut *tx, $($arg),*).await?;
                tx.commit().await?;
                Ok(written)
            }
        }
    };
}

impl AlertStore {
    pub(super) fn new(backend: Backend) -> AlertStore {
        AlertStore { backend }
    }

    /// Take the writer for one environment's alert step.
    #[tracing::instrument(skip_all, fields(environment = %env))]
    pub async fn begin_alerts(&self, env: &str) -> Result<AlertTx, StoreError> {
        Ok(AlertTx(match &self.backend {
            Backend::Sqlite(s) => {
                // Alerting writes only into the database it can read back from: otherwise its
                // steps stay in memory and their notifications are sent from there.
                s.usable()?;
                let mut tx = WriteTx::begin(&s.writer()).await?;
                let key = sqlite::env_key(&mut tx, env).await?;
                Tx::Sqlite(tx, key)
            }
            Backend::Postgres(p) => {
                let mut tx = p.pool().begin().await?;
                p.check_fence(&mut tx).await?;
                let key = postgres::env_key(&mut tx, env).await?;
                Tx::Postgres(tx, key)
            }
        }))
    }

    /// Every environment's alert state, so that the engine starts knowing them all.
    pub async fn alert_states(&self) -> Result<Vec<(String, AlertState)>, StoreError> {
        on_reader!(self, alert_states())
    }

    /// The id the next incident is to get (see [`AlertTx::insert_incident`]).
    pub async fn next_incident_id(&self) -> Result<i64, StoreError> {
        on_reader!(self, next_incident_id())
    }

    /// Save the latest states of several environments in one transaction.
    pub async fn save_alert_states(
        &self,
        states: &[(&str, &AlertState)],
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => on_writer!(self, save_alert_states(states)),
            Backend::Postgres(p) => {
                let mut tx = p.pool().begin().await?;
                p.check_fence(&mut tx).await?;
                postgres::save_alert_states(&mut tx, states).await?;
                Ok(tx.commit().await?)
            }
        }
    }

    /// Incidents, newest first, each with its notifications: read in one transaction on
    /// SQLite, so that a timeline is never of an incident the list did not see.
    #[tracing::instrument(skip_all)]
    pub async fn incidents(
        &self,
        filter: &IncidentFilter<'_>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let mut tx = s.reader().begin().await?;
                let incidents = sqlite::incidents(&mut tx, filter).await?;
                tx.commit().await?;
                Ok(incidents)
            }
            Backend::Postgres(_) => on_reader!(self, incidents(filter)),
        }
    }

    /// One incident with its timeline and notes; `None` when there is no such id.
    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        on_reader!(self, incident(id))
    }

    /// The stored `triggered` notifications of open incidents that are in a group
    /// (`alerts.grouping`): (payload, due at).
    pub async fn open_group_triggers(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        on_reader!(self, open_group_triggers())
    }

    /// Every open incident: (environment, incident id).
    pub async fn open_incidents(&self) -> Result<Vec<(String, i64)>, StoreError> {
        on_reader!(self, open_incidents())
    }

    /// Acknowledge incident `id` if it is open and nobody has: written once, whichever
    /// instance of a fleet is asked, and read by the one that evaluates.
    pub async fn acknowledge(
        &self,
        id: i64,
        ack: &Acknowledgement,
    ) -> Result<AckOutcome, StoreError> {
        on_writer!(self, acknowledge_incident(id, ack))
    }

    /// Store a silence made at `now`, with its id.
    pub async fn add_silence(
        &self,
        silence: &NewSilence,
        now: DateTime<Utc>,
    ) -> Result<Silence, StoreError> {
        on_writer!(self, insert_silence(silence, now))
    }

    /// Silences newest first, at most `limit`: every one when `all`, else those not over at
    /// `now` (active, or yet to start).
    pub async fn silences(
        &self,
        all: bool,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Silence>, StoreError> {
        on_reader!(self, silences(all, now, limit))
    }

    /// End silence `id` at `now` (kept for history).
    pub async fn expire_silence(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<ExpireOutcome, StoreError> {
        on_writer!(self, expire_silence(id, now))
    }

    /// Whether this instance may still deliver: on a fleet, the evaluator lease it last held
    /// is still its own (checked before each send, so that a stalled evaluator that lost the
    /// lease sends nothing more).
    pub async fn check_fence(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(p) => p.check_fence(&mut *p.pool().acquire().await?).await,
        }
    }

    /// Pending notifications due at `now`, earliest first.
    #[tracing::instrument(skip_all)]
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotification>, StoreError> {
        on_reader!(self, due_notifications(now, limit))
    }

    /// When the earliest pending notification is due, if any is pending.
    pub async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        on_reader!(self, next_notification_due())
    }

    pub async fn notification_delivered(
        &self,
        id: i64,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let outcome = (DeliveryState::Delivered, attempts);
        on_fenced_writer!(self, finish_notification(id, outcome, at, None))
    }

    pub async fn notification_failed(
        &self,
        id: i64,
        attempts: u32,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let outcome = (DeliveryState::Failed, attempts);
        on_fenced_writer!(self, finish_notification(id, outcome, at, Some(error)))
    }

    /// Record a failed attempt worth repeating at `due`.
    pub async fn notification_retry(
        &self,
        id: i64,
        attempts: u32,
        due: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        on_fenced_writer!(self, notification_retry(id, attempts, due, error))
    }

    /// Move a pending notification to `due` without counting an attempt (channel pacing).
    pub async fn notification_postponed(
        &self,
        id: i64,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_fenced_writer!(self, notification_postponed(id, due))
    }

    /// Pending notifications due before `before`: some mean notifications are stuck.
    pub async fn overdue_notifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_reader!(self, overdue_notifications(before))
    }

    /// Notifications that failed for good since `since`, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn failed_notifications(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FailedNotification>, StoreError> {
        on_reader!(self, failed_notifications(since, limit))
    }
}

/// The alert transaction of one environment. Dropping it without `commit` rolls back.
pub struct AlertTx(Tx);

enum Tx {
    /// The writer, and the environment's id.
    Sqlite(WriteTx, i64),
    /// A transaction of the pool, and the environment's name.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>, String),
}

/// One statement inside the transaction; `$key` is the environment as that database keys it.
macro_rules! in_tx {
    ($tx:expr, |$key:pat_param| $f:ident($($arg:expr),*)) => {
        match &mut $tx.0 {
            Tx::Sqlite(tx, $key) => sqlite::$f(tx, $($arg),*).await,
            Tx::Postgres(tx, $key) => postgres::$f(tx, $($arg),*).await,
        }
    };
}

impl AlertTx {
    pub async fn save_state(&mut self, state: &AlertState) -> Result<(), StoreError> {
        in_tx!(self, |key| save_state(key, state))
    }

    /// Insert an incident under the id the alert engine gave it
    /// ([`AlertStore::next_incident_id`]): ids are handed out in memory so that a notification
    /// can name its incident before the store has taken either.
    pub async fn insert_incident(
        &mut self,
        id: i64,
        open: &Open,
        diagnosis: &str,
    ) -> Result<(), StoreError> {
        in_tx!(self, |key| insert_incident((id, key), open, diagnosis))
    }

    pub async fn set_incident_verdict(
        &mut self,
        id: i64,
        verdict: Verdict,
        diagnosis: &str,
    ) -> Result<(), StoreError> {
        in_tx!(self, |_| set_incident_verdict(id, verdict, diagnosis))
    }

    pub async fn resolve_incident(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        in_tx!(self, |_| resolve_incident(id, at))
    }

    /// Store a note on incident `id`; the store gives its id.
    pub async fn insert_note(
        &mut self,
        id: i64,
        note: &NewNote<'_>,
    ) -> Result<NoteRecord, StoreError> {
        in_tx!(self, |_| insert_note(id, note))
    }

    /// Queue one notification; `pending` ones are due at once.
    pub async fn enqueue(&mut self, notification: &NewNotification<'_>) -> Result<i64, StoreError> {
        in_tx!(self, |_| enqueue(notification))
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            Tx::Sqlite(tx, _) => tx.commit().await,
            Tx::Postgres(tx, _) => Ok(tx.commit().await?),
        }
    }
}
