//! Acknowledgements and silences in the running daemon. Each is written to the store first
//! (so it survives a restart and, on a fleet, every instance sees it), then applied: a
//! silence to the results recorded from now on, an acknowledgement to the alert engine that
//! holds the incident. The silences not yet over are kept in memory, so that recording a
//! result never reads the store; on a fleet the membership loop refreshes them, and the
//! acknowledgements made through other instances, from the shared store.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::state::DaemonState;
use crate::alert::Hold;
use crate::config::{Config, EnvName};
use crate::oncall::{Acknowledgement, NewSilence, Silence};
use crate::probe::ProbeResult;
use crate::store::{AckOutcome, ExpireOutcome, IncidentRecord, StoreError};

/// Silences read at most: far more than anyone keeps active at once.
const SILENCES_KEPT: u32 = 1000;

impl DaemonState {
    /// What holds `result`'s notifications back at `now`, as it is recorded: a maintenance
    /// window covering its environment `env`, a silence matching it. The caller has `env`
    /// at hand: looking it up by name would cost a scan of every environment per result.
    pub(super) fn hold(
        &self,
        config: &Config,
        env: &EnvName,
        result: &ProbeResult,
        now: DateTime<Utc>,
    ) -> Hold {
        let name = result.environment.as_str();
        let maintenance = crate::alert::in_maintenance(config, env, now);
        let location = result.location.as_deref().or(config.location.as_deref());
        let silences = self.silences.read().clone();
        let silence =
            crate::oncall::silence::covering(&silences, name, location, result.verdict, now);
        Hold {
            maintenance,
            silence: silence.map(|s| s.id),
            // Known when alerting steps the result (`pipeline.rs`), not when it is recorded.
            dependency: false,
        }
    }

    /// The silences not over at `now` (active, or yet to start), newest first.
    pub fn current_silences(&self, now: DateTime<Utc>) -> Vec<Silence> {
        self.silences
            .read()
            .iter()
            .filter(|s| s.ended_at() > now)
            .cloned()
            .collect()
    }

    /// Read the silences not yet over from the store: at start, and on a fleet to learn the
    /// ones made through other instances.
    pub(super) async fn refresh_silences(&self) -> Result<(), StoreError> {
        let silences = self
            .store
            .alerts()
            .silences(false, Utc::now(), SILENCES_KEPT)
            .await?;
        let changed = **self.silences.read() != silences;
        if changed {
            *self.silences.write() = Arc::new(silences);
            self.changed();
        }
        Ok(())
    }

    pub(super) async fn add_silence(&self, new: &NewSilence) -> Result<Silence, StoreError> {
        let now = Utc::now();
        let silence = self.store.alerts().add_silence(new, now).await?;
        tracing::info!(
            silence = silence.id, matchers = %silence.matchers.describe(), by = %silence.created_by,
            until = %crate::wire::format(silence.ends_at), "silence added"
        );
        self.remember_silence(silence.clone(), now);
        Ok(silence)
    }

    pub(super) async fn expire_silence(&self, id: i64) -> Result<ExpireOutcome, StoreError> {
        let now = Utc::now();
        let outcome = self.store.alerts().expire_silence(id, now).await?;
        if let ExpireOutcome::Expired(silence) = &outcome {
            tracing::info!(silence = id, "silence expired");
            self.remember_silence(silence.clone(), now);
        }
        Ok(outcome)
    }

    /// Keep `silence` (new or changed) in memory, newest first, and forget the ones over.
    fn remember_silence(&self, silence: Silence, now: DateTime<Utc>) {
        let mut kept: Vec<Silence> = self
            .silences
            .read()
            .iter()
            .filter(|s| s.id != silence.id && s.ended_at() > now)
            .cloned()
            .collect();
        if silence.ended_at() > now {
            kept.push(silence);
        }
        kept.sort_by_key(|s| std::cmp::Reverse(s.id));
        *self.silences.write() = Arc::new(kept);
        self.changed();
    }

    /// Acknowledge incident `id`: stored with the incident, then applied by the alert engine
    /// here when it is the one that evaluates (a single node, a fleet's lease holder); the
    /// others learn it from the store.
    pub(super) async fn acknowledge(
        &self,
        id: i64,
        ack: &Acknowledgement,
    ) -> Result<AckOutcome, StoreError> {
        let outcome = self.store.alerts().acknowledge(id, ack).await?;
        if let AckOutcome::Acknowledged(_) = &outcome {
            if self.fleet.as_ref().is_none_or(|fleet| fleet.is_leading()) {
                self.alerts.acknowledge(&self.config(), id, ack, Utc::now());
            }
            self.changed();
        }
        Ok(outcome)
    }

    /// Apply the acknowledgements of `open` incidents this engine has not taken yet (made
    /// through another instance of the fleet).
    pub(super) fn learn_acknowledgements(&self, open: &[IncidentRecord]) {
        let config = self.config();
        let now = Utc::now();
        for incident in open {
            if let Some(ack) = &incident.acknowledged {
                self.alerts.acknowledge(&config, incident.id, ack, now);
            }
        }
    }
}
