//! Stores under test: an SQLite file in a temporary directory, and PostgreSQL when installed.

use std::path::PathBuf;

use wsprobe::probe::result::ProbeResult;
use wsprobe::store::{NewRun, Store, StoreError};

use super::pg::Postgres;

/// A database file that lives as long as its temporary directory.
pub struct TestDb {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

/// One store under test and what keeps it alive.
pub struct Backend {
    pub name: &'static str,
    pub store: Store,
    /// The database's file or URL, for [`Backend::another`].
    location: String,
    _sqlite: Option<TestDb>,
}

impl Backend {
    /// A second store on the same database, as another process (another instance of a
    /// fleet) opens it.
    pub async fn another(&self) -> Store {
        match self._sqlite {
            Some(_) => Store::open(std::path::Path::new(&self.location))
                .await
                .unwrap(),
            None => Store::connect(&self.location, "test-location", "another-instance")
                .await
                .unwrap(),
        }
    }
}

/// A fresh store on every backend this machine has: an SQLite file always, a PostgreSQL
/// database of its own on the test run's server when PostgreSQL is installed (always under
/// CI).
pub async fn each_backend() -> Vec<Backend> {
    let db = temp_db();
    let mut backends = vec![Backend {
        name: "sqlite",
        store: Store::open(&db.path).await.unwrap(),
        location: db.path.display().to_string(),
        _sqlite: Some(db),
    }];
    if let Some(postgres) = Postgres::shared() {
        let url = postgres.url(&postgres.fresh_database("store").await);
        backends.push(Backend {
            name: "postgres",
            store: Store::connect(&url, "test-location", "test-instance")
                .await
                .unwrap(),
            location: url,
            _sqlite: None,
        });
    }
    backends
}

pub fn temp_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wsprobe.db");
    TestDb { _dir: dir, path }
}

/// Another process's connection takes SQLite's write lock on `db` and keeps it until dropped
/// (readers still read: the store is in WAL mode).
pub async fn hold_write_lock(db: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}

/// Store one result as the daemon's writer does (a batch of one); its id.
pub async fn insert(
    store: &Store,
    result: &ProbeResult,
    in_maintenance: bool,
) -> Result<i64, StoreError> {
    insert_held(store, result, in_maintenance, None).await
}

/// `result` as the daemon's writer queues it outside any slot, maintenance or silence.
pub fn unheld(result: ProbeResult) -> NewRun {
    NewRun {
        result: std::sync::Arc::new(result),
        in_maintenance: false,
        silence: None,
        slot: None,
    }
}

/// [`insert`], matched by the silence `silence` when one is given.
pub async fn insert_held(
    store: &Store,
    result: &ProbeResult,
    in_maintenance: bool,
    silence: Option<i64>,
) -> Result<i64, StoreError> {
    let run = NewRun {
        result: std::sync::Arc::new(result.clone()),
        in_maintenance,
        silence,
        slot: None,
    };
    Ok(store.runs().insert_runs(&[&run]).await?[0])
}
