//! Uptime and latency per environment, summed from the hourly rollups and cached: summing
//! months of rollups on every page view would make the page slow, and with a hundred thousand
//! environments one summing takes longer than a view may wait for the store. Such a read is
//! not abandoned at the view's deadline: it goes on, and the views after it get its figures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::task::JoinHandle;

use super::state::STORE_READ_LIMIT;
use super::store_health::StoreHealth;
use crate::store::{Store, StoreError, Summary};

/// Summaries are recomputed at most this often: they come from hourly rollups.
const SUMMARY_TTL: Duration = Duration::from_secs(10);
/// A read is reused at least this many times as long as it took, so a fleet whose summing
/// takes seconds does not keep a reader connection summing.
const REUSE_PER_READ: u32 = 8;

pub type SummaryMap = Arc<HashMap<String, Summary>>;
type Read = JoinHandle<Result<HashMap<String, Summary>, StoreError>>;

#[derive(Default)]
pub struct Summaries {
    cache: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// The last figures read (none before the first read ends).
    value: SummaryMap,
    /// When the figures were last read (or the store last failed to give them) and how long
    /// that took; `None` once they are known to be out of date.
    read_at: Option<(Instant, Duration)>,
    /// A read that outlived the view that started it.
    pending: Option<(Instant, Read)>,
}

impl Summaries {
    /// The figures: from the cache while fresh; else read from the store, waiting at most
    /// [`STORE_READ_LIMIT`] (the last figures meanwhile, and the read's once it ends).
    pub async fn get(&self, store: &Store, health: &StoreHealth) -> SummaryMap {
        let mut cache = self.cache.lock().await;
        if let Some((at, took)) = cache.read_at
            && at.elapsed() < SUMMARY_TTL.max(took * REUSE_PER_READ)
        {
            return cache.value.clone();
        }
        let (started, mut read) = match cache.pending.take() {
            Some((started, read)) if read.is_finished() => (started, read),
            // A slow read is waited for once: the views after the one that waited show the
            // last figures until it ends.
            Some(still_reading) => {
                cache.pending = Some(still_reading);
                return cache.value.clone();
            }
            None => (Instant::now(), spawn_read(store)),
        };
        match tokio::time::timeout(STORE_READ_LIMIT, &mut read).await {
            Ok(outcome) => {
                cache.read_at = Some((Instant::now(), started.elapsed()));
                match outcome {
                    Ok(Ok(fresh)) => cache.value = Arc::new(fresh),
                    // The last good figures stay rather than blanks; the failure is reported
                    // through the store health.
                    Ok(Err(err)) => health.failed(&err.to_string()),
                    Err(panicked) => tracing::error!("reading the summaries failed: {panicked}"),
                }
            }
            Err(_) => cache.pending = Some((started, read)),
        }
        cache.value.clone()
    }

    /// An environment's first result must show in the summaries now, not a TTL later:
    /// the next view reads again when `environment` has no figures yet.
    pub fn first_result_of(&self, environment: &str) {
        if let Ok(mut cache) = self.cache.try_lock()
            && cache.read_at.is_some()
            && !cache.value.contains_key(environment)
        {
            cache.read_at = None;
        }
    }
}

fn spawn_read(store: &Store) -> Read {
    let store = store.clone();
    tokio::spawn(async move { store.runs().summaries(Utc::now()).await })
}
