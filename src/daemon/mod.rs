//! The daemon (`wsprobe run`): builds the store, scheduler, alerting and web server from a
//! Config and runs until the shutdown future resolves. The caller owns the listener, so tests
//! bind port 0.
//!
//! - [`state`]: what everything shares while running (config, store, alerts, in-memory views).
//! - [`pipeline`]: probe and record one result, the one path for every probe.
//! - `oncall`: acknowledgements and silences, stored, then applied.
//! - `store_writer`: the queue and the one writer task through which results reach the store;
//!   `spool`: what waits for the store, bounded, while it is away.
//! - [`status`]: the typed view the web layer reads; [`readiness`]: what `/readyz` says;
//!   `summaries`: uptime and latency from the rollups, cached.
//! - `loops`: pruning, the alert dispatcher, the store check, config reloads; `memory`: the
//!   pages a config's parse freed, handed back.
//! - [`heartbeat`]: the outbound heartbeat and systemd's watchdog, on readiness.
//! - [`signals`]: the signals that stop the daemon (SIGTERM, SIGINT).

mod away;
mod fleet;
pub mod heartbeat;
mod loops;
mod memory;
mod oncall;
mod pipeline;
pub mod readiness;
mod requests;
pub mod signals;
mod slo;
mod slo_burn;
mod spool;
pub mod state;
mod status;
mod store_health;
mod store_writer;
mod summaries;

pub use signals::{listen_for_signal, wait_for_signal};
pub use state::{DaemonState, MAX_CONCURRENT_PROBES, RECENT_KEPT};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::Alerts;
use crate::config::{Config, Environment, PublicAt};
use crate::schedule;
use crate::store::Store;
use crate::telemetry::{Metrics, Traces};
use store_health::StoreHealth;
use store_writer::StoreWriter;

/// The SQLite file, or the shared PostgreSQL of a fleet.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let Some(url) = &config.storage.url else {
        return Store::open(&config.storage.path)
            .await
            .with_context(|| format!("cannot open the store {}", config.storage.path.display()));
    };
    let location = config
        .location
        .as_deref()
        .context("location is required with storage.url")?;
    let instance = crate::fleet::instance_name(
        std::env::var("WSPROBE_INSTANCE").ok(),
        config.server.listen.port(),
    );
    let store = Store::connect(url.expose(), location, &instance)
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "cannot open the shared store at {}: {err}",
                store_target(url.expose())
            )
        })?;
    tracing::info!(%location, %instance, "joined the fleet on the shared store");
    Ok(store)
}

/// `host:port/database` of a PostgreSQL URL, for messages: the URL may carry a password.
fn store_target(url: &str) -> String {
    let Ok(url) = url::Url::parse(url) else {
        return "(an unreadable storage.url)".to_owned();
    };
    format!(
        "{}:{}/{}",
        url.host_str().unwrap_or("localhost"),
        url.port().unwrap_or(5432),
        url.path().trim_start_matches('/')
    )
}

/// The running daemon's handles; `run` drives it.
pub struct Daemon {
    state: Arc<DaemonState>,
    /// The config file, when there is one on disk to reload from.
    source: Option<PathBuf>,
    probes: TaskTracker,
    /// Each environment's schedule loop, with the settings it runs on: a reload restarts only
    /// the loops whose settings changed, so the others keep their next slot.
    schedules: Mutex<HashMap<String, (Arc<Environment>, CancellationToken)>>,
    /// Stops the store writer once the probes have drained; it flushes its queue first.
    writer_stop: CancellationToken,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Bind `server.listen` (or use `listener`), then run the daemon until SIGTERM/SIGINT.
pub async fn run_daemon(config: Config, listener: Option<TcpListener>) -> anyhow::Result<()> {
    let listener = match listener {
        Some(listener) => listener,
        None => TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?,
    };
    let first_signal = listen_for_signal();
    memory::return_freed_pages();
    let daemon = Daemon::build(config).await?;
    let shutdown = async {
        first_signal.await;
        // Draining waits for in-flight probes; a second signal means now.
        tokio::spawn(async {
            wait_for_signal().await;
            eprintln!("second signal: exiting without draining");
            std::process::exit(1);
        });
    };
    daemon.run(listener, shutdown).await
}

impl Daemon {
    /// Open the store and prepare everything; nothing runs until `run`.
    pub async fn build(config: Config) -> anyhow::Result<Daemon> {
        let store = open_store(&config).await?;
        let source = Some(config.source.clone()).filter(|p| p.exists());
        let metrics = Metrics::start(&config, store.instance_id(), &|name| {
            std::env::var(name).ok()
        })
        .await;
        let traces = Traces::start(&config, store.instance_id(), &|name| {
            std::env::var(name).ok()
        })
        .await;
        // A shared store not reached yet has nothing to read: the evaluator reads the alert
        // state when it takes the lease, the membership loop the silences.
        let alerts = if store.is_up() {
            Alerts::new(store.alerts()).await
        } else {
            Alerts::unloaded(store.alerts())
        }
        .context("cannot start alerting")?;
        let counted = metrics.clone();
        alerts.on_delivery(move |attempt| {
            counted.record_notification(&attempt.channel, &attempt.kind, attempt.outcome.as_str());
        });
        let gauge = metrics.clone();
        alerts.on_open_changed(move |env, open| gauge.set_incidents_open(env, u64::from(open)));
        let store_health = Arc::new(StoreHealth::default());
        let writer_stop = CancellationToken::new();
        let (store_writer, writer) = StoreWriter::start(
            store.clone(),
            store_health.clone(),
            metrics.clone(),
            writer_stop.clone(),
        );
        let state = Arc::new(DaemonState::new(
            config,
            store,
            metrics,
            traces,
            alerts,
            store_writer,
            store_health,
        ));
        if state.store.is_up() {
            state.load_history().await;
            if let Err(err) = state.refresh_silences().await {
                state
                    .store_health
                    .failed(&format!("silences not read: {err}"));
            }
            // Slots are named on the database's clock, and their owners among the replicas
            // alive: know both before the first slot, or this replica takes itself for the
            // owner of every slot until its first membership round.
            if let Some(fleet) = &state.fleet
                && let Err(err) = fleet::learn_clock_and_replicas(fleet).await
            {
                tracing::warn!("cannot read the database's clock and replicas yet: {err}");
            }
        }
        Ok(Daemon {
            state,
            source,
            probes: TaskTracker::new(),
            schedules: Mutex::new(HashMap::new()),
            writer_stop,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The shared state, for callers that probe or read views directly.
    pub fn state(&self) -> &Arc<DaemonState> {
        &self.state
    }

    /// Serve `listener` and probe on schedule until `shutdown` resolves; then stop scheduling,
    /// let in-flight probes finish within their timeout, stop the server and close the store.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Before anything starts: a public port that cannot be had is a start-up error.
        let public = self.bind_public().await?;
        let stop = CancellationToken::new();
        let background = TaskTracker::new();
        let listen = listener.local_addr()?;
        tracing::info!(
            listen = %listen,
            status_page = %status_page_address(listen),
            environments = %names_for_log(&self.state.config()),
            "wsprobe daemon started"
        );
        self.start_schedules();

        let servers = serve_web(&self.state, listener, public, &stop);

        let daemon = Arc::new(self);
        daemon.spawn_loops(&background, &stop);
        heartbeat::notify_ready();
        background.close();

        shutdown.await;
        heartbeat::notify_stopping();
        tracing::info!("shutting down: draining in-flight probes");
        stop.cancel();
        daemon.state.stopping.cancel();
        for (_, (_, loop_stop)) in daemon.schedules.lock().drain() {
            loop_stop.cancel();
        }
        daemon.probes.close();
        let drain_limit = daemon
            .state
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
        for server in servers {
            let _ = server.await;
        }
        daemon.writer_stop.cancel();
        let writer = daemon.writer.lock().take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        tokio::join!(
            daemon.state.metrics.shutdown(),
            daemon.state.traces.shutdown()
        );
        // Store clones share their pools: closing one closes the store.
        daemon.state.store.clone().close().await;
        tracing::info!("stopped");
        Ok(())
    }

    /// The loops beside the schedules, each until `stop`: pruning, reloads, the store's
    /// health, SLOs, heartbeats, and either the single node's alert dispatch or the fleet's
    /// membership, views, evaluator and answers.
    fn spawn_loops(self: &Arc<Self>, background: &TaskTracker, stop: &CancellationToken) {
        background.spawn(loops::prune(self.state.clone(), stop.clone()));
        background.spawn(loops::reload_on_change(self.clone(), stop.clone()));
        background.spawn(loops::reload_on_sighup(self.clone(), stop.clone()));
        match self.state.fleet.clone() {
            None => {
                background.spawn(loops::dispatch_alerts(self.state.clone(), stop.clone()));
            }
            Some(fleet) => {
                background.spawn(fleet::membership(
                    self.state.clone(),
                    fleet.clone(),
                    stop.clone(),
                ));
                background.spawn(fleet::shared_views(
                    self.state.clone(),
                    fleet.clone(),
                    stop.clone(),
                ));
                background.spawn(away::run(self.state.clone(), fleet.clone(), stop.clone()));
                background.spawn(requests::answer_requests(
                    self.state.clone(),
                    fleet.clone(),
                    self.probes.clone(),
                    stop.clone(),
                ));
                background.spawn(fleet::evaluate(self.state.clone(), fleet, stop.clone()));
            }
        }
        background.spawn(loops::check_store(self.state.clone(), stop.clone()));
        background.spawn(slo::refresh_slo(self.state.clone(), stop.clone()));
        background.spawn(heartbeat::heartbeat(self.state.clone(), stop.clone()));
        background.spawn(heartbeat::watchdog(self.state.clone(), stop.clone()));
    }

    /// The public page's own listener, when `server.public.listen` asks for one (read at
    /// start: a new address takes a restart).
    async fn bind_public(&self) -> anyhow::Result<Option<TcpListener>> {
        let config = self.state.config();
        let Some(PublicAt::Listen(addr)) = config.server.public.as_ref().map(|p| &p.at) else {
            return Ok(None);
        };
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (server.public.listen)"))?;
        let bound = listener.local_addr()?;
        tracing::info!(public_page = %status_page_address(bound), "public page listening");
        Ok(Some(listener))
    }

    /// One schedule loop per environment of the current config: loops of environments whose
    /// settings did not change go on untouched; removed or changed ones stop (their in-flight
    /// probes finish, and the board keeps them from doubling) and changed or new ones start.
    fn start_schedules(&self) {
        let config = self.state.config();
        let names = environment_names(&config);
        self.state.board.retain(&names);
        self.state
            .metrics
            .configure(config.location.as_deref(), &names);
        // Incidents still open from before a restart (or a reload) count from the next export.
        self.state.alerts.announce_open_incidents();
        let mut schedules = self.schedules.lock();
        let wanted: HashMap<&str, &Arc<Environment>> = config
            .environments
            .iter()
            .map(|env| (env.name.as_str(), env))
            .collect();
        schedules.retain(|name, (running, loop_stop)| {
            let unchanged = wanted
                .get(name.as_str())
                .is_some_and(|env| **env == *running);
            if !unchanged {
                loop_stop.cancel();
            }
            unchanged
        });
        let mut started = 0;
        for env in &config.environments {
            if schedules.contains_key(env.name.as_str()) {
                continue;
            }
            let loop_stop = CancellationToken::new();
            tokio::spawn(schedule::run_environment(
                env.clone(),
                self.state.clone(),
                self.state.board.clone(),
                self.probes.clone(),
                loop_stop.clone(),
            ));
            schedules.insert(env.name.as_str().to_owned(), (env.clone(), loop_stop));
            started += 1;
        }
        tracing::debug!(started, kept = schedules.len() - started, "schedules");
    }

    /// Replace the config; an invalid new file is logged with its error and the old one stays.
    pub fn reload(&self) {
        let Some(path) = &self.source else {
            return;
        };
        match crate::config::load(path) {
            Ok(config) => {
                let count = config.environments.len();
                self.state.reload_accepted();
                self.state.replace_config(config);
                self.start_schedules();
                memory::return_freed_pages();
                tracing::info!(environments = count, "config reloaded");
            }
            // A change of the file and a SIGHUP for the same edit both reload: the same
            // refusal is logged once, and stays on the status page until a reload succeeds.
            Err(err) => {
                if self.state.reload_rejected(err.to_string()) {
                    tracing::error!("config reload rejected, keeping the running config: {err}");
                }
            }
        }
    }
}

/// Serve the on-call routes on `listener`, and the public page on `public` when it has a
/// listener of its own. Both stay within the web's share of descriptors, halved between them
/// when there are two, so that a crowd reading the public page cannot take on-call's
/// connections.
fn serve_web(
    state: &Arc<DaemonState>,
    listener: TcpListener,
    public: Option<TcpListener>,
    stop: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (descriptors, max_connections) = crate::web::serve::descriptor_budget();
    let cap = if public.is_some() {
        max_connections / 2
    } else {
        max_connections
    };
    tracing::debug!(descriptors, cap, "descriptor budget");
    let serve = |listener, router| {
        tokio::spawn(crate::web::serve::serve(
            listener,
            router,
            cap,
            stop.clone(),
        ))
    };
    let mut servers = vec![serve(listener, crate::web::router(state.clone()))];
    if let Some(public) = public {
        servers.push(serve(public, crate::web::public_router(state.clone())));
    }
    servers
}

/// The environments on the start's log line: all of a usual config, the first few of a large
/// one (a line of 100,000 names helps nobody and weighs megabytes).
fn names_for_log(config: &Config) -> String {
    const LISTED: usize = 20;
    let names = environment_names(config);
    if names.len() <= LISTED {
        return names.join(",");
    }
    format!(
        "{},… ({} more)",
        names[..LISTED].join(","),
        names.len() - LISTED
    )
}

/// The configured environments' names, in config order.
fn environment_names(config: &Config) -> Vec<&str> {
    config
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect()
}

/// Where a person on this machine opens the status page: a wildcard listen address is
/// reached on loopback.
fn status_page_address(listen: std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}/", std::net::SocketAddr::new(ip, listen.port()))
}

#[cfg(test)]
mod tests {
    use super::{status_page_address, store_target};

    #[test]
    fn the_store_is_named_without_its_password() {
        let named = store_target("postgres://probe:s3cret@db.internal:6543/fleet?sslmode=require");
        assert_eq!(named, "db.internal:6543/fleet");
        assert_eq!(store_target("postgres://db/fleet"), "db:5432/fleet");
    }

    #[test]
    fn the_status_page_is_said_where_a_person_opens_it() {
        for (listen, page) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("0.0.0.0:8080", "http://127.0.0.1:8080/"),
            ("[::]:9000", "http://[::1]:9000/"),
            ("10.1.2.3:80", "http://10.1.2.3:80/"),
        ] {
            assert_eq!(status_page_address(listen.parse().unwrap()), page);
        }
    }
}
