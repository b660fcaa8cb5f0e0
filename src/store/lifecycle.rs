//! [`Store`]: the SQLite file of a single node or the PostgreSQL a fleet shares, opened,
//! healed, pruned and closed here, and the views each caller reads and writes through
//! ([`RunStore`], [`AlertStore`], [`FleetStore`], [`ReadOnlyStore`]).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::postgres::PgStore;
use super::sqlite::{FileStatus, SqliteStore};
use super::{AlertStore, FleetStore, ReadOnlyStore, RunStore, StoreError};

/// Cheap to clone; `close` on any clone closes the store for all.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

/// The database behind a store and its views.
#[derive(Debug, Clone)]
pub(super) enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The same call on whichever database this is.
macro_rules! either {
    ($backend:expr, $db:ident => $call:expr) => {
        match $backend {
            Backend::Sqlite($db) => $call,
            Backend::Postgres($db) => $call,
        }
    };
}
pub(super) use either;

impl Store {
    /// The SQLite file at `path` (or an SQLite URI), created and migrated if need be.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let backend = Backend::Sqlite(SqliteStore::open(path).await?);
        Ok(Store { backend })
    }

    /// The shared PostgreSQL at `url`, migrated, with this instance registered in it; or,
    /// when it does not answer yet, a store that keeps trying in the background and fails its
    /// writes meanwhile ([`Store::is_up`]). `Err` for a bad URL, a refused login or a
    /// database that does not exist ([`super::postgres::is_bad_config`]).
    pub async fn connect(
        url: &str,
        location: &str,
        instance_id: &str,
    ) -> Result<Store, StoreError> {
        let pg = PgStore::connect(url, location, instance_id).await?;
        Ok(Store {
            backend: Backend::Postgres(pg),
        })
    }

    /// Whether the store has been reached: always for SQLite; for PostgreSQL once it
    /// answered, was migrated and has this instance registered.
    pub fn is_up(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => true,
            Backend::Postgres(pg) => pg.is_up(),
        }
    }

    /// Where a shared store is (`host:port/database`, no credentials); `None` for SQLite.
    pub fn target(&self) -> Option<&str> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.target()),
        }
    }

    /// Results in; runs, history and summaries out.
    pub fn runs(&self) -> RunStore {
        RunStore::new(self.backend.clone())
    }

    /// Incidents, alert state and the notification outbox.
    pub fn alerts(&self) -> AlertStore {
        AlertStore::new(self.backend.clone())
    }

    /// What only a fleet has (slot claims, instances, the evaluator's lease, the newest
    /// result per location): `None` on a single node's SQLite file.
    pub fn fleet(&self) -> Option<FleetStore> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(FleetStore::new(pg.clone())),
        }
    }

    /// What the web serves, without a way to write.
    pub fn read_only(&self) -> ReadOnlyStore {
        ReadOnlyStore::new(self.backend.clone())
    }

    /// Whether the file at an SQLite store's path is still the one open (PostgreSQL has no
    /// file: always `Same`).
    pub fn file_status(&self) -> FileStatus {
        match &self.backend {
            Backend::Sqlite(s) => s.file_status(),
            Backend::Postgres(_) => FileStatus::Same,
        }
    }

    /// SQLite: reopen a file replaced under the daemon. PostgreSQL has no file, and its pool
    /// reconnects by itself.
    pub async fn heal(&self) -> Result<FileStatus, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.heal().await,
            Backend::Postgres(_) => Ok(FileStatus::Same),
        }
    }

    /// The OTLP `service.instance.id`: stable across restarts on the same SQLite file; an
    /// instance's own name in a fleet.
    pub fn instance_id(&self) -> &str {
        either!(&self.backend, db => db.instance_id())
    }

    /// Delete what is older than `retention` (rollups: [`super::ROLLUP_RETENTION`], if
    /// longer). Returns how many runs were deleted.
    pub async fn prune(&self, retention: Duration, now: DateTime<Utc>) -> Result<u64, StoreError> {
        either!(&self.backend, db => db.prune(retention, now).await)
    }

    /// A real write, for /readyz: a read-only file or a full disk fails it.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        either!(&self.backend, db => db.check_writable().await)
    }

    pub async fn close(self) {
        either!(self.backend, db => db.close().await)
    }
}
