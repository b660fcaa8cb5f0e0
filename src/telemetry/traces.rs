//! One trace per probe, exported over OTLP with the OpenTelemetry SDK.
//!
//! Shape, and why:
//! - The probe draws its trace and span ids before its first request (the `traceparent` it
//!   sends must name them), so the spans are not live SDK spans (the SDK's tracer draws its own
//!   ids) but built here from the finished result as `SpanData`, with the phases' own start and
//!   end, and handed to the SDK's `BatchSpanProcessor`.
//! - The processor exports on its own thread; `record` only tries to enqueue. Its queue is
//!   bounded (2,048 spans, `OTEL_BSP_MAX_QUEUE_SIZE`): with the collector down, spans beyond it
//!   are dropped, never held. Shutdown flushes within the exporter's timeout plus a grace.
//! - Attributes come from the result, which is redacted; the URL goes without its query.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor as _,
};
use parking_lot::Mutex;

use super::export::{ExportLog, build_span_exporter, resource};
use super::otlp::{OtlpSettings, Signal};
use crate::config::Config;
use crate::probe::trace::Timeline;
use crate::probe::{ProbeResult, Status as ProbeStatus, Verdict};

/// The root span of every probe, as the SPEC names it.
pub const ROOT_SPAN: &str = "wsprobe.probe";
/// How long shutdown waits for the final export beyond the exporter's own timeout.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Exports probe traces; cheap to clone. A disabled one (export off, `wsprobe check`, tests)
/// makes every call a no-op.
#[derive(Clone, Default)]
pub struct Traces {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    /// Taken by `shutdown`: spans after it are not recorded.
    processor: Mutex<Option<Arc<BatchSpanProcessor>>>,
    scope: InstrumentationScope,
    timeout: Duration,
}

impl Traces {
    pub fn disabled() -> Traces {
        Traces { inner: None }
    }

    /// Resolve the trace export settings from `config` and `env` (the process environment in
    /// production), say once whether export is on, and start the exporter. Never fails: a
    /// telemetry problem must not stop the probes.
    pub async fn start(
        config: &Config,
        instance_id: &str,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Traces {
        let resolved =
            OtlpSettings::resolve_signal(Signal::Traces, config.telemetry.otlp.as_ref(), env);
        for warning in &resolved.warnings {
            tracing::warn!("{warning}");
        }
        let settings = match resolved.export {
            Ok(mut settings) => {
                crate::telemetry::otlp::add_location(
                    &mut settings.resource,
                    config.location.as_deref(),
                );
                settings
            }
            Err(off) => {
                tracing::info!("trace export off: {off}");
                return Traces::disabled();
            }
        };
        let endpoint = crate::config::redact_url(&settings.endpoint);
        let protocol = settings.protocol_name();
        match Traces::export_to(settings, instance_id).await {
            Ok(traces) => {
                tracing::info!(endpoint = %endpoint, protocol, "trace export on");
                traces
            }
            Err(err) => {
                tracing::error!("trace export off: cannot set up the OTLP exporter: {err}");
                Traces::disabled()
            }
        }
    }

    /// Build the exporter and its batch processor: off the async workers (the blocking HTTP
    /// client must be) but inside the runtime (tonic's lazy channel spawns on it).
    pub async fn export_to(settings: OtlpSettings, instance_id: &str) -> anyhow::Result<Traces> {
        let instance_id = instance_id.to_owned();
        let timeout = settings.timeout;
        let processor = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let exporter = ExportLog::wrap(
                build_span_exporter(&settings)?,
                Signal::Traces,
                &settings.endpoint,
            );
            let mut processor = BatchSpanProcessor::builder(exporter)
                .with_batch_config(BatchConfigBuilder::default().build())
                .build();
            processor.set_resource(&resource(&settings.resource, &instance_id));
            Ok(processor)
        })
        .await??;
        Ok(Traces {
            inner: Some(Arc::new(Inner {
                processor: Mutex::new(Some(Arc::new(processor))),
                scope: InstrumentationScope::builder("wsprobe")
                    .with_version(env!("CARGO_PKG_VERSION"))
                    .build(),
                timeout,
            })),
        })
    }

    /// The spans of one finished probe, queued for export; never blocks.
    pub fn record(&self, result: &ProbeResult) {
        let Some(inner) = &self.inner else {
            return;
        };
        let Some(processor) = inner.processor.lock().clone() else {
            return;
        };
        for span in spans_of(result, &inner.scope) {
            processor.on_end(span);
        }
    }

    /// Export what is queued and stop, off the async workers and within the exporter's timeout
    /// plus a grace: a collector that is down must not hold up the daemon's exit.
    pub async fn shutdown(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        let Some(processor) = inner.processor.lock().take() else {
            return;
        };
        let budget = inner.timeout + SHUTDOWN_GRACE;
        let stopping = tokio::task::spawn_blocking(move || processor.shutdown_with_timeout(budget));
        match tokio::time::timeout(budget + SHUTDOWN_GRACE, stopping).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!("trace export did not flush at shutdown: {err}"),
            _ => tracing::warn!("trace export did not flush within {budget:?} at shutdown"),
        }
    }
}

/// The root span and one child per phase that ran; nothing for a result without a timeline
/// (one read back from the store).
pub fn spans_of(result: &ProbeResult, scope: &InstrumentationScope) -> Vec<SpanData> {
    let Some(timeline) = &result.timeline else {
        return Vec::new();
    };
    let ids = timeline.ids;
    let started: SystemTime = result.started_at.into();
    let at = |offset_ms: f64| started + millis(offset_ms);
    // The phase the probe stopped in, else the one a down verdict is about (a health check
    // that answered wrongly, a ready check that passed without the required headers).
    let failed = timeline
        .unfinished
        .map(|(name, _)| name)
        .or_else(|| failed_phase(result.verdict))
        // A session has no token: its credential failed in the login.
        .map(|name| match name {
            "token" if result.phases_ms.login.is_some() => "login",
            other => other,
        });
    let context = |span_id| {
        SpanContext::new(
            ids.trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        )
    };
    let span =
        |span_id, parent, name: &'static str, start, end, kind, attributes, status| SpanData {
            span_context: context(span_id),
            parent_span_id: parent,
            parent_span_is_remote: false,
            span_kind: kind,
            name: Cow::Borrowed(name),
            start_time: start,
            end_time: end,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: scope.clone(),
        };

    let root_status = if result.status == ProbeStatus::Down {
        Status::error(result.diagnosis.clone())
    } else {
        Status::Unset
    };
    let mut spans = vec![span(
        ids.root,
        SpanId::INVALID,
        ROOT_SPAN,
        started,
        at(timeline.elapsed_ms),
        SpanKind::Internal,
        root_attributes(result),
        root_status,
    )];
    let durations = result.phases_ms.named();
    let starts = timeline.starts_ms.named();
    for ((name, duration), (_, start)) in durations.into_iter().zip(starts) {
        let duration = duration.or_else(|| {
            timeline
                .unfinished
                .filter(|(unfinished, _)| *unfinished == name)
                .map(|(_, ran)| ran)
        });
        let (Some(duration), Some(start)) = (duration, start) else {
            continue;
        };
        if name == "total" {
            continue;
        }
        let (span_id, kind, mut attributes) = phase_span(name, result, timeline);
        attributes.push(KeyValue::new("phase", name));
        let status = if Some(name) == failed && result.status == ProbeStatus::Down {
            Status::error(result.verdict.as_str())
        } else {
            Status::Unset
        };
        spans.push(span(
            span_id,
            ids.root,
            name,
            at(start),
            at(start + duration),
            kind,
            attributes,
            status,
        ));
    }
    spans
}

fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or_default()
}

/// The SPEC's attributes, with OpenTelemetry semantic-convention names where one exists.
fn root_attributes(result: &ProbeResult) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("environment", result.environment.clone()),
        KeyValue::new("verdict", result.verdict.as_str()),
        KeyValue::new("status", result.status.as_str()),
    ];
    if let Some(location) = &result.location {
        attributes.push(KeyValue::new("location", location.clone()));
    }
    if let Some(code) = result.close_code {
        attributes.push(KeyValue::new("close_code", i64::from(code)));
    }
    if let Some(status) = result.http_status {
        attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
    }
    let url = without_query(&result.url);
    if let Ok(parsed) = url::Url::parse(url) {
        if let Some(host) = parsed.host_str() {
            attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        if let Some(port) = parsed.port_or_known_default() {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
    }
    attributes.push(KeyValue::new("url.full", url.to_owned()));
    if result.status == ProbeStatus::Down {
        attributes.push(KeyValue::new("error.type", result.verdict.as_str()));
    }
    attributes
}

/// A phase's span id (fixed in advance for those that sent a `traceparent`), kind and own
/// attributes.
fn phase_span(
    name: &str,
    result: &ProbeResult,
    timeline: &Timeline,
) -> (SpanId, SpanKind, Vec<KeyValue>) {
    let ids = timeline.ids;
    match name {
        "token" => (ids.token, SpanKind::Client, Vec::new()),
        "login" => (
            crate::probe::trace::new_span_id(),
            SpanKind::Client,
            Vec::new(),
        ),
        "health" => {
            let mut attributes = vec![KeyValue::new("http.request.method", "GET")];
            if let Some(status) = result.health.as_ref().and_then(|h| h.http_status) {
                attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
            }
            (ids.health, SpanKind::Client, attributes)
        }
        "upgrade" => {
            let mut attributes = vec![KeyValue::new("http.request.method", "GET")];
            if let Some(status) = result.http_status {
                attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
            }
            (ids.upgrade, SpanKind::Client, attributes)
        }
        _ => (
            crate::probe::trace::new_span_id(),
            SpanKind::Internal,
            Vec::new(),
        ),
    }
}

/// The phase a down verdict is about, to mark its span as the one that failed.
fn failed_phase(verdict: Verdict) -> Option<&'static str> {
    Some(match verdict {
        Verdict::TokenFailed => "token",
        Verdict::HealthFailed => "health",
        Verdict::DnsFailed => "dns",
        Verdict::ConnectRefused | Verdict::ConnectTimeout => "connect",
        Verdict::TlsFailed => "tls",
        Verdict::UpgradeRejected | Verdict::UpgradeTimeout | Verdict::SubprotocolMismatch => {
            "upgrade"
        }
        Verdict::HeadersStripped
        | Verdict::ClosedBeforeReady
        | Verdict::ReadyTimeout
        | Verdict::ReadyMismatch => "ready",
        Verdict::StepFailed => "exchange",
        Verdict::Ok
        | Verdict::Slow
        | Verdict::CertExpiring
        | Verdict::ProtocolError
        | Verdict::ProbeError => return None,
    })
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::result::Phases;
    use crate::probe::trace::ProbeTrace;

    fn refused() -> ProbeResult {
        let mut result = ProbeResult::builder("staging", Verdict::ConnectRefused)
            .location("eu")
            .url("ws://10.0.0.1:8080/ws?…")
            .started_at("2026-12-02T10:00:00Z".parse().unwrap())
            .attempts(1)
            .phases_ms(Phases {
                token: Some(2.5),
                total: Some(1.25),
                ..Phases::default()
            })
            .diagnosis("Nothing listens on 10.0.0.1:8080.")
            .build();
        result.timeline = Some(Timeline {
            ids: ProbeTrace::generate(),
            starts_ms: Phases {
                token: Some(0.5),
                connect: Some(3.0),
                total: Some(3.0),
                ..Phases::default()
            },
            unfinished: Some(("connect", 1.25)),
            elapsed_ms: 4.25,
        });
        result
    }

    fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("wsprobe").build()
    }

    #[test]
    fn a_refused_probe_is_a_failed_root_with_the_phase_it_stopped_in() {
        let result = refused();
        let ids = result.timeline.as_ref().unwrap().ids;
        let spans = spans_of(&result, &scope());
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["wsprobe.probe", "token", "connect"]);
        let root = &spans[0];
        assert_eq!(root.span_context.span_id(), ids.root);
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        assert_eq!(
            root.status,
            Status::error("Nothing listens on 10.0.0.1:8080.")
        );
        let started: SystemTime = result.started_at.into();
        assert_eq!(root.end_time.duration_since(started).unwrap(), millis(4.25));
        let attribute = |span: &SpanData, key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(
            attribute(root, "url.full").as_deref(),
            Some("ws://10.0.0.1:8080/ws")
        );
        assert_eq!(attribute(root, "server.port").as_deref(), Some("8080"));
        assert_eq!(
            attribute(root, "error.type").as_deref(),
            Some("connect_refused")
        );
        assert_eq!(attribute(root, "close_code"), None);

        let token = &spans[1];
        assert_eq!(token.span_context.span_id(), ids.token);
        assert_eq!(token.span_kind, SpanKind::Client);
        assert_eq!(token.status, Status::Unset);
        assert_eq!(
            token.start_time.duration_since(started).unwrap(),
            millis(0.5)
        );
        assert_eq!(
            token.end_time.duration_since(token.start_time).unwrap(),
            millis(2.5)
        );

        let connect = &spans[2];
        assert_eq!(connect.status, Status::error("connect_refused"));
        assert_eq!(
            connect.end_time.duration_since(connect.start_time).unwrap(),
            millis(1.25)
        );
        for span in &spans {
            assert_eq!(span.span_context.trace_id(), ids.trace_id);
            assert!(span.span_context.is_sampled());
        }
    }

    #[test]
    fn a_result_read_back_from_the_store_has_no_spans() {
        let mut result = refused();
        result.timeline = None;
        assert!(spans_of(&result, &scope()).is_empty());
    }
}
