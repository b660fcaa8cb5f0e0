//! The SPEC's metrics, exported over OTLP with the OpenTelemetry SDK.
//!
//! Shape, and why:
//! - Per-environment values (`probe.up`, `health.up`, `tls.cert.not_after`, `incidents.open`,
//!   `slo.budget_remaining`, `probe.runs`, `schedule.skipped`) live in one map here, which `record_*` update under a
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
//!   logged by `ExportLog` (in `export`): the first failure at once, then at most one line per
//!   [`EXPORT_ERROR_LOG_EVERY`] with a count, and one line when export works again.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use parking_lot::Mutex;

pub use super::export::EXPORT_ERROR_LOG_EVERY;
use super::export::{build_provider, resource};
pub use super::instruments::*;
use super::otlp::OtlpSettings;
use crate::config::Config;
use crate::probe::ProbeResult;

/// Distinct (verdict, close code) pairs kept per environment; further close codes are counted
/// as `other`, so a server cycling through close codes cannot grow memory.
const RUN_SERIES_PER_ENVIRONMENT: usize = 128;
/// How long shutdown waits for the final export beyond the exporter's own timeout.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Records wsprobe's metrics; cheap to clone (clones share everything). A disabled one (export
/// off, `wsprobe check`, tests) makes every call a no-op.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    /// Shared with the observable instruments' callbacks.
    state: Arc<Mutex<ObservedValues>>,
    duration: Histogram<f64>,
    notifications: Counter<u64>,
    /// Taken by `shutdown`; dropped off the async runtime otherwise (see `Drop`).
    provider: Mutex<Option<SdkMeterProvider>>,
    /// The exporter's per-export budget: bounds how long shutdown waits.
    timeout: Duration,
    /// Pushed over OTLP (else only pulled through `GET /metrics`).
    exporting: bool,
    /// What `GET /metrics` gathers from; `None` when `telemetry.prometheus` is off.
    registry: Option<prometheus::Registry>,
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
struct ObservedValues {
    location: Option<String>,
    /// The configured environments; `None` until [`Metrics::configure`], accepting any.
    known: Option<HashSet<String>>,
    environments: BTreeMap<String, EnvironmentValues>,
    /// Results the store never got (`store.runs_dropped`): the process's, no environment's.
    runs_dropped: u64,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct EnvironmentValues {
    up: Option<i64>,
    health_up: Option<i64>,
    cert_not_after: Option<i64>,
    incidents_open: u64,
    /// Of the environment's SLO; `None` without one, or before its window has runs.
    slo_budget: Option<f64>,
    /// (verdict, status, close code) → runs.
    runs: BTreeMap<(&'static str, &'static str, String), u64>,
    skipped: u64,
}

impl ObservedValues {
    fn accepts(&self, environment: &str) -> bool {
        self.known
            .as_ref()
            .is_none_or(|known| known.contains(environment))
    }

    /// The entry of an environment still configured; `None` for one removed on reload (a
    /// probe that was in flight then must not bring it back).
    fn entry(&mut self, environment: &str) -> Option<&mut EnvironmentValues> {
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
    /// production), say once whether export is on, and start the exporter and `GET /metrics`.
    /// Never fails: a telemetry problem must not stop the probes, so it is logged and that
    /// way out stays off.
    pub async fn start(
        config: &Config,
        instance_id: &str,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Metrics {
        let mut resolved = OtlpSettings::resolve(config.telemetry.otlp.as_ref(), env);
        for warning in &resolved.warnings {
            tracing::warn!("{warning}");
        }
        crate::telemetry::otlp::add_location(&mut resolved.resource, config.location.as_deref());
        let otlp = match resolved.export {
            Ok(mut settings) => {
                crate::telemetry::otlp::add_location(
                    &mut settings.resource,
                    config.location.as_deref(),
                );
                Some(settings)
            }
            Err(off) => {
                tracing::info!("metrics export off: {off}");
                None
            }
        };
        let prometheus = config.telemetry.prometheus;
        if otlp.is_none() && !prometheus {
            return Metrics::disabled();
        }
        let announce = otlp.as_ref().map(|settings| {
            (
                crate::config::redact_url(&settings.endpoint),
                settings.protocol_name(),
                settings.interval,
            )
        });
        match Metrics::build(otlp, prometheus, &resolved.resource, instance_id).await {
            Ok(metrics) => {
                metrics.configure(
                    config.location.as_deref(),
                    &config
                        .environments
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>(),
                );
                if let Some((endpoint, protocol, interval)) = announce {
                    tracing::info!(
                        endpoint = %endpoint,
                        protocol,
                        interval = %humantime::format_duration(interval),
                        "metrics export on"
                    );
                }
                metrics
            }
            Err(err) => {
                tracing::error!("metrics off: cannot set up the exporter: {err}");
                Metrics::disabled()
            }
        }
    }

    /// Build the SDK pipeline: an OTLP push when `otlp` is given, the Prometheus pull when
    /// `prometheus`. The exporter is built off the async workers (the blocking HTTP client
    /// must be) but inside the runtime (tonic's lazy channel spawns its connection task on it).
    pub async fn build(
        otlp: Option<OtlpSettings>,
        prometheus: bool,
        resource_attributes: &[(String, String)],
        instance_id: &str,
    ) -> anyhow::Result<Metrics> {
        let resource = resource(resource_attributes, instance_id);
        let timeout = otlp
            .as_ref()
            .map_or(Duration::ZERO, |settings| settings.timeout);
        let exporting = otlp.is_some();
        let registry = prometheus.then(prometheus::Registry::new);
        let pull = match &registry {
            Some(registry) => Some(
                opentelemetry_prometheus::exporter()
                    .with_registry(registry.clone())
                    // Scope labels on every series would only repeat "wsprobe".
                    .scope_info_enabled(false)
                    .build()?,
            ),
            None => None,
        };
        let provider =
            tokio::task::spawn_blocking(move || build_provider(otlp.as_ref(), pull, resource))
                .await??;
        let meter = provider.meter_with_scope(
            InstrumentationScope::builder("wsprobe")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        let state = Arc::new(Mutex::new(ObservedValues::default()));
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
                exporting,
                registry,
            })),
        })
    }

    /// The instruments now, in the Prometheus text format (`GET /metrics`); `None` when
    /// `telemetry.prometheus` is off.
    pub fn prometheus_text(&self) -> Option<String> {
        let registry = self.inner.as_ref()?.registry.as_ref()?;
        let families = registry.gather();
        let mut text = String::new();
        match prometheus::TextEncoder::new().encode_utf8(&families, &mut text) {
            Ok(()) => Some(text),
            Err(err) => {
                tracing::warn!("GET /metrics: cannot encode the metrics: {err}");
                Some(String::new())
            }
        }
    }

    /// Whether metrics are pushed over OTLP.
    pub fn is_exporting(&self) -> bool {
        self.inner.as_ref().is_some_and(|inner| inner.exporting)
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

    /// Results dropped unstored because the spool was full (the store writer calls this).
    pub fn record_runs_dropped(&self, runs: u64) {
        if runs > 0
            && let Some(inner) = &self.inner
        {
            inner.lock().runs_dropped += runs;
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

    /// The error budget an environment's SLO has left (the SLO loop calls this).
    pub fn set_slo_budget(&self, environment: &str, remaining: Option<f64>) {
        if let Some(inner) = &self.inner
            && let Some(env) = inner.lock().entry(environment)
        {
            env.slo_budget = remaining;
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
        if !inner.exporting {
            // Nothing to push: a pull-only provider stops without a word.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            return;
        }
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
    fn lock(&self) -> parking_lot::MutexGuard<'_, ObservedValues> {
        self.state.lock()
    }
}

/// `slo.budget_remaining`, the one fractional gauge: the others are whole numbers.
fn register_slo_budget(meter: &Meter, state: &Arc<Mutex<ObservedValues>>) {
    let state = state.clone();
    let _ = meter
        .f64_observable_gauge(SLO_BUDGET_REMAINING.name)
        .with_unit(SLO_BUDGET_REMAINING.unit)
        .with_description(SLO_BUDGET_REMAINING.description)
        .with_callback(move |observer| {
            let state = state.lock();
            for (name, env) in &state.environments {
                if let Some(remaining) = env.slo_budget {
                    observer.observe(remaining, &state.attributes(name));
                }
            }
        })
        .build();
}

fn register_observables(meter: &Meter, state: &Arc<Mutex<ObservedValues>>) {
    fn read(state: &Mutex<ObservedValues>) -> parking_lot::MutexGuard<'_, ObservedValues> {
        state.lock()
    }
    let gauge = |spec: InstrumentSpec, value: fn(&EnvironmentValues) -> Option<i64>| {
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

    register_slo_budget(meter, state);
    register_runs_dropped(meter, state);

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

fn register_runs_dropped(meter: &Meter, state: &Arc<Mutex<ObservedValues>>) {
    let state = state.clone();
    let _ = meter
        .u64_observable_counter(STORE_RUNS_DROPPED.name)
        .with_description(STORE_RUNS_DROPPED.description)
        .with_callback(move |observer| {
            let state = state.lock();
            let location: Vec<KeyValue> = state
                .location
                .iter()
                .map(|l| KeyValue::new("location", l.clone()))
                .collect();
            observer.observe(state.runs_dropped, &location);
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::result::TlsInfo;
    use crate::probe::{HealthInfo, Status, Verdict};

    fn result(env: &str, verdict: Verdict, close_code: Option<u16>) -> ProbeResult {
        ProbeResult {
            close_code,
            ..ProbeResult::builder(env, verdict)
                .url("ws://secret.example/ws?token=abc")
                .http_status(101)
                .attempts(1)
                .build()
        }
    }

    #[test]
    fn a_probe_updates_its_environment() {
        let mut state = ObservedValues::default();
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
        let mut state = ObservedValues::default();
        state.record_probe(&result("old", Verdict::Ok, None));
        state.record_probe(&result("kept", Verdict::Ok, None));
        state.configure(None, &["kept", "new"]);
        assert_eq!(
            state.environments.keys().collect::<Vec<_>>(),
            ["kept", "new"]
        );
        assert_eq!(state.environments["new"], EnvironmentValues::default());
        assert_eq!(state.environments["kept"].up, Some(1));
        // A probe of a removed environment that was still in flight does not bring it back.
        state.record_probe(&result("old", Verdict::Ok, None));
        assert!(!state.environments.contains_key("old"));
        // A new location restarts every series under it.
        state.configure(Some("eu"), &["kept"]);
        assert_eq!(state.environments["kept"], EnvironmentValues::default());
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
        let mut state = ObservedValues::default();
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
}
