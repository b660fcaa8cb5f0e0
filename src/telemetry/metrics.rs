//! The SPEC's metrics, exported over OTLP with the OpenTelemetry SDK.
//!
//! Shape, and why:
//! - Per-environment values (`probe.up`, `health.up`, `tls.cert.not_after`, `incidents.open`,
//!   `probe.runs`, `schedule.skipped`) live in one map here, which `record_*` update under a
//!   short lock, and which *observable* instruments read at each collection. The SDK reports an
//!   observable instrument's points only from its latest callback, so an environment dropped
//!   from the map on reload ([`Metrics::configure`]) stops being reported at the next export,
//!   and what is held is bounded by the environments configured. Counters are cumulative
//!   totals kept in that map (observable counters), which is why removal works for them too.
//! - `probe.duration` is a synchronous histogram (there is no observable one). Its series of an
//!   environment removed on reload stay in the SDK, unchanging, until the process restarts:
//!   bounded (ten phases per removed environment) and documented.
//! - `notifications` is a synchronous counter: its attributes come from the alert config.
//! - Export runs on the SDK's `PeriodicReader` thread with a blocking HTTP client (or a lazily
//!   connected tonic channel for gRPC), so a collector that is down or slow costs that thread
//!   time, never a probe. `record_*` only take a mutex or add to an SDK aggregator.
//! - Temporality is cumulative; every instrument has a cardinality limit, so nothing grows
//!   without bound whatever a probed server answers (close codes are also capped per
//!   environment here).
//! - The SDK's own diagnostics are compiled out (`internal-logs` off); export failures are
//!   logged by `ExportLog` here: the first failure at once, then at most one line per
//!   [`EXPORT_ERROR_LOG_EVERY`] with a count, and one line when export works again.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{
    MetricExporter, Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};

use super::otlp::{Compression, OtlpSettings};
use crate::config::{Config, OtlpProtocol};
use crate::probe::ProbeResult;

/// Bucket boundaries of `wsprobe.probe.duration`, in seconds: a loopback DNS answer or TCP
/// connect (0.1 ms) up to a whole probe budget (60 s), roughly 1–2.5–5 per decade.
pub const DURATION_BOUNDARIES: [f64; 21] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];
/// Series per instrument the SDK keeps before folding new ones into `otel.metric.overflow`:
/// ten `phase` series per environment for 2000 environments.
pub const CARDINALITY_LIMIT: usize = 20_000;
/// Distinct (verdict, close code) pairs kept per environment; further close codes are counted
/// as `other`, so a server cycling through close codes cannot grow memory.
const RUN_SERIES_PER_ENVIRONMENT: usize = 128;
/// A failing export is logged at most this often (with the count of failures held back).
pub const EXPORT_ERROR_LOG_EVERY: Duration = Duration::from_secs(300);
/// How long shutdown waits for the final export beyond the exporter's own timeout.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What an instrument is, as the SPEC's table and OTLP name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Histogram,
    Gauge,
    /// A monotonic cumulative sum.
    Counter,
}

/// One row of the SPEC's metrics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// UCUM as OTLP carries it; empty for none.
    pub unit: &'static str,
    /// Besides `location`, which every instrument carries when it is set.
    pub attributes: &'static [&'static str],
    pub description: &'static str,
}

pub const PROBE_DURATION: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.probe.duration",
    kind: Kind::Histogram,
    unit: "s",
    attributes: &["environment", "phase"],
    description: "Time of each probe phase and of the whole probe (phase=total).",
};
pub const PROBE_UP: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.probe.up",
    kind: Kind::Gauge,
    unit: "{up}",
    attributes: &["environment"],
    description: "1 when the last probe was up or degraded, 0 when down.",
};
pub const PROBE_RUNS: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.probe.runs",
    kind: Kind::Counter,
    unit: "",
    attributes: &["environment", "verdict", "status", "close_code"],
    description: "Probes run, by verdict, status and close code (none when no close frame).",
};
pub const HEALTH_UP: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.health.up",
    kind: Kind::Gauge,
    unit: "{up}",
    attributes: &["environment"],
    description: "1 when the last HTTP health check was as expected, 0 otherwise.",
};
pub const TLS_CERT_NOT_AFTER: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.tls.cert.not_after",
    kind: Kind::Gauge,
    unit: "s",
    attributes: &["environment"],
    description: "Expiry of the server certificate last seen, as Unix time.",
};
pub const INCIDENTS_OPEN: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.incidents.open",
    kind: Kind::Gauge,
    unit: "",
    attributes: &["environment"],
    description: "Incidents open for the environment.",
};
pub const NOTIFICATIONS: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.notifications",
    kind: Kind::Counter,
    unit: "",
    attributes: &["channel", "kind", "outcome"],
    description: "Notification delivery attempts by channel, kind and outcome.",
};
pub const SCHEDULE_SKIPPED: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.schedule.skipped",
    kind: Kind::Counter,
    unit: "",
    attributes: &["environment"],
    description: "Schedule slots skipped because the previous probe was still running.",
};

/// Every instrument wsprobe exports, in the SPEC's order.
pub const INSTRUMENTS: [InstrumentSpec; 8] = [
    PROBE_DURATION,
    PROBE_UP,
    PROBE_RUNS,
    HEALTH_UP,
    TLS_CERT_NOT_AFTER,
    INCIDENTS_OPEN,
    NOTIFICATIONS,
    SCHEDULE_SKIPPED,
];

/// Records wsprobe's metrics; cheap to clone (clones share everything). A disabled one (export
/// off, `wsprobe check`, tests) makes every call a no-op.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    /// Shared with the observable instruments' callbacks.
    state: Arc<Mutex<State>>,
    duration: Histogram<f64>,
    notifications: Counter<u64>,
    /// Taken by `shutdown`; dropped off the async runtime otherwise (see `Drop`).
    provider: Mutex<Option<SdkMeterProvider>>,
    /// The exporter's per-export budget: bounds how long shutdown waits.
    timeout: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The provider's own Drop shuts it down, which exports once more and drops the
        // blocking HTTP client: neither may happen on an async worker.
        if let Some(provider) = self.provider.get_mut().take() {
            let _ = std::thread::Builder::new()
                .name("wsprobe-metrics-drop".into())
                .spawn(move || drop(provider));
        }
    }
}

/// The per-environment values the observable instruments report.
#[derive(Debug, Default)]
struct State {
    location: Option<String>,
    /// The configured environments; `None` until [`Metrics::configure`], accepting any.
    known: Option<HashSet<String>>,
    environments: BTreeMap<String, EnvState>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct EnvState {
    up: Option<i64>,
    health_up: Option<i64>,
    cert_not_after: Option<i64>,
    incidents_open: u64,
    /// (verdict, status, close code) → runs.
    runs: BTreeMap<(&'static str, &'static str, String), u64>,
    skipped: u64,
}

impl State {
    fn accepts(&self, environment: &str) -> bool {
        self.known
            .as_ref()
            .is_none_or(|known| known.contains(environment))
    }

    /// The entry of an environment still configured; `None` for one removed on reload (a
    /// probe that was in flight then must not bring it back).
    fn entry(&mut self, environment: &str) -> Option<&mut EnvState> {
        if !self.accepts(environment) {
            return None;
        }
        Some(self.environments.entry(environment.to_owned()).or_default())
    }

    fn record_probe(&mut self, result: &ProbeResult) {
        let Some(env) = self.entry(&result.environment) else {
            return;
        };
        env.up = Some(i64::from(result.status.is_serving()));
        if let Some(health) = &result.health {
            env.health_up = Some(i64::from(health.ok));
        }
        // A probe that failed before TLS says nothing about the certificate: keep the last seen.
        if let Some(not_after) = result.tls.as_ref().and_then(|tls| tls.cert_not_after) {
            env.cert_not_after = Some(not_after.timestamp());
        }
        let mut close_code = result
            .close_code
            .map_or_else(|| "none".to_owned(), |code| code.to_string());
        let verdict = result.verdict.as_str();
        let status = result.status.as_str();
        if env.runs.len() >= RUN_SERIES_PER_ENVIRONMENT
            && !env
                .runs
                .contains_key(&(verdict, status, close_code.clone()))
        {
            close_code = "other".to_owned();
        }
        *env.runs.entry((verdict, status, close_code)).or_default() += 1;
    }

    fn configure(&mut self, location: Option<&str>, environments: &[&str]) {
        if self.location.as_deref() != location {
            // Every series changes its `location`: start them afresh rather than carry counts
            // over to series that never had them.
            self.environments.clear();
            self.location = location.map(str::to_owned);
        }
        let known: HashSet<String> = environments.iter().map(|name| (*name).to_owned()).collect();
        self.environments.retain(|name, _| known.contains(name));
        for name in environments {
            // incidents.open is 0 for every environment until alerting says otherwise.
            self.environments.entry((*name).to_owned()).or_default();
        }
        self.known = Some(known);
    }

    fn attributes(&self, environment: &str) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(6);
        attributes.push(KeyValue::new("environment", environment.to_owned()));
        if let Some(location) = &self.location {
            attributes.push(KeyValue::new("location", location.clone()));
        }
        attributes
    }
}

impl Metrics {
    /// No export, every call a no-op: for `wsprobe check`, tests, and export off.
    pub fn disabled() -> Metrics {
        Metrics { inner: None }
    }

    /// Resolve the export settings from `config` and `env` (the process environment in
    /// production), say once whether export is on, and start the exporter. Never fails: a
    /// telemetry problem must not stop the probes, so it is logged and export stays off.
    pub async fn start(
        config: &Config,
        instance_id: &str,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Metrics {
        let resolved = OtlpSettings::resolve(config.telemetry.as_ref(), env);
        for warning in &resolved.warnings {
            tracing::warn!("{warning}");
        }
        let settings = match resolved.export {
            Ok(settings) => settings,
            Err(off) => {
                tracing::info!("metrics export off: {off}");
                return Metrics::disabled();
            }
        };
        let endpoint = crate::config::redact_url(&settings.endpoint);
        let protocol = settings.protocol_name();
        let interval = settings.interval;
        let metrics = Metrics::export_to(settings, instance_id).await;
        match metrics {
            Ok(metrics) => {
                metrics.configure(
                    config.location.as_deref(),
                    &config
                        .environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>(),
                );
                tracing::info!(
                    endpoint = %endpoint,
                    protocol,
                    interval = %humantime::format_duration(interval),
                    "metrics export on"
                );
                metrics
            }
            Err(err) => {
                tracing::error!("metrics export off: cannot set up the OTLP exporter: {err}");
                Metrics::disabled()
            }
        }
    }

    /// Build the SDK pipeline for `settings`. The exporter is built off the async workers
    /// (the blocking HTTP client must be) but inside the runtime (tonic's lazy channel
    /// spawns its connection task on it).
    pub async fn export_to(settings: OtlpSettings, instance_id: &str) -> anyhow::Result<Metrics> {
        let instance_id = instance_id.to_owned();
        let timeout = settings.timeout;
        let provider =
            tokio::task::spawn_blocking(move || build_provider(&settings, &instance_id)).await??;
        let meter = provider.meter_with_scope(
            InstrumentationScope::builder("wsprobe")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        let state = Arc::new(Mutex::new(State::default()));
        register_observables(&meter, &state);
        let duration = meter
            .f64_histogram(PROBE_DURATION.name)
            .with_unit(PROBE_DURATION.unit)
            .with_description(PROBE_DURATION.description)
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .build();
        let notifications = meter
            .u64_counter(NOTIFICATIONS.name)
            .with_description(NOTIFICATIONS.description)
            .build();
        Ok(Metrics {
            inner: Some(Arc::new(Inner {
                state,
                duration,
                notifications,
                provider: Mutex::new(Some(provider)),
                timeout,
            })),
        })
    }

    pub fn is_exporting(&self) -> bool {
        self.inner.is_some()
    }

    /// The environments now configured (and the location): start and every reload. Those no
    /// longer configured stop being reported; new ones report `incidents.open` 0 at once.
    pub fn configure(&self, location: Option<&str>, environments: &[&str]) {
        if let Some(inner) = &self.inner {
            inner.lock().configure(location, environments);
        }
    }

    /// One probe result: its phases, verdict, close code, health and certificate.
    pub fn record_probe(&self, result: &ProbeResult) {
        let Some(inner) = &self.inner else {
            return;
        };
        let attributes = {
            let mut state = inner.lock();
            if !state.accepts(&result.environment) {
                return;
            }
            state.record_probe(result);
            state.attributes(&result.environment)
        };
        for (phase, ms) in result.phases_ms.named() {
            let Some(ms) = ms.filter(|ms| ms.is_finite() && *ms >= 0.0) else {
                continue;
            };
            let mut with_phase = attributes.clone();
            with_phase.push(KeyValue::new("phase", phase));
            inner.duration.record(ms / 1000.0, &with_phase);
        }
    }

    /// A schedule slot skipped because the environment's previous probe was still running.
    pub fn record_skipped(&self, environment: &str) {
        if let Some(inner) = &self.inner
            && let Some(env) = inner.lock().entry(environment)
        {
            env.skipped += 1;
        }
    }

    /// Incidents open for an environment now (alerting calls this on every change).
    pub fn set_incidents_open(&self, environment: &str, open: u64) {
        if let Some(inner) = &self.inner
            && let Some(env) = inner.lock().entry(environment)
        {
            env.incidents_open = open;
        }
    }

    /// One notification attempt: `channel` is the channel's name, `kind` its kind (`slack`,
    /// `pagerduty`, `webhook`, `log`), `outcome` one of `delivered`, `retried`, `failed`.
    pub fn record_notification(&self, channel: &str, kind: &str, outcome: &str) {
        let Some(inner) = &self.inner else {
            return;
        };
        let mut attributes = vec![
            KeyValue::new("channel", channel.to_owned()),
            KeyValue::new("kind", kind.to_owned()),
            KeyValue::new("outcome", outcome.to_owned()),
        ];
        if let Some(location) = inner.lock().location.clone() {
            attributes.push(KeyValue::new("location", location));
        }
        inner.notifications.add(1, &attributes);
    }

    /// Export what is recorded and stop the exporter, off the async workers and within the
    /// exporter's timeout (twice: flush, then the final export of shutdown) plus a grace: a
    /// collector that is down must not hold up the daemon's exit. Later calls do nothing.
    pub async fn shutdown(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        let Some(provider) = inner.provider.lock().take() else {
            return;
        };
        let limit = inner.timeout * 2 + SHUTDOWN_GRACE;
        let flush = tokio::task::spawn_blocking(move || {
            let flushed = provider.force_flush();
            let shut = provider.shutdown();
            drop(provider);
            flushed.and(shut)
        });
        match tokio::time::timeout(limit, flush).await {
            Ok(Ok(Ok(()))) => tracing::info!("metrics flushed"),
            // Why the export failed is in the export log line.
            Ok(Ok(Err(_))) => tracing::warn!(
                "metrics not flushed at shutdown: the collector did not take the last export"
            ),
            Ok(Err(err)) => tracing::warn!("metrics not flushed at shutdown: {err}"),
            Err(_) => tracing::warn!(
                "metrics not flushed at shutdown: the collector did not answer within {}",
                humantime::format_duration(limit)
            ),
        }
    }
}

impl Inner {
    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }
}

fn register_observables(meter: &Meter, state: &Arc<Mutex<State>>) {
    fn read(state: &Mutex<State>) -> parking_lot::MutexGuard<'_, State> {
        state.lock()
    }
    let gauge = |spec: InstrumentSpec, value: fn(&EnvState) -> Option<i64>| {
        let state = state.clone();
        meter
            .i64_observable_gauge(spec.name)
            .with_unit(spec.unit)
            .with_description(spec.description)
            .with_callback(move |observer| {
                let state = read(&state);
                for (name, env) in &state.environments {
                    if let Some(value) = value(env) {
                        observer.observe(value, &state.attributes(name));
                    }
                }
            })
            .build()
    };
    // The SDK keeps the callbacks registered for the provider's life: the handles need not be.
    let _ = gauge(PROBE_UP, |env| env.up);
    let _ = gauge(HEALTH_UP, |env| env.health_up);
    let _ = gauge(TLS_CERT_NOT_AFTER, |env| env.cert_not_after);
    let _ = gauge(INCIDENTS_OPEN, |env| {
        Some(i64::try_from(env.incidents_open).unwrap_or(i64::MAX))
    });

    let runs = state.clone();
    let _ = meter
        .u64_observable_counter(PROBE_RUNS.name)
        .with_description(PROBE_RUNS.description)
        .with_callback(move |observer| {
            let state = read(&runs);
            for (name, env) in &state.environments {
                for ((verdict, status, close_code), count) in &env.runs {
                    let mut attributes = state.attributes(name);
                    attributes.push(KeyValue::new("verdict", *verdict));
                    attributes.push(KeyValue::new("status", *status));
                    attributes.push(KeyValue::new("close_code", close_code.clone()));
                    observer.observe(*count, &attributes);
                }
            }
        })
        .build();
    let skipped = state.clone();
    let _ = meter
        .u64_observable_counter(SCHEDULE_SKIPPED.name)
        .with_description(SCHEDULE_SKIPPED.description)
        .with_callback(move |observer| {
            let state = read(&skipped);
            for (name, env) in &state.environments {
                observer.observe(env.skipped, &state.attributes(name));
            }
        })
        .build();
}

fn build_provider(settings: &OtlpSettings, instance_id: &str) -> anyhow::Result<SdkMeterProvider> {
    let exporter = ExportLog::wrap(build_exporter(settings)?, &settings.endpoint);
    let reader = PeriodicReader::builder(exporter)
        .with_interval(settings.interval)
        .build();
    let resource = Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attributes(
            settings
                .resource
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        )
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", instance_id.to_owned()),
        ])
        .build();
    Ok(SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader)
        .with_view(|instrument: &Instrument| {
            instrument
                .name()
                .starts_with("wsprobe.")
                .then(|| {
                    Stream::builder()
                        .with_cardinality_limit(CARDINALITY_LIMIT)
                        .build()
                        .ok()
                })
                .flatten()
        })
        .build())
}

fn build_exporter(settings: &OtlpSettings) -> anyhow::Result<MetricExporter> {
    use anyhow::Context as _;
    let exporter = match settings.protocol {
        OtlpProtocol::HttpProtobuf => {
            // reqwest is built without a default TLS provider: install ring's first.
            crate::probe::tls::ensure_crypto_provider();
            let client = reqwest::blocking::Client::builder()
                .timeout(settings.timeout)
                .build()
                .context("cannot build the HTTP client")?;
            let mut builder = MetricExporter::builder()
                .with_http()
                .with_http_client(client)
                .with_endpoint(settings.endpoint.as_str())
                .with_protocol(Protocol::HttpBinary)
                .with_timeout(settings.timeout)
                .with_headers(settings.headers.clone().into_iter().collect());
            if settings.compression == Compression::Gzip {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            builder.with_temporality(Temporality::Cumulative).build()
        }
        OtlpProtocol::Grpc => {
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &settings.headers {
                // Both were checked when the settings were resolved.
                if let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_str(value),
                ) {
                    headers.insert(name, value);
                }
            }
            let mut builder = MetricExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.as_str())
                .with_protocol(Protocol::Grpc)
                .with_timeout(settings.timeout)
                .with_metadata(
                    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers),
                );
            if settings.endpoint.scheme() == "https" {
                builder = builder.with_tls_config(
                    opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new()
                        .with_webpki_roots(),
                );
            }
            if settings.compression == Compression::Gzip {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            builder.with_temporality(Temporality::Cumulative).build()
        }
    };
    exporter.context("cannot build the OTLP exporter")
}

/// Logs export failures without flooding: the first at once, then one line per
/// [`EXPORT_ERROR_LOG_EVERY`] at most (with how many were held back), and one line when
/// exports work again. Wraps the exporter, so it sees every export's outcome.
#[derive(Debug)]
struct ExportLog<E> {
    exporter: E,
    /// Scheme, host, port and path only: an endpoint may carry credentials.
    endpoint: String,
    state: Mutex<ExportLogState>,
}

#[derive(Debug, Default)]
struct ExportLogState {
    failures: u64,
    last_logged: Option<Instant>,
    held_back: u64,
}

impl<E> ExportLog<E> {
    fn wrap(exporter: E, endpoint: &url::Url) -> Self {
        ExportLog {
            exporter,
            endpoint: crate::config::redact_url(endpoint),
            state: Mutex::new(ExportLogState::default()),
        }
    }

    fn observe(&self, result: &OTelSdkResult) {
        let mut state = self.state.lock();
        match result {
            Ok(()) => {
                if state.failures > 0 {
                    tracing::info!(
                        failures = state.failures,
                        "metrics export to {} works again",
                        self.endpoint
                    );
                }
                *state = ExportLogState::default();
            }
            Err(err) => {
                state.failures += 1;
                let due = state
                    .last_logged
                    .is_none_or(|at| at.elapsed() >= EXPORT_ERROR_LOG_EVERY);
                if due {
                    tracing::warn!(
                        held_back = state.held_back,
                        "metrics export to {} failed, probing goes on: {err}",
                        self.endpoint
                    );
                    state.last_logged = Some(Instant::now());
                    state.held_back = 0;
                } else {
                    state.held_back += 1;
                }
            }
        }
    }
}

impl<E: PushMetricExporter> PushMetricExporter for ExportLog<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.exporter.export(metrics).await;
        self.observe(&result);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.exporter.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::result::{Phases, TlsInfo};
    use crate::probe::{HealthInfo, Status, Verdict};

    fn result(env: &str, verdict: Verdict, close_code: Option<u16>) -> ProbeResult {
        ProbeResult {
            environment: env.to_owned(),
            location: None,
            url: "ws://secret.example/ws?token=abc".to_owned(),
            started_at: chrono::Utc::now(),
            status: verdict.status(),
            verdict,
            close_code,
            close_reason: None,
            close_after_ms: None,
            http_status: Some(101),
            body_excerpt: None,
            subprotocol: None,
            attempts: 1,
            failed_step: None,
            version: None,
            phases_ms: Phases::default(),
            tls: None,
            health: None,
            headers: Default::default(),
            messages: Vec::new(),
            diagnosis: String::new(),
            error: None,
        }
    }

    #[test]
    fn a_probe_updates_its_environment() {
        let mut state = State::default();
        let mut ok = result("a", Verdict::Ok, Some(1000));
        ok.health = Some(HealthInfo {
            http_status: Some(200),
            ok: true,
            error: None,
        });
        let not_after = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        ok.tls = Some(TlsInfo {
            version: "TLSv1.3".into(),
            cert_subject: None,
            cert_issuer: None,
            cert_not_after: Some(not_after),
        });
        state.record_probe(&ok);
        state.record_probe(&result("a", Verdict::ClosedBeforeReady, Some(1011)));
        state.record_probe(&result("a", Verdict::ClosedBeforeReady, Some(1011)));
        state.record_probe(&result("a", Verdict::ConnectRefused, None));
        let env = &state.environments["a"];
        assert_eq!(env.up, Some(0), "the last result counts");
        assert_eq!(
            env.health_up,
            Some(1),
            "kept from the last result that had one"
        );
        assert_eq!(
            env.cert_not_after,
            Some(1_900_000_000),
            "kept when TLS was not reached"
        );
        assert_eq!(env.incidents_open, 0);
        let runs: Vec<_> = env
            .runs
            .iter()
            .map(|((v, s, c), n)| (*v, *s, c.as_str(), *n))
            .collect();
        assert_eq!(
            runs,
            [
                ("closed_before_ready", "down", "1011", 2),
                ("connect_refused", "down", "none", 1),
                ("ok", "up", "1000", 1),
            ]
        );
        let mut slow = result("a", Verdict::Slow, None);
        slow.status = Status::Degraded;
        state.record_probe(&slow);
        assert_eq!(state.environments["a"].up, Some(1), "degraded serves");
    }

    #[test]
    fn configure_drops_removed_environments_and_zeroes_incidents_of_new_ones() {
        let mut state = State::default();
        state.record_probe(&result("old", Verdict::Ok, None));
        state.record_probe(&result("kept", Verdict::Ok, None));
        state.configure(None, &["kept", "new"]);
        assert_eq!(
            state.environments.keys().collect::<Vec<_>>(),
            ["kept", "new"]
        );
        assert_eq!(state.environments["new"], EnvState::default());
        assert_eq!(state.environments["kept"].up, Some(1));
        // A probe of a removed environment that was still in flight does not bring it back.
        state.record_probe(&result("old", Verdict::Ok, None));
        assert!(!state.environments.contains_key("old"));
        // A new location restarts every series under it.
        state.configure(Some("eu"), &["kept"]);
        assert_eq!(state.environments["kept"], EnvState::default());
        let attributes = state.attributes("kept");
        assert_eq!(
            attributes,
            [
                KeyValue::new("environment", "kept"),
                KeyValue::new("location", "eu")
            ]
        );
    }

    #[test]
    fn close_codes_are_capped_per_environment() {
        let mut state = State::default();
        for code in 0..1000u16 {
            state.record_probe(&result("a", Verdict::ClosedBeforeReady, Some(3000 + code)));
        }
        let runs = &state.environments["a"].runs;
        assert_eq!(runs.len(), RUN_SERIES_PER_ENVIRONMENT + 1);
        let other = runs[&("closed_before_ready", "down", "other".to_owned())];
        assert_eq!(other, 1000 - RUN_SERIES_PER_ENVIRONMENT as u64);
    }

    #[test]
    fn boundaries_are_sorted_and_span_sub_millisecond_to_a_minute() {
        assert!(DURATION_BOUNDARIES.windows(2).all(|w| w[0] < w[1]));
        let (first, last) = (DURATION_BOUNDARIES.first(), DURATION_BOUNDARIES.last());
        assert_eq!((first, last), (Some(&0.0001), Some(&60.0)));
    }

    #[test]
    fn export_failures_are_logged_once_per_period() {
        let log = ExportLog::wrap((), &url::Url::parse("http://c:4318/v1/metrics").unwrap());
        let failed: OTelSdkResult = Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
            "refused".into(),
        ));
        for _ in 0..5 {
            log.observe(&failed);
        }
        {
            let state = log.state.lock();
            assert_eq!((state.failures, state.held_back), (5, 4));
        }
        log.observe(&Ok(()));
        let state = log.state.lock();
        assert_eq!((state.failures, state.held_back), (0, 0));
        assert!(
            state.last_logged.is_none(),
            "a new outage is logged at once"
        );
    }
}
