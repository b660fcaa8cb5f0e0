//! Probe requests: a location whose probe failed asks the others to probe the environment now
//! (the fleet's `requests` module decides which to answer). One answer per location: the
//! replica whose row in `probe_answers` lands probes, as with slot claims.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::FleetStore;
use crate::store::StoreError;

/// A request as the other locations read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRequest {
    pub id: i64,
    pub environment: String,
    /// The location whose probe failed.
    pub location: String,
    /// On the database's clock, as every instance reads it: no instance's own clock decides.
    pub expires_at: DateTime<Utc>,
}

impl FleetStore {
    /// Ask every other location to probe `env` now; the request expires `lifetime` from now on
    /// the database's clock.
    pub async fn request_probes(&self, env: &str, lifetime: Duration) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO probe_requests (environment, location, instance, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .bind(env)
        .bind(self.location())
        .bind(self.instance_id())
        .bind(lifetime.as_secs_f64())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Requests of the last minutes that no replica of this location has answered (this
    /// location's own included: they say it is confirming itself), and the database's clock.
    pub async fn open_probe_requests(
        &self,
    ) -> Result<(Vec<ProbeRequest>, Option<DateTime<Utc>>), StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.environment, r.location, r.expires_at, now() FROM probe_requests r
             WHERE r.expires_at > now() - interval '10 minutes'
               AND NOT EXISTS (SELECT 1 FROM probe_answers a
                               WHERE a.request_id = r.id AND a.location = $1)
             ORDER BY r.id LIMIT 1000",
        )
        .bind(self.location())
        .fetch_all(self.pool())
        .await?;
        let mut now = None;
        let requests = rows
            .iter()
            .map(|row| {
                now = Some(row.try_get(4)?);
                Ok(ProbeRequest {
                    id: row.try_get(0)?,
                    environment: row.try_get(1)?,
                    location: row.try_get(2)?,
                    expires_at: row.try_get(3)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((requests, now))
    }

    /// Answer request `id` for this location: true for the one replica whose claim landed.
    pub async fn claim_request(&self, id: i64) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "INSERT INTO probe_answers (request_id, location, instance) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(self.location())
        .bind(self.instance_id())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// Forget requests expired an hour ago (their answers go with them).
    pub async fn prune_probe_requests(&self) -> Result<u64, StoreError> {
        let pruned =
            sqlx::query("DELETE FROM probe_requests WHERE expires_at < now() - interval '1 hour'")
                .execute(self.pool())
                .await?
                .rows_affected();
        Ok(pruned)
    }
}
