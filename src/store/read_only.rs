//! [`ReadOnlyStore`]: what the web serves from the store, and no write: the API and the pages
//! read runs, history, incidents and the fleet's instances through it.

use chrono::{DateTime, Utc};

use super::{
    DayUptime, HourLatency, IncidentFilter, IncidentRecord, InstanceRecord, Store, StoreError,
    StoredRun,
};

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadOnlyStore {
    store: Store,
}

impl ReadOnlyStore {
    pub(super) fn new(store: Store) -> ReadOnlyStore {
        ReadOnlyStore { store }
    }

    /// See [`super::RunStore::newest`].
    pub async fn runs(
        &self,
        env: &str,
        limit: u32,
        before: Option<i64>,
        location: Option<&str>,
    ) -> Result<Vec<StoredRun>, StoreError> {
        let runs = self.store.runs();
        runs.newest(env, limit, before, location).await
    }

    /// See [`super::RunStore::history`].
    pub async fn history(
        &self,
        env: &str,
        hours_from: DateTime<Utc>,
        days_from: DateTime<Utc>,
    ) -> Result<(Vec<HourLatency>, Vec<DayUptime>), StoreError> {
        let runs = self.store.runs();
        runs.history(env, hours_from, days_from).await
    }

    /// Incidents, newest first, each with its notifications.
    pub async fn incidents(
        &self,
        filter: &IncidentFilter<'_>,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        self.store.alerts().incidents(filter).await
    }

    /// Every instance writing to a shared store, and the holder of the lease `lease`; `None`
    /// for a single node, which is its own only instance.
    pub async fn instances(
        &self,
        lease: &str,
    ) -> Result<Option<(Vec<InstanceRecord>, Option<String>)>, StoreError> {
        let Some(fleet) = self.store.fleet() else {
            return Ok(None);
        };
        let instances = fleet.instances().await?;
        Ok(Some((instances, fleet.lease_holder(lease).await?)))
    }

    /// See [`Store::instance_id`].
    pub fn instance_id(&self) -> &str {
        self.store.instance_id()
    }
}
