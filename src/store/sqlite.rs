//! The SQLite backend: one file, one writer connection and a read-only pool beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::codec::RunContext;
use super::write::WriteTx;
use super::{
    ACQUIRE_TIMEOUT, BUSY_TIMEOUT, History, HistoryFrom, MIGRATOR, NewRun, PRUNE_BATCH, READERS,
    ROLLUP_RETENTION, RunsPage, StoreError, StoredRun, Summary, before, blobs, codec, environments,
    meta, rollups, runs, skipped,
};
use crate::probe::result::{Headers, ProbeResult, Status, Verdict};

/// Cheap to clone (the pools are shared); `close` on any clone closes them for all.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// Replaced whole when the file under `path` is no longer the one opened (deleted, or
    /// swapped for another): see [`SqliteStore::heal`].
    pools: RwLock<Pools>,
    /// Read once at open: it never changes, and metrics need it before anything can fail.
    instance_id: String,
}

#[derive(Debug, Clone)]
struct Pools {
    /// One connection: SQLite's single writer, made explicit.
    writer: SqlitePool,
    /// Read-only connections for everything that only looks.
    reader: SqlitePool,
    /// The file the pools have open; `None` for an SQLite URI, which is not checked.
    file: Option<FileId>,
    /// Environment ids by name, as committed to this file: rows are never deleted, so an id
    /// once committed stays right, and a run's insert skips the lookup.
    env_ids: Arc<parking_lot::Mutex<HashMap<String, i64>>>,
}

/// Device and inode: a file deleted and created again, or replaced by a rename, has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(path).ok().map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// Whether the file at the store's path is still the one it has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Same,
    /// Deleted while open: writes would go to an unlinked file and be lost at restart.
    Missing,
    /// Another file now has the name.
    Replaced,
    /// The same file, overwritten in place with something that is not an SQLite database
    /// (`cp` over it): with WAL, writes would go on "succeeding" until the next checkpoint.
    NotDatabase,
}

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Whether `path` starts like an SQLite database (an empty file is one not written yet).
fn looks_like_sqlite(path: &Path) -> bool {
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open(path) else {
        return true;
    };
    let mut head = [0u8; 16];
    match file.read(&mut head) {
        Ok(0) => true,
        Ok(16) => &head == SQLITE_MAGIC,
        Ok(_) | Err(_) => false,
    }
}

impl SqliteStore {
    /// Open (creating if missing) and migrate. `path` may also be an SQLite URI
    /// (`file:wsprobe.db?mode=ro`). An already migrated file that cannot be written opens
    /// fine: reads work and every write returns an error.
    #[tracing::instrument(skip_all, fields(path = %path.display()))]
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let pools = open_pools(path, true).await?;
        let instance_id = {
            let mut tx = WriteTx::begin(&pools.writer).await?;
            let id = meta::instance_id(&mut tx).await?;
            tx.commit().await?;
            id
        };
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                pools: RwLock::new(pools),
                instance_id,
            }),
        })
    }

    pub(super) fn writer(&self) -> SqlitePool {
        self.inner.pools.read().writer.clone()
    }

    pub(super) fn reader(&self) -> SqlitePool {
        self.inner.pools.read().reader.clone()
    }

    /// Whether the file at the path is still the one open.
    pub fn file_status(&self) -> FileStatus {
        let Some(opened) = self.inner.pools.read().file else {
            return FileStatus::Same;
        };
        match FileId::of(&self.inner.path) {
            None => FileStatus::Missing,
            Some(now) if now != opened => FileStatus::Replaced,
            Some(_) if !looks_like_sqlite(&self.inner.path) => FileStatus::NotDatabase,
            Some(_) => FileStatus::Same,
        }
    }

    /// `Err` saying what happened when the file at the path is not the database open: a
    /// write now would go to an unlinked file, or into the log of a file that is garbage.
    pub fn usable(&self) -> Result<(), StoreError> {
        let path = || self.inner.path.display().to_string();
        match self.file_status() {
            FileStatus::Same => Ok(()),
            FileStatus::Missing => Err(StoreError::FileDeleted(path())),
            FileStatus::NotDatabase => Err(StoreError::NotDatabase(path())),
            FileStatus::Replaced => Err(StoreError::FileReplaced(path())),
        }
    }

    /// When another file has taken the path, open it and carry on there: writes resume by
    /// themselves once the path holds a usable database again (a file that does not open
    /// leaves the old pools, and the error says why). A file deleted is not made anew behind
    /// the operator's back (its history would vanish with a 200 from `/readyz`), nor is one
    /// overwritten in place written on: both fail ([`SqliteStore::usable`]), and results wait
    /// in the daemon's spool until a database is back at the path or the daemon restarts.
    pub async fn heal(&self) -> Result<FileStatus, StoreError> {
        let status = self.file_status();
        if status == FileStatus::Same {
            return Ok(status);
        }
        if status != FileStatus::Replaced {
            return self.usable().map(|()| status);
        }
        let fresh = open_pools(&self.inner.path, false).await?;
        if fresh.file.is_none() {
            // Deleted while it was being opened: keep saying so.
            return self.usable().map(|()| status);
        }
        {
            let mut tx = WriteTx::begin(&fresh.writer).await?;
            meta::keep_instance_id(&mut tx, &self.inner.instance_id).await?;
            tx.commit().await?;
        }
        let old = std::mem::replace(&mut *self.inner.pools.write(), fresh);
        tracing::warn!(path = %self.inner.path.display(), ?status, "the store file changed under the daemon: reopened it");
        old.reader.close().await;
        old.writer.close().await;
        Ok(status)
    }

    /// Store several results in one transaction, all or none: the daemon's writer commits
    /// what queued meanwhile together, so a busy minute costs a few commits, not thousands.
    /// Returns their ids, in order.
    #[tracing::instrument(skip_all, fields(runs = runs.len()))]
    pub async fn insert_runs(&self, runs: &[&NewRun]) -> Result<Vec<i64>, StoreError> {
        // Encode before taking the writer: it is held for SQL only.
        let encoded = runs
            .iter()
            .map(|run| EncodedRun::of(&run.result))
            .collect::<Result<Vec<_>, _>>()?;
        let mut batch_blobs = blobs::BatchBlobs::default();
        for (run, encoded) in runs.iter().zip(&encoded) {
            encoded.add_blobs(&run.result, &mut batch_blobs);
        }
        let (writer, known) = {
            let pools = self.inner.pools.read();
            (pools.writer.clone(), pools.env_ids.clone())
        };
        let mut env_ids = EnvIds::new(&known);
        let mut tx = WriteTx::begin(&writer).await?;
        env_ids
            .learn(
                &mut tx,
                runs.iter().map(|run| run.result.environment.as_str()),
            )
            .await?;
        batch_blobs.acquire(&mut tx).await?;
        let mut rows = Vec::with_capacity(runs.len());
        let mut counts = Vec::with_capacity(runs.len());
        for (run, encoded) in runs.iter().zip(&encoded) {
            let env_id = env_ids.get(&mut tx, &run.result.environment).await?;
            rows.push(runs::NewRow {
                env_id,
                run,
                refs: encoded.refs(&run.result, &batch_blobs)?,
            });
            counts.push(rollups::RunCount {
                env_id,
                hour: codec::hour_start(run.result.started_at),
                status: run.result.status,
                total_ms: run.result.phases_ms.total,
                in_maintenance: run.in_maintenance,
            });
        }
        let ids = runs::insert(&mut tx, rows).await?;
        rollups::add_runs(&mut tx, &counts).await?;
        tx.commit().await?;
        env_ids.committed();
        Ok(ids)
    }

    /// Record a slot skipped because the previous probe was still running. Recording the same
    /// slot again is a no-op.
    #[tracing::instrument(skip_all, fields(environment = %env))]
    pub async fn record_skipped(&self, env: &str, slot: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = WriteTx::begin(&self.writer()).await?;
        let env_id = environments::id_for(&mut tx, env).await?;
        if skipped::insert(&mut tx, env_id, slot.timestamp_millis()).await? {
            rollups::add_skipped(&mut tx, env_id, codec::hour_start(slot)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A page of `env`'s runs. Unknown environments and cursors no longer stored give an
    /// empty page. A single node's runs are all from its one location (or none): the
    /// location filter applies to what each run says.
    #[tracing::instrument(skip_all, fields(environment = %env))]
    pub async fn runs(&self, env: &str, page: RunsPage<'_>) -> Result<Vec<StoredRun>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        let mut runs = runs::newest(&mut conn, env, page.limit, page.before).await?;
        if let Some(location) = page.location {
            runs.retain(|run| run.result.location.as_deref() == Some(location));
        }
        Ok(runs)
    }

    /// The newest run of every environment that has one, by environment name.
    #[tracing::instrument(skip_all)]
    pub async fn latest(&self) -> Result<Vec<StoredRun>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        runs::latest(&mut conn).await
    }

    /// The last `n` outcomes of `env`, newest first, without any blob: the status bar.
    #[tracing::instrument(skip_all, fields(environment = %env))]
    pub async fn recent_statuses(
        &self,
        env: &str,
        n: u32,
    ) -> Result<Vec<(DateTime<Utc>, Status, Verdict)>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        runs::recent_statuses(&mut conn, env, n).await
    }

    /// `env`'s history from its rollups: the environment page's chart and uptime bars.
    #[tracing::instrument(skip_all, fields(environment = %env))]
    pub async fn history(&self, env: &str, from: HistoryFrom) -> Result<History, StoreError> {
        let mut tx = self.reader().begin().await?;
        let (hours, days) = (from.hours.timestamp(), from.days.timestamp());
        let history = rollups::history(&mut tx, env, hours, days).await?;
        tx.commit().await?;
        Ok(history)
    }

    /// `env`'s daily runs from `from_hour` on, maintenance left out (see
    /// [`rollups::days_outside_maintenance`]).
    pub async fn days_outside_maintenance(
        &self,
        env: &str,
        from_hour: i64,
    ) -> Result<Vec<super::DayUptime>, StoreError> {
        let mut conn = self.reader().acquire().await?;
        rollups::days_outside_maintenance(&mut conn, env, from_hour).await
    }

    /// `env`'s burn-rate windows ending at `now` (see [`super::burn`]).
    pub async fn burn_windows(
        &self,
        env: &str,
        now: DateTime<Utc>,
    ) -> Result<crate::slo::burn::Windows, StoreError> {
        super::burn::sqlite(&self.reader(), env, now).await
    }

    /// Every environment the store knows, in two queries whatever their number.
    #[tracing::instrument(skip_all)]
    pub async fn summaries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Summary>, StoreError> {
        let mut tx = self.reader().begin().await?;
        let all = rollups::summaries(&mut tx, now).await?;
        tx.commit().await?;
        Ok(all)
    }

    /// The OTLP `service.instance.id`, stable across restarts on the same file.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// Delete runs and skipped slots older than `retention`, blobs no run points at any more,
    /// and rollups older than [`ROLLUP_RETENTION`] (or `retention`, if longer). Works in
    /// batches of [`PRUNE_BATCH`] runs, one transaction each, so inserts get the writer in
    /// between. Returns how many runs were deleted.
    #[tracing::instrument(skip_all)]
    pub async fn prune(&self, retention: Duration, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let runs_before_ns = before(now, retention)
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(i64::MIN);
        let slots_before_ms = before(now, retention)
            .map(|t| t.timestamp_millis())
            .unwrap_or(i64::MIN);
        let rollups_before = before(now, retention.max(ROLLUP_RETENTION))
            .map(codec::hour_start)
            .unwrap_or(i64::MIN);

        let env_ids = {
            let mut conn = self.reader().acquire().await?;
            environments::all_ids(&mut conn).await?
        };
        let mut deleted = 0;
        for env_id in env_ids {
            loop {
                let mut tx = WriteTx::begin(&self.writer()).await?;
                let (n, released) =
                    runs::delete_before(&mut tx, env_id, runs_before_ns, PRUNE_BATCH).await?;
                blobs::release(&mut tx, &released).await?;
                let done = n < u64::from(PRUNE_BATCH);
                if done {
                    skipped::delete_before(&mut tx, env_id, slots_before_ms).await?;
                    rollups::delete_before(&mut tx, env_id, rollups_before).await?;
                }
                tx.commit().await?;
                deleted += n;
                if done {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "pruned runs older than the retention");
        }
        Ok(deleted)
    }

    /// A real write through the writer, for /readyz: a read-only file or a full disk fails it.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let mut tx = WriteTx::begin(&self.writer()).await?;
        meta::heartbeat(&mut tx, &Utc::now().to_rfc3339()).await?;
        tx.commit().await
    }

    /// Close both pools. The writer goes last: the last connection to close checkpoints the
    /// WAL into the database file.
    pub async fn close(self) {
        let pools = self.inner.pools.read().clone();
        pools.reader.close().await;
        pools.writer.close().await;
    }
}

/// Environment ids for one write transaction: the ones committed before from the pools'
/// cache, new ones looked up (or inserted) and added to the cache only once committed.
struct EnvIds<'a> {
    known: &'a parking_lot::Mutex<HashMap<String, i64>>,
    fresh: HashMap<String, i64>,
}

impl<'a> EnvIds<'a> {
    fn new(known: &'a parking_lot::Mutex<HashMap<String, i64>>) -> Self {
        EnvIds {
            known,
            fresh: HashMap::new(),
        }
    }

    /// Look up (or insert) every name not known yet in a few statements.
    async fn learn(
        &mut self,
        tx: &mut sqlx::SqliteConnection,
        names: impl Iterator<Item = &str>,
    ) -> Result<(), StoreError> {
        let unknown: Vec<&str> = {
            let known = self.known.lock();
            let mut seen = std::collections::HashSet::new();
            names
                .filter(|name| !known.contains_key(*name) && seen.insert(*name))
                .collect()
        };
        if !unknown.is_empty() {
            self.fresh
                .extend(environments::ids_for(tx, &unknown).await?);
        }
        Ok(())
    }

    async fn get(
        &mut self,
        tx: &mut sqlx::SqliteConnection,
        name: &str,
    ) -> Result<i64, StoreError> {
        if let Some(&id) = self.known.lock().get(name) {
            return Ok(id);
        }
        if let Some(&id) = self.fresh.get(name) {
            return Ok(id);
        }
        let id = environments::id_for(tx, name).await?;
        self.fresh.insert(name.to_owned(), id);
        Ok(id)
    }

    fn committed(self) {
        self.known.lock().extend(self.fresh);
    }
}

/// `create`: make the file when missing (at start); a reopen never does, or a file deleted
/// while it reopens would be made anew behind the operator's back.
async fn open_pools(path: &Path, create: bool) -> Result<Pools, StoreError> {
    let base = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(
            base.clone()
                .create_if_missing(create)
                .journal_mode(SqliteJournalMode::Wal)
                // In WAL mode NORMAL loses at most the last commits on power loss, never
                // consistency, and saves an fsync per insert.
                .synchronous(SqliteSynchronous::Normal),
        )
        .await?;
    MIGRATOR.run(&writer).await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(READERS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(base.read_only(true))
        .await?;
    Ok(Pools {
        file: FileId::of(path),
        writer,
        reader,
        env_ids: Arc::default(),
    })
}

/// A result's text parts, encoded before the writer is taken: it is held for SQL only.
struct EncodedRun {
    context: String,
    headers: Option<codec::SplitHeaders>,
    messages: Option<String>,
}

impl EncodedRun {
    fn of(result: &ProbeResult) -> Result<EncodedRun, StoreError> {
        let context = serde_json::to_string(&RunContext {
            url: result.url.clone(),
            location: result.location.clone(),
            subprotocol: result.subprotocol.clone(),
            version: result.version.clone(),
            tls: result.tls.clone(),
            client_close_code: result.client_close_code,
            client_close_reason: result.client_close_reason.clone(),
            protocol: result.protocol.clone(),
            peer: result.peer.clone(),
            addresses_tried: codec::addresses_to_store(result),
            confirmation: result.confirmation,
            requested_by: result.requested_by.clone(),
        })
        .map_err(StoreError::Encode)?;
        let headers = if result.headers == Headers::default() {
            None
        } else {
            Some(codec::split_headers(&result.headers)?)
        };
        let messages = if result.messages.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&result.messages).map_err(StoreError::Encode)?)
        };
        Ok(EncodedRun {
            context,
            headers,
            messages,
        })
    }

    /// Count this run's texts into the batch's blobs.
    fn add_blobs<'a>(&'a self, result: &'a ProbeResult, batch: &mut blobs::BatchBlobs<'a>) {
        batch.add(&self.context);
        if let Some(split) = &self.headers {
            batch.add(&split.template);
        }
        if let Some(json) = &self.messages {
            batch.add(json);
        }
        if let Some(body) = &result.body_excerpt {
            batch.add(body);
        }
    }

    /// The ids of this run's blobs, taken for the whole batch (`batch`).
    fn refs<'a>(
        &'a self,
        result: &ProbeResult,
        batch: &blobs::BatchBlobs<'_>,
    ) -> Result<runs::Refs<'a>, StoreError> {
        let (headers_id, header_values) = match &self.headers {
            Some(split) => (Some(batch.id(&split.template)?), split.values.as_deref()),
            None => (None, None),
        };
        Ok(runs::Refs {
            context_id: batch.id(&self.context)?,
            headers_id,
            header_values,
            messages_id: self.messages.as_deref().map(|m| batch.id(m)).transpose()?,
            body_id: result
                .body_excerpt
                .as_deref()
                .map(|b| batch.id(b))
                .transpose()?,
        })
    }
}
