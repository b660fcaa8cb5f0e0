//! Building the OTLP exporters (metrics and spans, HTTP or gRPC) from the resolved settings,
//! and `ExportLog`, which logs failing exports without flooding.

use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    MetricExporter, Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{
    Instrument, PeriodicReader, SdkMeterProvider, Stream, Temporality,
};
use parking_lot::Mutex;

use super::instruments::CARDINALITY_LIMIT;
use super::otlp::{Compression, OtlpSettings, Signal};
use crate::config::OtlpProtocol;

/// A failing export is logged at most this often (with the count of failures held back).
pub const EXPORT_ERROR_LOG_EVERY: Duration = Duration::from_secs(300);

/// The meter provider with a reader per way out: the OTLP push (a periodic reader) and the
/// `GET /metrics` pull (the Prometheus exporter, itself a reader). Both read the same
/// instruments, so the two views cannot disagree.
pub(super) fn build_provider(
    otlp: Option<&OtlpSettings>,
    prometheus: Option<opentelemetry_prometheus::PrometheusExporter>,
    resource: Resource,
) -> anyhow::Result<SdkMeterProvider> {
    let mut builder = SdkMeterProvider::builder().with_resource(resource);
    if let Some(settings) = otlp {
        let exporter = ExportLog::wrap(
            build_metric_exporter(settings)?,
            Signal::Metrics,
            &settings.endpoint,
        );
        let reader = PeriodicReader::builder(exporter)
            .with_interval(settings.interval)
            .build();
        builder = builder.with_reader(reader);
    }
    if let Some(prometheus) = prometheus {
        builder = builder.with_reader(prometheus);
    }
    Ok(builder
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

/// What every signal's data is about: this wsprobe instance, with the `OTEL_*` attributes.
pub(super) fn resource(attributes: &[(String, String)], instance_id: &str) -> Resource {
    Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attributes(
            attributes
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        )
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", instance_id.to_owned()),
        ])
        .build()
}

fn build_metric_exporter(settings: &OtlpSettings) -> anyhow::Result<MetricExporter> {
    use anyhow::Context as _;
    let exporter = match settings.protocol {
        OtlpProtocol::HttpProtobuf => http(MetricExporter::builder().with_http(), settings)?
            .with_temporality(Temporality::Cumulative)
            .build(),
        OtlpProtocol::Grpc => grpc(MetricExporter::builder().with_tonic(), settings)
            .with_temporality(Temporality::Cumulative)
            .build(),
    };
    exporter.context("cannot build the OTLP metrics exporter")
}

pub(super) fn build_span_exporter(settings: &OtlpSettings) -> anyhow::Result<SpanExporter> {
    use anyhow::Context as _;
    let exporter = match settings.protocol {
        OtlpProtocol::HttpProtobuf => http(SpanExporter::builder().with_http(), settings)?.build(),
        OtlpProtocol::Grpc => grpc(SpanExporter::builder().with_tonic(), settings).build(),
    };
    exporter.context("cannot build the OTLP trace exporter")
}

/// An OTLP/HTTP exporter builder set up from `settings`, any signal: a blocking client (export
/// runs on the SDK's own thread), endpoint, headers, timeout, compression.
fn http<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    settings: &OtlpSettings,
) -> anyhow::Result<B> {
    use anyhow::Context as _;
    // reqwest is built without a default TLS provider: install ring's first.
    crate::probe::tls::ensure_crypto_provider();
    let mut client = reqwest::blocking::Client::builder().timeout(settings.timeout);
    if settings.endpoint.scheme() == "http" {
        // A plain-HTTP collector needs no roots: without this the client parses the system's
        // whole CA bundle (~200 KiB kept per client, issue 28's heaptrack profile).
        client = client.tls_certs_only([]);
    }
    let client = client.build().context("cannot build the HTTP client")?;
    let mut builder = builder
        .with_http_client(client)
        .with_endpoint(settings.endpoint.as_str())
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(settings.timeout)
        .with_headers(settings.headers.clone().into_iter().collect());
    if settings.compression == Compression::Gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    Ok(builder)
}

/// An OTLP/gRPC exporter builder set up from `settings`, any signal.
fn grpc<B: WithExportConfig + WithTonicConfig>(builder: B, settings: &OtlpSettings) -> B {
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
    let mut builder = builder
        .with_endpoint(settings.endpoint.as_str())
        .with_protocol(Protocol::Grpc)
        .with_timeout(settings.timeout)
        .with_metadata(
            opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers),
        );
    if settings.endpoint.scheme() == "https" {
        builder = builder.with_tls_config(
            opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_webpki_roots(),
        );
    }
    if settings.compression == Compression::Gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    builder
}

/// Logs export failures without flooding: the first at once, then one line per
/// [`EXPORT_ERROR_LOG_EVERY`] at most (with how many were held back), and one line when
/// exports work again. Wraps the exporter, so it sees every export's outcome.
#[derive(Debug)]
pub(super) struct ExportLog<E> {
    exporter: E,
    signal: Signal,
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
    pub(super) fn wrap(exporter: E, signal: Signal, endpoint: &url::Url) -> Self {
        ExportLog {
            exporter,
            signal,
            endpoint: crate::config::redact_url(endpoint),
            state: Mutex::new(ExportLogState::default()),
        }
    }

    /// Logs `result` as it deserves, and hands it on.
    fn observed(&self, result: OTelSdkResult) -> OTelSdkResult {
        self.observe(&result);
        result
    }

    fn observe(&self, result: &OTelSdkResult) {
        let mut state = self.state.lock();
        match result {
            Ok(()) => {
                if state.failures > 0 {
                    tracing::info!(
                        failures = state.failures,
                        "{} export to {} works again",
                        self.signal.name(),
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
                        "{} export to {} failed, probing goes on: {err}",
                        self.signal.name(),
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
        self.observed(self.exporter.export(metrics).await)
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

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for ExportLog<E>
{
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        self.observed(self.exporter.export(batch).await)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.exporter.set_resource(resource);
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_failures_are_logged_once_per_period() {
        let log = ExportLog::wrap(
            (),
            Signal::Metrics,
            &url::Url::parse("http://c:4318/v1/metrics").unwrap(),
        );
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
