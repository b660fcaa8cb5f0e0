//! Incidents, alert state and the outbox on PostgreSQL: the same rows and rules as the SQLite
//! tables (`incidents.rs`, `outbox.rs`), keyed by environment name. Only the instance holding
//! the evaluator lease writes them, so incident ids are still handed out in memory.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::{PgStore, text};
use crate::incident::Open;
use crate::probe::Verdict;
use crate::store::codec::{self, from_ms, ms};
use crate::store::decode;
use crate::store::{
    AlertState, DeliveryState, FailedNotification, IncidentFilter, IncidentRecord, IncidentState,
    NewNotification, NotificationRecord, PendingNotification, StoreError,
};

/// One environment's alert step, all or nothing; dropped without `commit`, it rolls back.
pub struct PgAlertTx {
    tx: Transaction<'static, Postgres>,
    env: String,
}

impl PgStore {
    pub async fn begin_alerts(&self, env: &str) -> Result<PgAlertTx, StoreError> {
        Ok(PgAlertTx {
            tx: self.pool().begin().await?,
            env: env.to_owned(),
        })
    }

    pub async fn alert_states(&self) -> Result<Vec<(String, AlertState)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.failures, s.successes, s.failing_since_ms, s.incident_id,
                    s.last_notice_at_ms, s.announced, i.started_at_ms, i.opened_at_ms, i.verdict,
                    i.diagnosis, s.environment
             FROM alert_state s LEFT JOIN incidents i ON i.id = s.incident_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decode::alert_state).collect()
    }

    pub async fn next_incident_id(&self) -> Result<i64, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM incidents")
            .fetch_one(self.pool())
            .await?;
        Ok(max.unwrap_or(0) + 1)
    }

    pub async fn save_alert_states(
        &self,
        states: &[(&str, &AlertState)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for (env, state) in states {
            save_state(&mut tx, env, state).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn incidents(
        &self,
        filter: &IncidentFilter<'_>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, environment, started_at_ms, opened_at_ms, resolved_at_ms, verdict,
                    diagnosis
             FROM incidents
             WHERE ($1::TEXT IS NULL OR environment = $1)
               AND ($2::TEXT IS NULL
                    OR ($2 = 'open' AND resolved_at_ms IS NULL)
                    OR ($2 = 'resolved' AND resolved_at_ms IS NOT NULL))
             ORDER BY opened_at_ms DESC, id DESC
             LIMIT $3",
        )
        .bind(filter.environment)
        .bind(filter.state.map(IncidentState::as_str))
        .bind(i64::from(filter.limit))
        .fetch_all(self.pool())
        .await?;
        let mut incidents = Vec::with_capacity(rows.len());
        for row in &rows {
            incidents.push(decode::incident(row)?);
        }
        let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
        let mut timelines = self.timelines(&ids).await?;
        for incident in &mut incidents {
            incident.notifications = timelines.remove(&incident.id).unwrap_or_default();
        }
        Ok(incidents)
    }

    async fn timelines(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, Vec<NotificationRecord>>, StoreError> {
        let mut timelines: HashMap<i64, Vec<NotificationRecord>> = HashMap::new();
        if ids.is_empty() {
            return Ok(timelines);
        }
        let rows = sqlx::query(
            "SELECT incident_id, id, channel, kind, event, state, attempts, last_error,
                    created_at_ms, due_at_ms, finished_at_ms
             FROM outbox WHERE incident_id = ANY($1) ORDER BY incident_id, id",
        )
        .bind(ids)
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            let (incident_id, record) = decode::timeline_entry(row)?;
            timelines.entry(incident_id).or_default().push(record);
        }
        Ok(timelines)
    }

    pub async fn open_incidents(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT environment, id FROM incidents WHERE resolved_at_ms IS NULL
             ORDER BY environment",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    pub async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotification>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, incident_id, channel, kind, event, payload, attempts, created_at_ms,
                    due_at_ms, last_error
             FROM outbox WHERE state = 'pending' AND due_at_ms <= $1
             ORDER BY due_at_ms, id LIMIT $2",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decode::pending).collect()
    }

    pub async fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_at_ms) FROM outbox WHERE state = 'pending'")
                .fetch_one(self.pool())
                .await?;
        Ok(due.map(from_ms))
    }

    pub async fn finish_notification(
        &self,
        id: i64,
        state: DeliveryState,
        attempts: u32,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = $2, attempts = $3, finished_at_ms = $4,
                               last_error = COALESCE($5, last_error)
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(i64::from(attempts))
        .bind(ms(at))
        .bind(error.map(text).as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn notification_retry(
        &self,
        id: i64,
        attempts: u32,
        due: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET attempts = $2, due_at_ms = $3, last_error = $4
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(i64::from(attempts))
        .bind(ms(due))
        .bind(text(error).as_ref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn notification_postponed(
        &self,
        id: i64,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET due_at_ms = $2 WHERE id = $1 AND state = 'pending'")
            .bind(id)
            .bind(ms(due))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn overdue_notifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND due_at_ms < $1",
        )
        .bind(ms(before))
        .fetch_one(self.pool())
        .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    pub async fn failed_notifications(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<FailedNotification>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.id, o.incident_id, i.environment, o.channel, o.kind, o.event, o.attempts,
                    o.last_error, o.finished_at_ms
             FROM outbox o JOIN incidents i ON i.id = o.incident_id
             WHERE o.state = 'failed' AND o.finished_at_ms >= $1
             ORDER BY o.finished_at_ms DESC, o.id DESC LIMIT $2",
        )
        .bind(ms(since))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decode::failed).collect()
    }
}

impl PgAlertTx {
    pub async fn save_state(&mut self, state: &AlertState) -> Result<(), StoreError> {
        save_state(&mut self.tx, &self.env, state).await
    }

    pub async fn insert_incident(
        &mut self,
        id: i64,
        open: &Open,
        diagnosis: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incidents (id, environment, started_at_ms, opened_at_ms, verdict,
                                    diagnosis)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&self.env)
        .bind(ms(open.since))
        .bind(ms(open.opened_at))
        .bind(codec::verdict_code(open.verdict))
        .bind(text(diagnosis).as_ref())
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
        sqlx::query("UPDATE incidents SET verdict = $2, diagnosis = $3 WHERE id = $1")
            .bind(id)
            .bind(codec::verdict_code(verdict))
            .bind(text(diagnosis).as_ref())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn resolve_incident(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET resolved_at_ms = $2 WHERE id = $1 AND resolved_at_ms IS NULL",
        )
        .bind(id)
        .bind(ms(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn enqueue(&mut self, n: &NewNotification<'_>) -> Result<i64, StoreError> {
        let id = sqlx::query_scalar(
            "INSERT INTO outbox (incident_id, channel, kind, event, payload, state, created_at_ms,
                                 due_at_ms, attempts, last_error, finished_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
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
        .bind(n.last_error.map(text).as_deref())
        .bind(n.finished_at.map(ms))
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

async fn save_state(
    tx: &mut Transaction<'static, Postgres>,
    env: &str,
    state: &AlertState,
) -> Result<(), StoreError> {
    let open = state.state.open.as_ref();
    sqlx::query(
        "INSERT INTO alert_state (environment, failures, successes, failing_since_ms,
                                  incident_id, last_notice_at_ms, announced)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (environment) DO UPDATE SET
             failures = excluded.failures, successes = excluded.successes,
             failing_since_ms = excluded.failing_since_ms, incident_id = excluded.incident_id,
             last_notice_at_ms = excluded.last_notice_at_ms, announced = excluded.announced",
    )
    .bind(env)
    .bind(i64::from(state.state.failures))
    .bind(i64::from(state.state.successes))
    .bind(state.state.failing_since.map(ms))
    .bind(state.incident_id.filter(|_| open.is_some()))
    .bind(open.map(|o| ms(o.last_notice_at)))
    .bind(open.is_some_and(|o| o.announced))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
