//! The incidents instances paged while this database was away (`away_incidents`): reported by
//! the instance that paged, read and marked reconciled by the evaluator (`crate::fleet::away`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::fleet::FleetStore;
use crate::incident::Open;
use crate::store::StoreError;
use crate::store::codec;

/// One incident paged without the database, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct AwayRecord {
    pub id: i64,
    /// The instance that paged it.
    pub instance: String,
    pub environment: String,
    pub location: String,
    pub open: Open,
    pub diagnosis: String,
    /// The `triggered` notification as sent (JSON).
    pub triggered: String,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The `resolved` notification as sent, if it was sent while away (JSON).
    pub resolved: Option<String>,
}

impl FleetStore {
    /// One cheap round trip: whether the database answers at all.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// Report `record` (again: a report repeated after a lost answer changes nothing but
    /// what the instance learnt since, a resolve).
    pub async fn report_away_incident(&self, record: &AwayRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO away_incidents (id, instance, environment, location, started_at_ms,
                 opened_at_ms, verdict, flapping, diagnosis, triggered, resolved_at_ms, resolved)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12::jsonb)
             ON CONFLICT (id, instance) DO UPDATE SET
                 resolved_at_ms = COALESCE(away_incidents.resolved_at_ms, excluded.resolved_at_ms),
                 resolved = COALESCE(away_incidents.resolved, excluded.resolved)",
        )
        .bind(record.id)
        .bind(&record.instance)
        .bind(&record.environment)
        .bind(&record.location)
        .bind(codec::ms(record.open.since))
        .bind(codec::ms(record.open.opened_at))
        .bind(codec::verdict_code(record.open.verdict))
        .bind(record.open.flapping)
        .bind(&record.diagnosis)
        .bind(&record.triggered)
        .bind(record.resolved_at.map(codec::ms))
        .bind(record.resolved.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Reported incidents the evaluator has not reconciled yet, oldest report first.
    pub async fn unreconciled_away_incidents(
        &self,
        limit: u32,
    ) -> Result<Vec<AwayRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, instance, environment, location, started_at_ms, opened_at_ms, verdict,
                 flapping, diagnosis, triggered::text, resolved_at_ms, resolved::text
             FROM away_incidents WHERE reconciled_at IS NULL
             ORDER BY reported_at, id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(away_record).collect()
    }

    /// Mark reported incident `id` (from every instance that reported it) reconciled.
    pub async fn away_incident_reconciled(&self, id: i64, how: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE away_incidents SET reconciled_at = now(), reconciled_as = $2
             WHERE id = $1 AND reconciled_at IS NULL",
        )
        .bind(id)
        .bind(how)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

fn away_record(row: &sqlx::postgres::PgRow) -> Result<AwayRecord, StoreError> {
    let verdict = codec::verdict_from_code(row.try_get(6)?)?;
    let opened_at = codec::from_ms(row.try_get(5)?);
    Ok(AwayRecord {
        id: row.try_get(0)?,
        instance: row.try_get(1)?,
        environment: row.try_get(2)?,
        location: row.try_get(3)?,
        open: Open {
            since: codec::from_ms(row.try_get(4)?),
            opened_at,
            verdict,
            last_notice_at: opened_at,
            announced: true,
            acknowledged: false,
            flapping: row.try_get(7)?,
        },
        diagnosis: row.try_get(8)?,
        triggered: row.try_get(9)?,
        resolved_at: row.try_get::<Option<i64>, _>(10)?.map(codec::from_ms),
        resolved: row.try_get(11)?,
    })
}
