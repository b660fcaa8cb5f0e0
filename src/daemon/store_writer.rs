//! Results reach the store through one queue and one writer task, so a probe never waits on
//! the disk: its slot is free as soon as the result is queued. The writer commits whatever
//! has queued meanwhile in one transaction (group commit), which under load turns thousands
//! of small transactions into a few large ones. After a quiet spell it waits [`GATHER`] for
//! more before writing, so that results spread over a minute by jitter still share batches.
//!
//! While the store does not take writes (a database restarting, unreachable, locked, its file
//! gone), what queued waits in the [`Spool`], in order, and the writer tries again with
//! backoff; when the store is back the spool is written oldest first. The spool is bounded:
//! past [`SPOOL`] entries the oldest is dropped and counted, never waited for. A store that
//! takes writes but is slower than the probes leaves results in the queue instead, and the
//! probes made at start wait for a place in it ([`StoreWriter::reserve`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::spool::{Spool, SpoolCounts};
use super::store_health::StoreHealth;
use crate::alert::Hold;
use crate::probe::ProbeResult;
use crate::store::{NewRun, Store, StoreError};
use crate::telemetry::Metrics;

/// Results on their way to the writer at most: it takes them into the spool as they come,
/// so a full queue is a writer that stopped, not a store that did.
const QUEUE: usize = 20_000;
/// Places in the queue held at once by probes waiting for one (see [`StoreWriter::reserve`]):
/// half the probes that may run at once, a small part of the queue.
const RESERVED_AT_ONCE: usize = super::state::MAX_CONCURRENT_PROBES / 2;
/// Results in one transaction at most: the writer holds SQLite's lock this long.
const BATCH: usize = 500;
/// How long the writer gathers results after the first one of a quiet spell: each batch costs
/// a transaction and a few statements whatever its size, each statement a round trip to the
/// database's thread, while a run read a tenth of a second later loses nothing (on-demand
/// probes wait for theirs: that long more).
const GATHER: Duration = Duration::from_millis(100);
/// Entries the spool keeps while the store is away: 10,000 runs is an hour and a half of
/// 100 environments on a one-minute schedule, a few tens of megabytes at most.
pub const SPOOL: usize = 10_000;
/// The first retry after a failed write, doubling up to [`RETRY_MAX`]: a store that comes
/// back is written to within seconds.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// At shutdown, how long the spool may take to reach the store before what is left is lost.
const FINAL_FLUSH: Duration = Duration::from_secs(10);

pub(super) enum Queued {
    Run {
        run: NewRun,
        /// Told once the result is committed (or failed): on-demand probes answer after that.
        stored: Option<oneshot::Sender<bool>>,
    },
    /// A slot skipped because the previous probe still ran: it waits on the writer like a
    /// result, never on the schedule.
    Skipped { env: String, slot: DateTime<Utc> },
}

/// A place held in the writer's queue (see [`StoreWriter::reserve`]).
pub struct Reserved {
    place: mpsc::OwnedPermit<Queued>,
    _turn: tokio::sync::OwnedSemaphorePermit,
}

#[derive(Clone)]
pub struct StoreWriter {
    queue: mpsc::Sender<Queued>,
    health: Arc<StoreHealth>,
    counts: Arc<SpoolCounts>,
    reserving: Arc<tokio::sync::Semaphore>,
}

impl StoreWriter {
    /// Start the writer; it stores what is queued until `stop`, then drains the queue.
    pub fn start(
        store: Store,
        health: Arc<StoreHealth>,
        metrics: Metrics,
        stop: CancellationToken,
    ) -> (StoreWriter, tokio::task::JoinHandle<()>) {
        Self::start_with_spool(store, health, metrics, stop, SPOOL)
    }

    fn start_with_spool(
        store: Store,
        health: Arc<StoreHealth>,
        metrics: Metrics,
        stop: CancellationToken,
        spool: usize,
    ) -> (StoreWriter, tokio::task::JoinHandle<()>) {
        let (queue, incoming) = mpsc::channel(QUEUE);
        let counts = Arc::new(SpoolCounts::default());
        let spool = Spool::new(spool, counts.clone(), metrics);
        let writer = tokio::spawn(write_loop(store, health.clone(), spool, incoming, stop));
        (
            StoreWriter {
                queue,
                health,
                counts,
                reserving: Arc::new(tokio::sync::Semaphore::new(RESERVED_AT_ONCE)),
            },
            writer,
        )
    }

    /// Runs waiting for the store, and runs dropped since start because the spool was full.
    pub fn spool(&self) -> crate::web::SpoolStatus {
        self.counts.status()
    }

    /// A place in the queue, for a probe that can wait for one before it starts: the probes
    /// made at start, which come all at once (a scheduled probe never waits on the store).
    /// At most [`RESERVED_AT_ONCE`] places are held, and none while the queue is more than
    /// half full, so that the results of scheduled probes always find room.
    pub async fn reserve(&self) -> Option<Reserved> {
        let turn = self.reserving.clone().acquire_owned().await.ok()?;
        while self.queue.capacity() < QUEUE / 2 {
            if self.queue.is_closed() {
                return None;
            }
            tokio::time::sleep(GATHER).await;
        }
        let place = self.queue.clone().reserve_owned().await.ok()?;
        Some(Reserved { place, _turn: turn })
    }

    /// Queue `result` for the store; never waits (in the place `reserved` when given).
    /// Returns a receiver told when it is stored (`true`) or could not be (`false`), when
    /// `confirm` asks for one.
    pub fn record(
        &self,
        result: Arc<ProbeResult>,
        hold: Hold,
        slot: Option<DateTime<Utc>>,
        confirm: bool,
        reserved: Option<Reserved>,
    ) -> Option<oneshot::Receiver<bool>> {
        let (stored, confirmed) = if confirm {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let queued = Queued::Run {
            run: NewRun {
                result,
                in_maintenance: hold.maintenance,
                silence: hold.silence,
                slot,
            },
            stored,
        };
        if let Some(reserved) = reserved {
            reserved.place.send(queued);
            return confirmed;
        }
        if self.queue(queued, "a result") {
            confirmed
        } else {
            None
        }
    }

    /// Queue a skipped slot for the store; never waits.
    pub fn record_skipped(&self, env: &str, slot: DateTime<Utc>) {
        let queued = Queued::Skipped {
            env: env.to_owned(),
            slot,
        };
        self.queue(queued, "a skipped slot");
    }

    fn queue(&self, queued: Queued, what: &str) -> bool {
        match self.queue.try_send(queued) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(queued)) => {
                if matches!(queued, Queued::Run { .. }) {
                    self.counts.dropped(1);
                }
                self.health.failed(&format!(
                    "the store writer is not keeping up: {what} was dropped unstored"
                ));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

async fn write_loop(
    store: Store,
    health: Arc<StoreHealth>,
    mut spool: Spool,
    mut incoming: mpsc::Receiver<Queued>,
    stop: CancellationToken,
) {
    let mut failures = 0;
    loop {
        if spool.is_empty() {
            let first = tokio::select! {
                biased;
                queued = incoming.recv() => queued,
                _ = stop.cancelled() => None,
            };
            let Some(first) = first else { break };
            spool.push(first);
            tokio::select! {
                _ = tokio::time::sleep(GATHER) => {}
                _ = stop.cancelled() => {}
            }
        }
        take_in(&mut spool, &mut incoming);
        match write_front(&store, &mut spool).await {
            Ok(()) => {
                failures = 0;
                health.succeeded();
            }
            Err(err) if is_the_batchs_fault(&err) => {
                health.failed(&err.to_string());
                spool.drop_front_batch(BATCH, &err.to_string());
            }
            Err(err) => {
                health.failed(&err.to_string());
                spool.refuse_confirmations();
                failures += 1;
                if !wait_taking_in(&mut spool, &mut incoming, &stop, backoff(failures)).await {
                    break;
                }
            }
        }
    }
    flush_at_shutdown(&store, &mut spool, &mut incoming).await;
}

/// Move what is queued into the spool while it has room. What does not fit stays queued:
/// the spool drops its oldest only for a store that is away (`wait_taking_in`), never for one
/// that takes writes but is behind (a start of 100,000 environments), which the queue and
/// [`StoreWriter::reserve`] pace instead.
fn take_in(spool: &mut Spool, incoming: &mut mpsc::Receiver<Queued>) {
    while spool.has_room()
        && let Ok(queued) = incoming.try_recv()
    {
        spool.push(queued);
    }
}

/// Wait `wait` before the next try, taking in what is queued meanwhile. `false` at shutdown.
async fn wait_taking_in(
    spool: &mut Spool,
    incoming: &mut mpsc::Receiver<Queued>,
    stop: &CancellationToken,
    wait: Duration,
) -> bool {
    let pause = tokio::time::sleep(wait);
    tokio::pin!(pause);
    loop {
        tokio::select! {
            _ = &mut pause => return true,
            _ = stop.cancelled() => return false,
            queued = incoming.recv() => match queued {
                Some(queued) => spool.push(queued),
                None => return false,
            },
        }
    }
}

/// Write what is left, within [`FINAL_FLUSH`]; what the store does not take then is lost,
/// and said so.
async fn flush_at_shutdown(
    store: &Store,
    spool: &mut Spool,
    incoming: &mut mpsc::Receiver<Queued>,
) {
    incoming.close();
    let flushed = tokio::time::timeout(FINAL_FLUSH, async {
        loop {
            take_in(spool, incoming);
            if spool.is_empty() {
                return Ok::<(), StoreError>(());
            }
            write_front(store, spool).await?;
        }
    })
    .await;
    let error = match flushed {
        Ok(Ok(())) => return,
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer within {}s", FINAL_FLUSH.as_secs()),
    };
    while let Ok(queued) = incoming.try_recv() {
        spool.push(queued);
    }
    spool.lose_all(&format!("the store did not take them at shutdown: {error}"));
}

/// Store the oldest entries of the spool: one skipped slot, or up to [`BATCH`] runs in one
/// transaction, all or none; they leave the spool only once stored.
async fn write_front(store: &Store, spool: &mut Spool) -> Result<(), StoreError> {
    store.heal().await?;
    if let Some((env, slot)) = spool.front_skipped() {
        store.runs().record_skipped(&env, slot).await?;
        spool.stored(1);
        return Ok(());
    }
    let runs = spool.front_runs(BATCH);
    if runs.is_empty() {
        return Ok(());
    }
    let count = runs.len();
    store.runs().insert_runs(&runs).await?;
    spool.stored(count);
    Ok(())
}

/// Whether a failed write failed because of what was written (it would fail again however
/// often it is tried), not because of the store: those entries are dropped and counted, so
/// that one bad row cannot hold the spool for ever.
fn is_the_batchs_fault(err: &StoreError) -> bool {
    match err {
        StoreError::Encode(_) | StoreError::OutOfRange(_) | StoreError::Corrupt(_) => true,
        StoreError::Database(sqlx::Error::Database(db)) => {
            // Constraint violations (either database), PostgreSQL's data exceptions (22xxx).
            db.kind() != sqlx::error::ErrorKind::Other
                || db.code().is_some_and(|code| code.starts_with("22"))
        }
        StoreError::Database(sqlx::Error::Encode(_)) => true,
        _ => false,
    }
}

/// The wait after `failures` failed writes in a row.
fn backoff(failures: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1 << failures.saturating_sub(1).min(4))
        .min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that takes writes but is behind (here: the writer has not run while 300
    /// results queued) paces what it takes in by the spool's room: nothing is dropped, however
    /// small the spool, which drops its oldest only for a store that is away.
    #[tokio::test(flavor = "current_thread")]
    async fn a_store_that_is_behind_loses_nothing() {
        use crate::probe::{ProbeResult, Status, Verdict};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("behind.db")).await.unwrap();
        let stop = CancellationToken::new();
        let (writer, task) = StoreWriter::start_with_spool(
            store.clone(),
            Arc::default(),
            Metrics::disabled(),
            stop.clone(),
            10,
        );
        let start = Utc::now() - chrono::Duration::hours(1);
        for i in 0..300 {
            let result = ProbeResult::note(
                &format!("env-{}", i % 40),
                start + chrono::Duration::seconds(i),
                Status::Up,
                Verdict::Ok,
                "up".into(),
            );
            let reserved = if i % 2 == 0 {
                writer.reserve().await
            } else {
                None
            };
            writer.record(Arc::new(result), Hold::default(), None, false, reserved);
        }
        stop.cancel();
        task.await.unwrap();
        assert_eq!(writer.spool(), crate::web::SpoolStatus::default());
        let stored: usize = store.runs().summaries(Utc::now()).await.unwrap().len();
        assert_eq!(stored, 40, "every environment has its runs");
        let runs = store
            .read_only()
            .runs("env-7", crate::store::RunsPage::newest(100))
            .await
            .unwrap();
        assert_eq!(runs.len(), 300 / 40 + 1);
        store.close().await;
    }

    #[test]
    fn retries_come_sooner_than_a_slot() {
        let waits: Vec<u128> = (1..=6).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn only_what_was_written_is_blamed_on_the_batch() {
        assert!(is_the_batchs_fault(&StoreError::OutOfRange(
            "year 10000".into()
        )));
        assert!(!is_the_batchs_fault(&StoreError::Database(
            sqlx::Error::PoolTimedOut
        )));
        assert!(!is_the_batchs_fault(&StoreError::NotConnected(
            "db:5432/fleet: connection refused".into()
        )));
    }
}
