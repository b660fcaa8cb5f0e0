//! The daemon (`wsprobe run`): builds the store, scheduler and web server from a Config and runs
//! until the shutdown future resolves. The caller owns the listener, so tests bind port 0.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Environment};
use crate::probe::{ProbeResult, Prober};
use crate::probe::{Status, Verdict};
use crate::schedule::{self, Board, Runner};
use crate::store::{Store, Summary};
use crate::telemetry::Metrics;

/// Summaries per environment and when they were computed.
type CachedSummaries = (Instant, Arc<HashMap<String, Summary>>);

/// One result as the bar of recent results shows it.
pub type RecentRun = (DateTime<Utc>, Status, Verdict);

/// Probes in flight at once across all environments: enough for thousands of environments on
/// a one-minute schedule, few enough that a burst cannot exhaust file descriptors.
pub const MAX_CONCURRENT_PROBES: usize = 512;
/// How often raw results past `storage.retention` are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the config file is checked for changes (SIGHUP reloads at once).
const CONFIG_POLL: Duration = Duration::from_secs(2);
/// Results kept in memory per environment for the status page's bar of recent results.
pub const RECENT_KEPT: usize = 40;
/// Uptime and latency summaries are recomputed at most this often: they come from hourly
/// rollups, and summing months of them on every page view would make the page slow.
const SUMMARY_TTL: Duration = Duration::from_secs(10);
/// A store error is logged at most this often, with the count of those held back.
const STORE_ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

/// Everything the scheduler, the web layer and the API share.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    prober: RwLock<Arc<Prober>>,
    pub store: Store,
    pub board: Arc<Board>,
    /// OTLP metrics; a disabled one when export is off. Kept across reloads (one provider for
    /// the process: counters stay continuous); reloads only change which environments report.
    pub metrics: Metrics,
    /// The newest result per environment, kept in memory so the status page and the diagnosis
    /// still work while the store is failing.
    latest: Mutex<HashMap<String, ProbeResult>>,
    /// Newest first, at most `RECENT_KEPT` per environment.
    recent: Mutex<HashMap<String, VecDeque<RecentRun>>>,
    summaries: tokio::sync::Mutex<Option<CachedSummaries>>,
    /// Bumped whenever something the status views show changes (a result, a reload).
    generation: std::sync::atomic::AtomicU64,
    pub rendered: crate::web::RenderCache,
    pub store_health: StoreHealth,
    /// Incidents and notifications: fed by every result, drained by the dispatcher.
    pub alerts: crate::alert::Alerts,
    permits: Semaphore,
    pub started_at: DateTime<Utc>,
}

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        self.config.read().clone()
    }

    fn prober(&self) -> Arc<Prober> {
        self.prober.read().clone()
    }

    pub fn latest(&self, name: &str) -> Option<ProbeResult> {
        let latest = self.latest.lock();
        latest.get(name).cloned()
    }

    /// The newest results of an environment, newest first.
    pub fn recent(&self, name: &str) -> Vec<RecentRun> {
        let recent = self.recent.lock();
        recent
            .get(name)
            .map(|runs| runs.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Uptime and latency per environment, from the store at most every `SUMMARY_TTL`; an
    /// empty map while the store cannot be read.
    pub async fn summaries(&self) -> Arc<HashMap<String, Summary>> {
        let mut cached = self.summaries.lock().await;
        if let Some((at, summaries)) = cached.as_ref()
            && at.elapsed() < SUMMARY_TTL
        {
            return summaries.clone();
        }
        match self.store.summaries(Utc::now()).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *cached = Some((Instant::now(), fresh.clone()));
                fresh
            }
            // Keep showing the last good figures rather than blanks; the failure itself is
            // reported through the store health.
            Err(err) => {
                self.store_health.failed(&err.to_string());
                cached.as_ref().map(|(_, s)| s.clone()).unwrap_or_default()
            }
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn remember(&self, result: &ProbeResult) {
        self.changed();
        let mut latest = self.latest.lock();
        latest.insert(result.environment.clone(), result.clone());
        drop(latest);
        let mut recent = self.recent.lock();
        let runs = recent.entry(result.environment.clone()).or_default();
        runs.push_front((result.started_at, result.status, result.verdict));
        runs.truncate(RECENT_KEPT);
        drop(recent);
        // An environment's first result must show in the summaries now, not a TTL later.
        if let Ok(mut cached) = self.summaries.try_lock()
            && cached
                .as_ref()
                .is_some_and(|(_, s)| !s.contains_key(&result.environment))
        {
            *cached = None;
        }
    }

    /// Fill the in-memory views from the store, so a restart shows history at once.
    async fn load_history(&self, config: &Config) {
        match self.store.latest().await {
            Ok(runs) => {
                let mut latest = self.latest.lock();
                for run in runs {
                    latest.insert(run.result.environment.clone(), run.result);
                }
            }
            Err(err) => self.store_health.failed(&err.to_string()),
        }
        for env in &config.environments {
            let name = env.name.as_str();
            if let Ok(runs) = self.store.recent_statuses(name, RECENT_KEPT as u32).await {
                let mut recent = self.recent.lock();
                recent.insert(name.to_owned(), runs.into_iter().collect());
            }
        }
    }

    /// Probe now and record the result: the one path for scheduled and on-demand probes.
    pub async fn probe_and_record(&self, env: &Environment) -> ProbeResult {
        let _permit = self.permits.acquire().await.ok();
        let history: Vec<ProbeResult> = self.latest(env.name.as_str()).into_iter().collect();
        let result = self.prober().probe_with_history(env, &history).await;
        // One line per change of verdict, not per probe: thousands of environments on a
        // one-minute schedule would otherwise bury everything else in the log.
        let changed = history
            .first()
            .is_none_or(|previous| previous.verdict != result.verdict);
        if changed {
            tracing::info!(
                environment = %result.environment,
                status = %result.status,
                verdict = %result.verdict,
                total_ms = result.phases_ms.total,
                "{}",
                result.diagnosis
            );
        } else {
            tracing::debug!(environment = %result.environment, verdict = %result.verdict, total_ms = result.phases_ms.total, "probe finished");
        }
        self.metrics.record_probe(&result);
        let now = Utc::now();
        let config = self.config();
        let in_maintenance = crate::alert::in_maintenance(&config, &env.name, now);
        if let Err(err) = self.store.insert_result(&result, in_maintenance).await {
            self.store_health.failed(&err.to_string());
        } else {
            self.store_health.succeeded();
        }
        self.remember(&result);
        // Alerting: its own transaction, so a result stored is never lost to an alert error.
        if let Err(err) = self
            .alerts
            .observe(&config, env, &result, in_maintenance, now)
            .await
        {
            self.store_health.failed(&format!("alerting: {err}"));
        }
        let open = self.alerts.open_incident(env.name.as_str()).is_some();
        self.metrics
            .set_incidents_open(env.name.as_str(), u64::from(open));
        result
    }
}

/// Whether the last write to the store worked, and logging of failures without flooding.
#[derive(Default)]
pub struct StoreHealth {
    state: Mutex<StoreState>,
}

#[derive(Default)]
struct StoreState {
    last_error: Option<(DateTime<Utc>, String)>,
    last_logged: Option<Instant>,
    held_back: u64,
}

impl StoreHealth {
    pub fn failed(&self, error: &str) {
        let mut state = self.state.lock();
        state.last_error = Some((Utc::now(), error.to_owned()));
        let due = state
            .last_logged
            .is_none_or(|at| at.elapsed() >= STORE_ERROR_LOG_EVERY);
        if due {
            tracing::error!(
                held_back = state.held_back,
                "store write failed, probing goes on: {error}"
            );
            state.last_logged = Some(Instant::now());
            state.held_back = 0;
        } else {
            state.held_back += 1;
        }
    }

    pub fn succeeded(&self) {
        let mut state = self.state.lock();
        if state.last_error.take().is_some() {
            tracing::info!("store writes work again");
        }
    }

    /// The last write error, if the last write failed.
    pub fn error(&self) -> Option<(DateTime<Utc>, String)> {
        self.state.lock().last_error.clone()
    }
}

impl Runner for Shared {
    async fn run(&self, env: Arc<Environment>, _slot: DateTime<Utc>) {
        self.probe_and_record(&env).await;
    }

    async fn skipped(&self, env: &Environment, slot: DateTime<Utc>) {
        self.metrics.record_skipped(env.name.as_str());
        if let Err(err) = self.store.record_skipped(env.name.as_str(), slot).await {
            self.store_health.failed(&err.to_string());
        }
    }
}

/// The running daemon's handles; `run` drives it.
pub struct Daemon {
    pub shared: Arc<Shared>,
    source: Option<PathBuf>,
    probes: TaskTracker,
    schedules: Mutex<Option<CancellationToken>>,
}

impl Daemon {
    /// Open the store and prepare everything; nothing runs until `run`.
    pub async fn build(config: Config) -> anyhow::Result<Daemon> {
        use anyhow::Context as _;
        let store = Store::open(&config.storage.path)
            .await
            .with_context(|| format!("cannot open the store {}", config.storage.path.display()))?;
        let source = Some(config.source.clone()).filter(|p| p.exists());
        let metrics = Metrics::start(&config, store.instance_id(), &|name| {
            std::env::var(name).ok()
        })
        .await;
        let history_for = config.clone();
        let alerts = crate::alert::Alerts::new(store.clone())
            .await
            .context("cannot start alerting")?;
        let counted = metrics.clone();
        alerts.on_delivery(move |attempt| {
            counted.record_notification(&attempt.channel, &attempt.kind, attempt.outcome.as_str());
        });

        let shared = Arc::new(Shared {
            prober: RwLock::new(Arc::new(Prober::for_config(&config))),
            config: RwLock::new(Arc::new(config)),
            store,
            board: Arc::new(Board::default()),
            metrics,
            latest: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
            summaries: tokio::sync::Mutex::new(None),
            store_health: StoreHealth::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
            rendered: crate::web::RenderCache::default(),
            alerts,
            permits: Semaphore::new(MAX_CONCURRENT_PROBES),
            started_at: Utc::now(),
        });
        shared.load_history(&history_for).await;
        Ok(Daemon {
            shared,
            source,
            probes: TaskTracker::new(),
            schedules: Mutex::new(None),
        })
    }

    /// Serve `listener` and probe on schedule until `shutdown` resolves; then stop scheduling,
    /// let in-flight probes finish within their timeout, stop the server and close the store.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let background = TaskTracker::new();
        {
            let config = self.shared.config();
            let names: Vec<&str> = config
                .environments
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            tracing::info!(
                listen = %listener.local_addr()?,
                environments = %names.join(","),
                "wsprobe daemon started"
            );
        }
        self.start_schedules();

        let router = crate::web::router(self.shared.clone());
        let server_stop = stop.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { server_stop.cancelled().await })
                .await
        });

        let daemon = Arc::new(self);
        background.spawn(prune_loop(daemon.shared.clone(), stop.clone()));
        background.spawn(reload_on_change(daemon.clone(), stop.clone()));
        background.spawn(reload_on_sighup(daemon.clone(), stop.clone()));
        background.spawn(dispatch_alerts(daemon.shared.clone(), stop.clone()));
        background.close();

        shutdown.await;
        tracing::info!("shutting down: draining in-flight probes");
        stop.cancel();
        if let Some(schedules) = daemon.schedules.lock().take() {
            schedules.cancel();
        }
        daemon.probes.close();
        let drain_limit = daemon
            .shared
            .config()
            .environments
            .iter()
            .map(|e| e.timeout)
            .max()
            .unwrap_or_default()
            + Duration::from_secs(3);
        if tokio::time::timeout(drain_limit, daemon.probes.wait())
            .await
            .is_err()
        {
            tracing::warn!("some probes did not finish within their timeout");
        }
        background.wait().await;
        let _ = server.await;
        daemon.shared.metrics.shutdown().await;
        // Store clones share their pools: closing one closes the store.
        daemon.shared.store.clone().close().await;
        tracing::info!("stopped");
        Ok(())
    }

    /// (Re)start one schedule loop per environment of the current config. Loops of a previous
    /// config stop; their in-flight probes finish, and the board keeps them from doubling.
    fn start_schedules(&self) {
        let config = self.shared.config();
        let token = CancellationToken::new();
        if let Some(previous) = self.schedules.lock().replace(token.clone()) {
            previous.cancel();
        }
        let names: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        self.shared.board.retain(&names);
        self.shared
            .metrics
            .configure(config.location.as_deref(), &names);
        // Incidents still open from before a restart (or a reload) count from the next export.
        for (env, _) in self.shared.alerts.open_incidents() {
            self.shared.metrics.set_incidents_open(&env, 1);
        }
        for env in &config.environments {
            tokio::spawn(schedule::run_environment(
                Arc::new(env.clone()),
                self.shared.clone(),
                self.shared.board.clone(),
                self.probes.clone(),
                token.clone(),
            ));
        }
    }

    /// Replace the config; an invalid new file is logged with its error and the old one stays.
    pub fn reload(&self) {
        let Some(path) = &self.source else {
            return;
        };
        match crate::config::load(path) {
            Ok(config) => {
                let count = config.environments.len();
                *self.shared.prober.write() = Arc::new(Prober::for_config(&config));
                *self.shared.config.write() = Arc::new(config);
                self.start_schedules();
                self.shared.changed();
                tracing::info!(environments = count, "config reloaded");
            }
            Err(err) => {
                tracing::error!("config reload rejected, keeping the running config: {err}");
            }
        }
    }
}

async fn prune_loop(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let retention = shared.config().storage.retention;
        match shared.store.prune(retention, Utc::now()).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned raw results past retention"),
            Err(err) => shared.store_health.failed(&err.to_string()),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
        }
    }
}

/// The notification dispatcher, on the current config; stops after its current delivery.
async fn dispatch_alerts(shared: Arc<Shared>, stop: CancellationToken) {
    shared
        .alerts
        .dispatch(
            || shared.config(),
            stop,
            |error| {
                shared
                    .store_health
                    .failed(&format!("alert outbox: {error}"))
            },
        )
        .await;
}

async fn reload_on_change(daemon: Arc<Daemon>, stop: CancellationToken) {
    let Some(path) = daemon.source.clone() else {
        return;
    };
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(CONFIG_POLL) => {}
        }
        let now = modified(&path);
        if now != seen {
            seen = now;
            tracing::info!(path = %path.display(), "config file changed");
            daemon.reload();
        }
    }
}

async fn reload_on_sighup(daemon: Arc<Daemon>, stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return;
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                received = hangup.recv() => {
                    if received.is_none() { return; }
                    tracing::info!("SIGHUP: reloading config");
                    daemon.reload();
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (daemon, stop);
    }
}
