//! [`ReadOnlyStore`]: what the web serves from the store, and no write: the API and the pages
//! read runs, history, incidents and the fleet's instances through it.

use super::lifecycle::either;
use super::postgres::FleetStore;
use super::{
    AlertStore, Backend, History, HistoryFrom, IncidentFilter, IncidentRecord, InstanceRecord,
    RunsPage, StoreError, StoredRun,
};

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadOnlyStore {
    backend: Backend,
}

impl ReadOnlyStore {
    pub(super) fn new(backend: Backend) -> ReadOnlyStore {
        ReadOnlyStore { backend }
    }

    /// A page of `env`'s runs, newest first.
    pub async fn runs(&self, env: &str, page: RunsPage<'_>) -> Result<Vec<StoredRun>, StoreError> {
        either!(&self.backend, db => db.runs(env, page).await)
    }

    /// `env`'s hourly latency percentiles and daily run counts, from its rollups.
    pub async fn history(&self, env: &str, from: HistoryFrom) -> Result<History, StoreError> {
        either!(&self.backend, db => db.history(env, from).await)
    }

    /// Incidents, newest first, each with its notifications.
    pub async fn incidents(
        &self,
        filter: &IncidentFilter<'_>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        AlertStore::new(self.backend.clone())
            .incidents(filter)
            .await
    }

    /// One incident with its timeline.
    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        AlertStore::new(self.backend.clone()).incident(id).await
    }

    /// Silences newest first (see [`AlertStore::silences`]).
    pub async fn silences(
        &self,
        all: bool,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<crate::oncall::Silence>, StoreError> {
        AlertStore::new(self.backend.clone())
            .silences(all, now, limit)
            .await
    }

    /// Every instance writing to a shared store, and the holder of the lease `lease`; `None`
    /// for a single node, which is its own only instance.
    pub async fn instances(
        &self,
        lease: &str,
    ) -> Result<Option<(Vec<InstanceRecord>, Option<String>)>, StoreError> {
        let Backend::Postgres(pg) = &self.backend else {
            return Ok(None);
        };
        let fleet = FleetStore::new(pg.clone());
        let instances = fleet.instances().await?;
        Ok(Some((instances, fleet.lease_holder(lease).await?)))
    }

    /// See [`super::Store::instance_id`].
    pub fn instance_id(&self) -> &str {
        either!(&self.backend, db => db.instance_id())
    }
}
