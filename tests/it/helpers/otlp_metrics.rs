//! An OTLP metrics receiver on 127.0.0.1:0 (OTLP/HTTP protobuf, possibly gzip, and gRPC) that
//! decodes every export it gets.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, Metric};
use prost::Message as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::PATIENCE;

pub type Attrs = BTreeMap<String, String>;

/// One export request as received.
#[derive(Debug, Clone)]
pub struct Export {
    pub resource: Attrs,
    pub metrics: Vec<Metric>,
    /// Lowercased names: HTTP headers or gRPC metadata.
    pub headers: HashMap<String, String>,
    pub gzip: bool,
}

pub fn attrs(list: &[KeyValue]) -> Attrs {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

impl Export {
    fn from_request(
        request: ExportMetricsServiceRequest,
        headers: HashMap<String, String>,
        gzip: bool,
    ) -> Export {
        let mut resource = Attrs::new();
        let mut metrics = Vec::new();
        for rm in request.resource_metrics {
            if let Some(r) = rm.resource {
                resource.extend(attrs(&r.attributes));
            }
            for sm in rm.scope_metrics {
                metrics.extend(sm.metrics);
            }
        }
        Export {
            resource,
            metrics,
            headers,
            gzip,
        }
    }

    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Gauge or sum points as (attributes, value).
    pub fn points(&self, name: &str) -> Vec<(Attrs, f64)> {
        let Some(metric) = self.metric(name) else {
            return Vec::new();
        };
        let points = match &metric.data {
            Some(Data::Gauge(g)) => &g.data_points,
            Some(Data::Sum(s)) => &s.data_points,
            other => panic!("{name} is not a gauge or sum: {other:?}"),
        };
        points
            .iter()
            .map(|p| {
                let value = match p.value {
                    Some(NumberValue::AsInt(i)) => i as f64,
                    Some(NumberValue::AsDouble(d)) => d,
                    None => f64::NAN,
                };
                (attrs(&p.attributes), value)
            })
            .collect()
    }

    /// The value of the point whose attributes include all of `want`.
    pub fn value(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self
            .points(name)
            .into_iter()
            .filter(|(a, _)| {
                want.iter()
                    .all(|(k, v)| a.get(*k).map(String::as_str) == Some(v))
            })
            .map(|(_, v)| v)
            .collect();
        assert!(matching.len() <= 1, "{name} {want:?}: several points");
        matching.first().copied()
    }

    pub fn histogram(&self, name: &str) -> Vec<(Attrs, HistogramDataPoint)> {
        match self.metric(name).and_then(|m| m.data.as_ref()) {
            Some(Data::Histogram(h)) => h
                .data_points
                .iter()
                .map(|p| (attrs(&p.attributes), p.clone()))
                .collect(),
            None => Vec::new(),
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// Environments a per-environment instrument reports.
    pub fn environments(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .points(name)
            .into_iter()
            .filter_map(|(a, _)| a.get("environment").cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

pub struct MetricsReceiver {
    pub addr: SocketAddr,
    exports: Arc<Mutex<Vec<Export>>>,
    _shutdown: tokio_util::sync::DropGuard,
}

impl MetricsReceiver {
    /// OTLP/HTTP: POST /v1/metrics, protobuf, gzip when Content-Encoding says so.
    pub async fn http() -> MetricsReceiver {
        let exports = Arc::new(Mutex::new(Vec::new()));
        let sink = exports.clone();
        let router = axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    let gzip = headers
                        .get("content-encoding")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
                    let body = if gzip {
                        use std::io::Read as _;
                        let mut decoded = Vec::new();
                        flate2::read::GzDecoder::new(&body[..])
                            .read_to_end(&mut decoded)
                            .expect("a gzip body");
                        decoded
                    } else {
                        body.to_vec()
                    };
                    let request = ExportMetricsServiceRequest::decode(&body[..])
                        .expect("an OTLP protobuf body");
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                        .collect();
                    sink.lock()
                        .unwrap()
                        .push(Export::from_request(request, headers, gzip));
                    (
                        [("content-type", "application/x-protobuf")],
                        ExportMetricsServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        MetricsReceiver {
            addr,
            exports,
            _shutdown: shutdown.drop_guard(),
        }
    }

    /// OTLP/gRPC: the MetricsService over tonic.
    pub async fn grpc() -> MetricsReceiver {
        let exports = Arc::new(Mutex::new(Vec::new()));
        let service = MetricsServiceServer::new(GrpcSink {
            exports: exports.clone(),
        })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async move { stop.cancelled().await },
                )
                .await
        });
        MetricsReceiver {
            addr,
            exports,
            _shutdown: shutdown.drop_guard(),
        }
    }

    pub fn count(&self) -> usize {
        self.exports.lock().unwrap().len()
    }

    pub fn latest(&self) -> Option<Export> {
        self.exports.lock().unwrap().last().cloned()
    }

    /// The first export after the first `after` ones for which `done` holds.
    pub async fn wait_for(
        &self,
        what: &str,
        after: usize,
        done: impl Fn(&Export) -> bool,
    ) -> Export {
        let started = Instant::now();
        loop {
            if let Some(export) = self
                .exports
                .lock()
                .unwrap()
                .iter()
                .skip(after)
                .find(|e| done(e))
            {
                return export.clone();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out waiting for {what}; latest export: {:#?}",
                self.latest()
                    .map(|e| e.metrics.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct GrpcSink {
    exports: Arc<Mutex<Vec<Export>>>,
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect::<HashMap<_, _>>();
        let gzip = headers.get("grpc-encoding").is_some_and(|v| v == "gzip");
        self.exports.lock().unwrap().push(Export::from_request(
            request.into_inner(),
            headers,
            gzip,
        ));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}
