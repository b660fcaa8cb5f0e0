//! Rendered responses, reused until something they show changes. The status page and the
//! status API render every environment; under many concurrent viewers (a wall of dashboards, an
//! incident call) re-rendering per request would make them the slowest thing in the daemon.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::store::{DayUptime, HourLatency};

/// Even with no new result, times on the page ("generated", next run) should not go stale.
const MAX_AGE: Duration = Duration::from_secs(1);
/// With thousands of environments a result arrives every few milliseconds: reuse a render this
/// long even if something changed, so a busy daemon renders a few times a second, not per view.
const MIN_REUSE: Duration = Duration::from_millis(250);
/// While another render is under way, an older one is served if it is at most this old.
const MAX_STALE: Duration = Duration::from_secs(5);
/// A render is reused at least this many times as long as it took: the status of 100,000
/// environments takes a good part of a second to gather and sort, and re-making it every
/// `MIN_REUSE` would keep a core busy with it, and every viewer waiting behind it.
const REUSE_PER_RENDER: u32 = 8;

/// Renders by key: response bodies (`Bytes`), or the sorted status they are cut from
/// (`Arc<Snapshot>`).
pub struct RenderCache<T = Bytes> {
    /// By page: `index`, `status`, `environment/{name}` (configured names only: the page
    /// refuses others before rendering, so this stays as small as the config).
    entries: Mutex<HashMap<String, Rendered<T>>>,
    /// One render at a time: when a render expires under load, every waiting viewer would
    /// otherwise render the same page at once.
    rendering: tokio::sync::Mutex<()>,
}

impl<T> Default for RenderCache<T> {
    fn default() -> Self {
        RenderCache {
            entries: Mutex::default(),
            rendering: tokio::sync::Mutex::default(),
        }
    }
}

struct Rendered<T> {
    generation: u64,
    rendered_at: Instant,
    /// How long the render took.
    took: Duration,
    body: T,
}

impl<T: Clone> RenderCache<T> {
    /// The cached body for `key`: rendered less than `MIN_REUSE` ago, or at `generation` less
    /// than `MAX_AGE` ago; both stretched for a render that took long.
    fn get(&self, key: &str, generation: u64) -> Option<T> {
        let entries = self.entries.lock();
        entries
            .get(key)
            .filter(|e| {
                let age = e.rendered_at.elapsed();
                let earned = e.took * REUSE_PER_RENDER;
                age < MIN_REUSE.max(earned)
                    || (e.generation == generation && age < MAX_AGE.max(earned))
            })
            .map(|e| e.body.clone())
    }

    /// The cached body, or one rendered by `render` (by one caller at a time).
    pub async fn get_or_render<F>(&self, key: &str, generation: u64, render: F) -> T
    where
        F: Future<Output = T>,
    {
        if let Some(body) = self.get(key, generation) {
            return body;
        }
        // While someone renders, the last render is the answer: a render of 100,000
        // environments takes long enough that every viewer waiting for it was the tail.
        let _one_at_a_time = match self.rendering.try_lock() {
            Ok(guard) => guard,
            Err(_) => match self.stale(key) {
                Some(body) => return body,
                None => self.rendering.lock().await,
            },
        };
        if let Some(body) = self.get(key, generation) {
            return body;
        }
        let started = Instant::now();
        let body = off_the_workers(render).await;
        self.put(key, generation, started.elapsed(), body.clone());
        body
    }

    /// The last render of `key`, if younger than `MAX_STALE`, or than twice its reuse for a
    /// render that took long (else the first viewer after a long reuse would find it too old,
    /// and every viewer would wait for the next render).
    fn stale(&self, key: &str) -> Option<T> {
        let entries = self.entries.lock();
        entries
            .get(key)
            .filter(|e| e.rendered_at.elapsed() < MAX_STALE.max(e.took * REUSE_PER_RENDER * 2))
            .map(|e| e.body.clone())
    }

    fn put(&self, key: &str, generation: u64, took: Duration, body: T) {
        let mut entries = self.entries.lock();
        entries.insert(
            key.to_owned(),
            Rendered {
                generation,
                rendered_at: Instant::now(),
                took,
                body,
            },
        );
    }
}

/// Runs `render` with the worker thread handed over to the other tasks first (on the daemon's
/// multi-threaded runtime): a render of a large fleet is long CPU work, and the requests queued
/// on that worker, served from the cache in microseconds, would otherwise wait for all of it.
async fn off_the_workers<T>(render: impl Future<Output = T>) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let handle = Handle::current();
    match handle.runtime_flavor() {
        RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| handle.block_on(render)),
        _ => render.await,
    }
}

/// How long an environment's chart data is reused. The rollups behind it change with every
/// run, but a picture of 7 days or 90 days does not visibly move in 30 s, the page's own
/// refresh; reading 168 histograms per view under a wall of dashboards would.
const HISTORY_TTL: Duration = Duration::from_secs(30);

/// The rollup rows an environment's pictures are drawn from, as of one moment.
#[derive(Debug, Default)]
pub struct History {
    /// Start of the current hour (epoch seconds) and the current UTC day (days since the
    /// epoch) when read: where the pictures end.
    pub last_hour: i64,
    pub last_day: i64,
    pub hours: Vec<HourLatency>,
    pub days: Vec<DayUptime>,
}

/// Each environment's [`History`], reused for `HISTORY_TTL`. Keyed by configured
/// environments only (the page refuses others first), so it stays as small as the config.
#[derive(Default)]
pub struct HistoryCache {
    entries: Mutex<HashMap<String, (Instant, Arc<History>)>>,
}

impl HistoryCache {
    pub fn get(&self, environment: &str) -> Option<Arc<History>> {
        let entries = self.entries.lock();
        entries
            .get(environment)
            .filter(|(at, _)| at.elapsed() < HISTORY_TTL)
            .map(|(_, history)| history.clone())
    }

    pub fn put(&self, environment: &str, history: Arc<History>) {
        let mut entries = self.entries.lock();
        // Environments removed by a reload would otherwise stay.
        entries.retain(|_, (at, _)| at.elapsed() < HISTORY_TTL);
        entries.insert(environment.to_owned(), (Instant::now(), history));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn while_a_render_is_under_way_the_last_one_is_served() {
        let cache: RenderCache<u32> = RenderCache::default();
        assert_eq!(cache.get_or_render("k", 1, async { 1 }).await, 1);
        let _someone_renders = cache.rendering.lock().await;
        // A new generation, and the render under way holds the lock: the last render answers.
        cache.entries.lock().get_mut("k").unwrap().rendered_at -= MIN_REUSE;
        let body = cache
            .get_or_render("k", 2, async { unreachable!("no second render at once") })
            .await;
        assert_eq!(body, 1);
        cache.entries.lock().get_mut("k").unwrap().rendered_at -= MAX_STALE;
        assert!(
            cache.stale("k").is_none(),
            "too old to serve: wait for the render"
        );
    }

    #[tokio::test]
    async fn a_render_that_took_long_is_reused_and_served_stale_for_longer() {
        let cache: RenderCache<u32> = RenderCache::default();
        cache.put("k", 1, Duration::from_secs(1), 1);
        cache.entries.lock().get_mut("k").unwrap().rendered_at -= MAX_AGE;
        assert_eq!(
            cache.get("k", 2),
            Some(1),
            "a new generation, but 8 s earned"
        );
        cache.entries.lock().get_mut("k").unwrap().rendered_at -= 2 * MAX_STALE;
        assert_eq!(cache.get("k", 2), None, "reuse over: render again");
        assert_eq!(cache.stale("k"), Some(1), "and serve this one meanwhile");
    }
}
