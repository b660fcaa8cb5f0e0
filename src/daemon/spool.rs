//! What waits for the store while it does not take writes: the writer's entries in order,
//! bounded, with what did not fit counted (the API's `spool`, the status page and
//! `wsprobe.store.runs_dropped`) rather than lost in silence.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use super::store_writer::Queued;
use crate::store::NewRun;
use crate::telemetry::Metrics;

/// The counts the API and the page read while the writer owns the spool.
#[derive(Debug, Default)]
pub struct SpoolCounts {
    queued: AtomicU64,
    dropped: AtomicU64,
}

impl SpoolCounts {
    pub fn status(&self) -> crate::web::SpoolStatus {
        crate::web::SpoolStatus {
            queued: self.queued.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    pub fn dropped(&self, runs: u64) {
        self.dropped.fetch_add(runs, Ordering::Relaxed);
    }
}

pub struct Spool {
    entries: VecDeque<Queued>,
    capacity: usize,
    /// Runs among `entries` (the rest are skipped slots).
    runs: usize,
    counts: std::sync::Arc<SpoolCounts>,
    metrics: Metrics,
    /// Dropping the oldest since the spool last had room: said once per overflow.
    overflowing: bool,
}

impl Spool {
    pub fn new(capacity: usize, counts: std::sync::Arc<SpoolCounts>, metrics: Metrics) -> Spool {
        Spool {
            entries: VecDeque::new(),
            capacity,
            runs: 0,
            counts,
            metrics,
            overflowing: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an entry more fits without dropping the oldest.
    pub fn has_room(&self) -> bool {
        self.entries.len() < self.capacity
    }

    /// Add at the back; when full, the oldest entry makes room and is counted. The newest
    /// runs are kept: they are what the status and alerting need when the store returns.
    pub fn push(&mut self, queued: Queued) {
        if self.entries.len() >= self.capacity {
            if !self.overflowing {
                tracing::error!(
                    capacity = self.capacity,
                    "the spool of results waiting for the store is full: dropping the oldest, \
                     counted in spool.dropped"
                );
                self.overflowing = true;
            }
            self.lose(1);
        } else if self.entries.len() + 1 < self.capacity {
            self.overflowing = false;
        }
        if matches!(queued, Queued::Run { .. }) {
            self.runs += 1;
        }
        self.entries.push_back(queued);
        self.publish();
    }

    /// The oldest entry, when it is a skipped slot.
    pub fn front_skipped(&self) -> Option<(String, DateTime<Utc>)> {
        match self.entries.front()? {
            Queued::Skipped { env, slot } => Some((env.clone(), *slot)),
            Queued::Run { .. } => None,
        }
    }

    /// The oldest runs up to the first skipped slot, `max` at most.
    pub fn front_runs(&self, max: usize) -> Vec<&NewRun> {
        self.entries
            .iter()
            .take(max)
            .map_while(|queued| match queued {
                Queued::Run { run, .. } => Some(run),
                Queued::Skipped { .. } => None,
            })
            .collect()
    }

    /// The oldest `count` entries are in the store.
    pub fn stored(&mut self, count: usize) {
        for queued in self.take(count) {
            if let Queued::Run {
                stored: Some(confirm),
                ..
            } = queued
            {
                let _ = confirm.send(true);
            }
        }
        self.publish();
    }

    /// Whoever waits for an entry to be stored is told it was not (yet): an on-demand probe
    /// answers instead of waiting out the store's absence. The entries stay.
    pub fn refuse_confirmations(&mut self) {
        for queued in &mut self.entries {
            if let Queued::Run { stored, .. } = queued
                && let Some(confirm) = stored.take()
            {
                let _ = confirm.send(false);
            }
        }
    }

    /// Drop the front batch the store refused for what it holds (see the writer).
    pub fn drop_front_batch(&mut self, max: usize, why: &str) {
        let count = if self.front_skipped().is_some() {
            1
        } else {
            self.front_runs(max).len()
        };
        let runs = self.lose(count);
        tracing::error!(runs, "results dropped, the store refused them: {why}");
        self.publish();
    }

    /// Drop everything, counted: the store did not come back in time at shutdown.
    pub fn lose_all(&mut self, why: &str) {
        let runs = self.lose(self.entries.len());
        if runs > 0 {
            tracing::error!(runs, "results never stored: {why}");
        }
        self.publish();
    }

    /// Remove the oldest `count` entries as lost; returns the runs among them.
    fn lose(&mut self, count: usize) -> u64 {
        let mut runs = 0;
        for queued in self.take(count) {
            if let Queued::Run { stored, .. } = queued {
                runs += 1;
                if let Some(confirm) = stored {
                    let _ = confirm.send(false);
                }
            }
        }
        self.counts.dropped(runs);
        self.metrics.record_runs_dropped(runs);
        runs
    }

    fn take(&mut self, count: usize) -> Vec<Queued> {
        let taken: Vec<Queued> = self
            .entries
            .drain(..count.min(self.entries.len()))
            .collect();
        self.runs -= taken
            .iter()
            .filter(|q| matches!(q, Queued::Run { .. }))
            .count();
        taken
    }

    fn publish(&self) {
        self.counts
            .queued
            .store(self.runs as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::probe::{ProbeResult, Status, Verdict};

    fn run(n: i64) -> Queued {
        let at = DateTime::from_timestamp(1_800_000_000 + n, 0).unwrap();
        Queued::Run {
            run: NewRun {
                result: Arc::new(ProbeResult::note(
                    "api",
                    at,
                    Status::Up,
                    Verdict::Ok,
                    format!("run {n}"),
                )),
                in_maintenance: false,
                silence: None,
                slot: Some(at),
            },
            stored: None,
        }
    }

    fn spool(capacity: usize) -> (Spool, Arc<SpoolCounts>) {
        let counts = Arc::new(SpoolCounts::default());
        (
            Spool::new(capacity, counts.clone(), Metrics::disabled()),
            counts,
        )
    }

    fn diagnoses(runs: &[&NewRun]) -> Vec<String> {
        runs.iter().map(|r| r.result.diagnosis.clone()).collect()
    }

    #[test]
    fn a_full_spool_keeps_the_newest_in_order_and_counts_the_rest() {
        let (mut spool, counts) = spool(3);
        for n in 1..=5 {
            spool.push(run(n));
        }
        assert_eq!(
            diagnoses(&spool.front_runs(10)),
            ["run 3", "run 4", "run 5"]
        );
        let status = counts.status();
        assert_eq!((status.queued, status.dropped), (3, 2));
        spool.stored(2);
        assert_eq!(diagnoses(&spool.front_runs(10)), ["run 5"]);
        assert_eq!(counts.status().queued, 1);
    }

    #[test]
    fn a_batch_stops_at_a_skipped_slot_which_goes_alone() {
        let (mut spool, counts) = spool(10);
        spool.push(run(1));
        spool.push(Queued::Skipped {
            env: "api".into(),
            slot: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        });
        spool.push(run(2));
        assert_eq!(diagnoses(&spool.front_runs(10)), ["run 1"]);
        spool.stored(1);
        assert!(spool.front_skipped().is_some());
        assert!(spool.front_runs(10).is_empty());
        spool.stored(1);
        assert_eq!(diagnoses(&spool.front_runs(10)), ["run 2"]);
        spool.lose_all("test");
        assert_eq!(counts.status().dropped, 1);
        assert!(spool.is_empty());
    }
}
