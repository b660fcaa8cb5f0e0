//! The notification outbox: rows are queued inside an [`super::AlertTx`], and the dispatcher
//! (`alert::outbox`) reads what is due and records each attempt here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::SqliteConnection;

use super::codec::{from_ms, ms};
use super::write::WriteTx;
use super::{SqliteStore, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
    /// Inside a maintenance window: recorded, never sent.
    Held,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Held => "held",
        }
    }

    pub(super) fn parse(text: &str) -> Result<DeliveryState, StoreError> {
        Ok(match text {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            "held" => DeliveryState::Held,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown outbox state {other:?}"
                )));
            }
        })
    }
}

pub struct NewNotification<'a> {
    pub incident_id: i64,
    pub channel: &'a str,
    pub kind: &'a str,
    pub event: &'a str,
    /// The channel-neutral notification, JSON.
    pub payload: &'a str,
    /// `Pending` or `Held` when queued as the step ran; any state when the engine sent it
    /// from memory before the store could take it.
    pub state: DeliveryState,
    pub at: DateTime<Utc>,
    pub attempts: u32,
    /// When a pending notification is next due (`at` for a new one).
    pub due_at: DateTime<Utc>,
    pub last_error: Option<&'a str>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A queued notification the dispatcher is to attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNotification {
    pub id: i64,
    pub incident_id: i64,
    pub channel: String,
    pub kind: String,
    pub event: String,
    pub payload: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// One notification in an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRecord {
    pub id: i64,
    pub channel: String,
    pub kind: String,
    pub event: String,
    pub outcome: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "crate::wire::time")]
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    #[serde(with = "crate::wire::time_opt")]
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was delivered or failed for good.
    #[serde(with = "crate::wire::time_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Pending: when the next attempt is due.
    #[serde(with = "crate::wire::time_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A notification that failed for good: what the status page warns about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedNotification {
    pub id: i64,
    pub incident_id: i64,
    pub environment: String,
    pub channel: String,
    pub kind: String,
    pub event: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "crate::wire::time")]
    pub failed_at: DateTime<Utc>,
}

pub(super) async fn insert(
    conn: &mut SqliteConnection,
    n: &NewNotification<'_>,
) -> Result<i64, StoreError> {
    let id = sqlx::query_scalar(
        "INSERT INTO outbox (incident_id, channel, kind, event, payload, state, created_at_ms,
                             due_at_ms, attempts, last_error, finished_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
    )
    .bind(n.incident_id)
    .bind(n.channel)
    .bind(n.kind)
    .bind(n.event)
    .bind(n.payload)
    .bind(n.state.as_str())
    .bind(ms(n.at))
    .bind(ms(n.due_at))
    .bind(i64::from(n.attempts))
    .bind(n.last_error)
    .bind(n.finished_at.map(ms))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The timelines of `ids`, oldest notification first, by incident id.
pub(super) async fn for_incidents(
    conn: &mut SqliteConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<NotificationRecord>>, StoreError> {
    let mut timelines: HashMap<i64, Vec<NotificationRecord>> = HashMap::new();
    if ids.is_empty() {
        return Ok(timelines);
    }
    let ids_json = serde_json::to_string(ids).map_err(StoreError::Encode)?;
    let rows = sqlx::query(
        "SELECT incident_id, id, channel, kind, event, state, attempts, last_error,
                created_at_ms, due_at_ms, finished_at_ms
         FROM outbox WHERE incident_id IN (SELECT value FROM json_each(?1))
         ORDER BY incident_id, id",
    )
    .bind(ids_json)
    .fetch_all(conn)
    .await?;
    for row in &rows {
        let (incident_id, record) = super::decode::timeline_entry(row)?;
        timelines.entry(incident_id).or_default().push(record);
    }
    Ok(timelines)
}

pub(super) fn attempts(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

impl SqliteStore {
    /// Pending notifications due at `now`, earliest first.
    #[tracing::instrument(skip_all)]
    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotification>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(
            "SELECT id, incident_id, channel, kind, event, payload, attempts, created_at_ms,
                    due_at_ms, last_error
             FROM outbox WHERE state = 'pending' AND due_at_ms <= ?1
             ORDER BY due_at_ms, id LIMIT ?2",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(super::decode::pending).collect()
    }

    /// When the earliest pending notification is due, if any is pending.
    pub async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_at_ms) FROM outbox WHERE state = 'pending'")
                .fetch_one(&mut *conn)
                .await?;
        Ok(due.map(from_ms))
    }

    pub async fn notification_delivered(
        &self,
        id: i64,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish(id, DeliveryState::Delivered, attempts, at, None)
            .await
    }

    pub async fn notification_failed(
        &self,
        id: i64,
        attempts: u32,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.finish(id, DeliveryState::Failed, attempts, at, Some(error))
            .await
    }

    /// Record a failed attempt worth repeating at `due`.
    pub async fn notification_retry(
        &self,
        id: i64,
        attempts: u32,
        due: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut conn = WriteTx::begin(&self.writer()).await?;
        sqlx::query(
            "UPDATE outbox SET attempts = ?2, due_at_ms = ?3, last_error = ?4
             WHERE id = ?1 AND state = 'pending'",
        )
        .bind(id)
        .bind(i64::from(attempts))
        .bind(ms(due))
        .bind(error)
        .execute(&mut *conn)
        .await?;
        conn.commit().await
    }

    /// Move a pending notification to `due` without counting an attempt (channel pacing).
    pub async fn notification_postponed(
        &self,
        id: i64,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = WriteTx::begin(&self.writer()).await?;
        sqlx::query("UPDATE outbox SET due_at_ms = ?2 WHERE id = ?1 AND state = 'pending'")
            .bind(id)
            .bind(ms(due))
            .execute(&mut *conn)
            .await?;
        conn.commit().await
    }

    async fn finish(
        &self,
        id: i64,
        state: DeliveryState,
        attempts: u32,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = WriteTx::begin(&self.writer()).await?;
        sqlx::query(
            "UPDATE outbox SET state = ?2, attempts = ?3, finished_at_ms = ?4,
                               last_error = COALESCE(?5, last_error)
             WHERE id = ?1 AND state = 'pending'",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(i64::from(attempts))
        .bind(ms(at))
        .bind(error)
        .execute(&mut *conn)
        .await?;
        conn.commit().await
    }

    /// Pending notifications that were due before `before`: with a working dispatcher there
    /// are none for long, so some mean notifications are stuck.
    pub async fn overdue_notifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND due_at_ms < ?1",
        )
        .bind(ms(before))
        .fetch_one(&mut *conn)
        .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Notifications that failed for good since `since`, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn failed_notifications(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FailedNotification>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(
            "SELECT o.id, o.incident_id, e.name, o.channel, o.kind, o.event, o.attempts,
                    o.last_error, o.finished_at_ms
             FROM outbox o
             JOIN incidents i ON i.id = o.incident_id
             JOIN environments e ON e.id = i.env_id
             WHERE o.state = 'failed' AND o.finished_at_ms >= ?1
             ORDER BY o.finished_at_ms DESC, o.id DESC LIMIT ?2",
        )
        .bind(ms(since))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(super::decode::failed).collect()
    }
}
