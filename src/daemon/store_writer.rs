//! Results reach the store through one queue and one writer task, so a probe never waits on
//! the disk: its slot is free as soon as the result is queued. The writer commits whatever
//! has queued meanwhile in one transaction (group commit), which under load turns thousands
//! of small transactions into a few large ones; with one result queued it writes at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::store_health::StoreHealth;
use crate::alert::Hold;
use crate::probe::ProbeResult;
use crate::store::{NewRun, Store};

/// Results waiting for the writer at most: at 10,000 environments a minute a full queue is a
/// stalled store, not a burst. Past it a result is counted and dropped, never waited for.
const QUEUE: usize = 20_000;
/// Results in one transaction at most: the writer holds SQLite's lock this long.
const BATCH: usize = 500;

enum Queued {
    Run {
        run: NewRun,
        /// Told once the result is committed (or failed): on-demand probes answer after that.
        stored: Option<oneshot::Sender<bool>>,
    },
    /// A slot skipped because the previous probe still ran: it waits on the writer like a
    /// result, never on the schedule.
    Skipped { env: String, slot: DateTime<Utc> },
}

#[derive(Clone)]
pub struct StoreWriter {
    queue: mpsc::Sender<Queued>,
    health: Arc<StoreHealth>,
}

impl StoreWriter {
    /// Start the writer; it stores what is queued until `stop`, then drains the queue.
    pub fn start(
        store: Store,
        health: Arc<StoreHealth>,
        stop: CancellationToken,
    ) -> (StoreWriter, tokio::task::JoinHandle<()>) {
        let (queue, incoming) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_loop(store, health.clone(), incoming, stop));
        (StoreWriter { queue, health }, writer)
    }

    /// Queue `result` for the store; never waits. Returns a receiver told when it is stored
    /// (`true`) or could not be (`false`), when `confirm` asks for one.
    pub fn record(
        &self,
        result: Arc<ProbeResult>,
        hold: Hold,
        slot: Option<DateTime<Utc>>,
        confirm: bool,
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
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.health.failed(&format!(
                    "the store is not keeping up: {what} was dropped unstored"
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
    mut incoming: mpsc::Receiver<Queued>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            biased;
            queued = incoming.recv() => queued,
            _ = stop.cancelled() => {
                incoming.close();
                incoming.recv().await
            }
        };
        let Some(first) = first else { return };
        batch.push(first);
        while batch.len() < BATCH {
            match incoming.try_recv() {
                Ok(queued) => batch.push(queued),
                Err(_) => break,
            }
        }
        let runs: Vec<&NewRun> = batch
            .iter()
            .filter_map(|queued| match queued {
                Queued::Run { run, .. } => Some(run),
                Queued::Skipped { .. } => None,
            })
            .collect();
        // A file deleted under the daemon still takes writes, into an unlinked inode that is
        // gone at restart: reopen what is at the path first.
        let healed = store.heal().await;
        let mut written = match healed {
            Ok(_) if runs.is_empty() => Ok(()),
            Ok(_) => store.runs().insert_runs(&runs).await.map(drop),
            Err(err) => Err(err),
        };
        for queued in &batch {
            if let (Ok(()), Queued::Skipped { env, slot }) = (&written, queued) {
                written = store.runs().record_skipped(env, *slot).await;
            }
        }
        let stored = match written {
            Ok(()) => {
                health.succeeded();
                true
            }
            Err(err) => {
                health.failed(&err.to_string());
                false
            }
        };
        for queued in batch.drain(..) {
            if let Queued::Run {
                stored: Some(confirm),
                ..
            } = queued
            {
                let _ = confirm.send(stored);
            }
        }
    }
}
