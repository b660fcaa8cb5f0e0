//! Incidents and the per-environment alert state, and [`AlertTx`]: the one write transaction
//! in which an alert step reads the state, records incident changes, queues notifications
//! (`outbox.rs`) and saves the new state — all or nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::codec::ms;
use super::outbox::{self, NotificationRecord};
use super::write::WriteTx;
use super::{SqliteStore, StoreError, codec, environments};
use crate::incident::{MachineState, Open};
use crate::probe::Verdict;

/// What is persisted per environment: the state machine's state and the open incident's id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    pub state: MachineState,
    /// Set exactly when `state.open` is.
    pub incident_id: Option<i64>,
    /// The open incident's diagnosis, as read (saving ignores it: it lives on the incident).
    pub diagnosis: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Resolved => "resolved",
        }
    }
}

/// An incident with its timeline, as the API and the status page show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRecord {
    pub id: i64,
    pub environment: String,
    pub state: IncidentState,
    /// The first failing result of the outage.
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub opened_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time_opt")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub verdict: Verdict,
    pub diagnosis: String,
    /// Oldest first.
    pub notifications: Vec<NotificationRecord>,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter<'a> {
    pub state: Option<IncidentState>,
    pub environment: Option<&'a str>,
    pub limit: u32,
}

/// The alert transaction of one environment. Dropping it without `commit` rolls back.
pub struct SqliteAlertTx {
    tx: WriteTx,
    env_id: i64,
}

impl SqliteStore {
    /// Take the writer for one environment's alert step.
    #[tracing::instrument(skip_all, fields(environment = %env))]
    pub async fn begin_alerts(&self, env: &str) -> Result<SqliteAlertTx, StoreError> {
        let mut tx = WriteTx::begin(&self.writer()).await?;
        let env_id = environments::id_for(&mut tx, env).await?;
        Ok(SqliteAlertTx { tx, env_id })
    }

    /// Every environment's alert state, so that the engine starts knowing them all and never
    /// has to read the store in a step.
    pub async fn alert_states(&self) -> Result<Vec<(String, AlertState)>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query(STATE_QUERY).fetch_all(&mut *conn).await?;
        rows.iter().map(super::decode::alert_state).collect()
    }

    /// The id the next incident is to get: ids are handed out by the one engine that writes
    /// this file, in memory (see [`AlertTx::insert_incident`]).
    pub async fn next_incident_id(&self) -> Result<i64, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM incidents")
            .fetch_one(&mut *conn)
            .await?;
        Ok(max.unwrap_or(0) + 1)
    }

    /// Save the latest states of several environments in one transaction.
    pub async fn save_alert_states(
        &self,
        states: &[(&str, &AlertState)],
    ) -> Result<(), StoreError> {
        let mut tx = WriteTx::begin(&self.writer()).await?;
        for (env, state) in states {
            let env_id = environments::id_for(&mut tx, env).await?;
            save_state(&mut tx, env_id, state).await?;
        }
        tx.commit().await
    }

    /// Incidents, newest first, each with its notifications.
    #[tracing::instrument(skip_all)]
    pub async fn incidents(
        &self,
        filter: &IncidentFilter<'_>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let mut tx = self.reader().begin().await?;
        let rows = sqlx::query(
            "SELECT i.id, e.name, i.started_at_ms, i.opened_at_ms, i.resolved_at_ms, i.verdict,
                    i.diagnosis
             FROM incidents i JOIN environments e ON e.id = i.env_id
             WHERE (?1 IS NULL OR e.name = ?1)
               AND (?2 IS NULL
                    OR (?2 = 'open' AND i.resolved_at_ms IS NULL)
                    OR (?2 = 'resolved' AND i.resolved_at_ms IS NOT NULL))
             ORDER BY i.opened_at_ms DESC, i.id DESC
             LIMIT ?3",
        )
        .bind(filter.environment)
        .bind(filter.state.map(IncidentState::as_str))
        .bind(i64::from(filter.limit))
        .fetch_all(&mut *tx)
        .await?;
        let mut incidents = Vec::with_capacity(rows.len());
        for row in &rows {
            incidents.push(super::decode::incident(row)?);
        }
        let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
        let mut timelines = outbox::for_incidents(&mut tx, &ids).await?;
        tx.commit().await?;
        for incident in &mut incidents {
            incident.notifications = timelines.remove(&incident.id).unwrap_or_default();
        }
        Ok(incidents)
    }

    /// Every open incident: (environment, incident id).
    #[tracing::instrument(skip_all)]
    pub async fn open_incidents(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let rows = sqlx::query_as(
            "SELECT e.name, i.id FROM incidents i JOIN environments e ON e.id = i.env_id
             WHERE i.resolved_at_ms IS NULL ORDER BY e.name",
        )
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows)
    }
}

impl SqliteAlertTx {
    pub async fn save_state(&mut self, state: &AlertState) -> Result<(), StoreError> {
        save_state(&mut self.tx, self.env_id, state).await
    }

    /// Insert an incident under the id the alert engine gave it (see [`Store::next_incident_id`]):
    /// ids are handed out in memory so that a notification can name its incident before the
    /// store has taken either.
    pub async fn insert_incident(
        &mut self,
        id: i64,
        open: &Open,
        diagnosis: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incidents (id, env_id, started_at_ms, opened_at_ms, verdict, diagnosis)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(id)
        .bind(self.env_id)
        .bind(ms(open.since))
        .bind(ms(open.opened_at))
        .bind(codec::verdict_code(open.verdict))
        .bind(diagnosis)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn set_incident_verdict(
        &mut self,
        id: i64,
        verdict: Verdict,
        diagnosis: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET verdict = ?2, diagnosis = ?3 WHERE id = ?1")
            .bind(id)
            .bind(codec::verdict_code(verdict))
            .bind(diagnosis)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn resolve_incident(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET resolved_at_ms = ?2 WHERE id = ?1 AND resolved_at_ms IS NULL",
        )
        .bind(id)
        .bind(ms(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Queue one notification; `pending` ones are due at once.
    pub async fn enqueue(
        &mut self,
        notification: &outbox::NewNotification<'_>,
    ) -> Result<i64, StoreError> {
        outbox::insert(&mut self.tx, notification).await
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await
    }

    /// Nothing to write after all.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await
    }
}

async fn save_state(
    conn: &mut sqlx::SqliteConnection,
    env_id: i64,
    state: &AlertState,
) -> Result<(), StoreError> {
    let open = state.state.open.as_ref();
    sqlx::query(
        "INSERT INTO alert_state (env_id, failures, successes, failing_since_ms, incident_id,
                                  last_notice_at_ms, announced)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (env_id) DO UPDATE SET
             failures = excluded.failures, successes = excluded.successes,
             failing_since_ms = excluded.failing_since_ms, incident_id = excluded.incident_id,
             last_notice_at_ms = excluded.last_notice_at_ms, announced = excluded.announced",
    )
    .bind(env_id)
    .bind(i64::from(state.state.failures))
    .bind(i64::from(state.state.successes))
    .bind(state.state.failing_since.map(ms))
    .bind(state.incident_id.filter(|_| open.is_some()))
    .bind(open.map(|o| ms(o.last_notice_at)))
    .bind(open.is_some_and(|o| o.announced))
    .execute(conn)
    .await?;
    Ok(())
}

const STATE_QUERY: &str = "SELECT s.failures, s.successes, s.failing_since_ms, s.incident_id,
        s.last_notice_at_ms, s.announced, i.started_at_ms, i.opened_at_ms, i.verdict,
        i.diagnosis, e.name
     FROM alert_state s JOIN environments e ON e.id = s.env_id
     LEFT JOIN incidents i ON i.id = s.incident_id";

/// A stored counter back into a `u32`: the columns only ever hold small non-negative counts.
pub(super) fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}
