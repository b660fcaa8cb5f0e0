//! One trace per probe, on real bytes: OTLP/HTTP and gRPC trace receivers decoding with
//! `opentelemetry-proto`, the lab recording the `traceparent` each request brought, the store's
//! runs and the status page's link.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::helpers::child::Daemon;
use crate::helpers::{App, spawn_app};

const PATIENCE: Duration = Duration::from_secs(60);
const QUERY_SECRET: &str = "query-secret-0123456789";

/// One received span with what the assertions need, ids as lowercase hex.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    start_ns: u64,
    end_ns: u64,
    attributes: HashMap<String, String>,
    status: Option<(i32, String)>,
    resource: HashMap<String, String>,
}

impl ReceivedSpan {
    fn duration_ms(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 / 1e6
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(list: &[KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                    status: span.status.map(|s| (s.code, s.message)),
                    resource: resource.clone(),
                });
                // Events would carry text too: none are sent, and the test says so.
                assert!(span.events.is_empty(), "no span events expected");
            }
        }
    }
    out
}

type Spans = Arc<Mutex<Vec<ReceivedSpan>>>;

/// A collector that records spans (`/v1/traces`, or the gRPC TraceService) and takes metrics
/// (`/v1/metrics`) without looking at them, counting them.
struct TraceReceiver {
    addr: SocketAddr,
    spans: Spans,
    metric_posts: Arc<Mutex<usize>>,
    _shutdown: tokio_util::sync::DropGuard,
}

impl TraceReceiver {
    async fn http() -> TraceReceiver {
        let spans = Spans::default();
        let metric_posts = Arc::new(Mutex::new(0));
        let sink = spans.clone();
        let counted = metric_posts.clone();
        let router = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |body: Bytes| {
                    let sink = sink.clone();
                    async move {
                        let request = ExportTraceServiceRequest::decode(&body[..])
                            .expect("an OTLP trace protobuf body");
                        sink.lock().unwrap().extend(flatten(request));
                        (
                            [("content-type", "application/x-protobuf")],
                            ExportTraceServiceResponse::default().encode_to_vec(),
                        )
                    }
                }),
            )
            .route(
                "/v1/metrics",
                axum::routing::post(move || {
                    *counted.lock().unwrap() += 1;
                    async { [("content-type", "application/x-protobuf")] }
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
        TraceReceiver {
            addr,
            spans,
            metric_posts,
            _shutdown: shutdown.drop_guard(),
        }
    }

    async fn grpc() -> TraceReceiver {
        let spans = Spans::default();
        let service = TraceServiceServer::new(GrpcSink {
            spans: spans.clone(),
        });
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
        TraceReceiver {
            addr,
            spans,
            metric_posts: Arc::default(),
            _shutdown: shutdown.drop_guard(),
        }
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    fn roots(&self, environment: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == "wsprobe.probe" && s.attributes["environment"] == environment)
            .collect()
    }

    /// Root spans of `environment`, once at least `n` have arrived.
    async fn wait_for_roots(&self, environment: &str, n: usize) -> Vec<ReceivedSpan> {
        let started = Instant::now();
        loop {
            let roots = self.roots(environment);
            if roots.len() >= n {
                return roots;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{} root spans of {environment}, {n} expected",
                roots.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn children(&self, trace_id: &str, root_id: &str) -> HashMap<String, ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id && s.parent_span_id == root_id)
            .map(|s| (s.name.clone(), s))
            .collect()
    }
}

struct GrpcSink {
    spans: Spans,
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.spans
            .lock()
            .unwrap()
            .extend(flatten(request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// (trace id, parent span id) of a `traceparent` the lab received.
fn parse_traceparent(header: &str) -> (String, String) {
    let parts: Vec<&str> = header.split('-').collect();
    assert_eq!(parts.len(), 4, "{header}");
    assert_eq!(parts[0], "00", "version 00: {header}");
    assert_eq!(parts[3], "01", "sampled: {header}");
    assert!(
        parts[1].len() == 32 && parts[2].len() == 16,
        "W3C lengths: {header}"
    );
    (parts[1].to_owned(), parts[2].to_owned())
}

/// The lab's traceparents on `path` as (trace id, parent span id).
fn lab_traces(app: &App, path: &str) -> Vec<(String, String)> {
    app.lab
        .traceparents()
        .into_iter()
        .filter(|t| t.path == path)
        .map(|t| parse_traceparent(&t.traceparent))
        .collect()
}

async fn stored_run(app: &App, environment: &str, trace_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let runs = app
            .get_json(&format!(
                "/api/v1/environments/{environment}/runs?limit=100"
            ))
            .await;
        let list = runs["runs"].as_array().expect("a runs list");
        if let Some(run) = list.iter().find(|r| r["trace_id"] == trace_id) {
            return run.clone();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no stored run of {environment} with trace id {trace_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn telemetry(receiver: &TraceReceiver, protocol: &str) -> String {
    format!(
        "location: test-loc\ntelemetry: {{ otlp: {{ endpoint: \"http://{}\", protocol: {protocol}, interval: 1s }} }}\n",
        receiver.addr
    )
}

const WELCOME: &str = "steps: [ { expect: { within: 5s, json: { /type: system_message } } } ]";

fn environments() -> String {
    format!(
        r#"
  - name: healthy
    url: "ws://${{LAB}}/ws/healthy?access_token={QUERY_SECRET}"
    auth:
      kind: token_endpoint
      url: "http://${{LAB}}/token"
      body: {{ key: lab-e2e-key }}
    headers: {{ Authorization: "Bearer {{token}}" }}
    health: {{ url: "http://${{LAB}}/health" }}
    echo: {{ pointer: /data/headers_received, require: [traceparent] }}
    {WELCOME}
  - name: internal-error
    url: ws://${{LAB}}/ws/internal-error
    health: {{ url: "http://${{LAB}}/health" }}
    {WELCOME}
"#
    )
}

fn phase_ms(run: &Value, phase: &str) -> Option<f64> {
    run["phases_ms"][phase].as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_probe_is_one_trace_the_backend_joined_with_phase_spans_that_match_the_run() {
    let receiver = TraceReceiver::http().await;
    let mut app = spawn_app(&environments(), &telemetry(&receiver, "http/protobuf")).await;
    let roots = receiver.wait_for_roots("healthy", 2).await;
    let failing = receiver.wait_for_roots("internal-error", 1).await;

    // The upgrade request of every healthy probe joined its trace: the lab saw that trace id,
    // with the upgrade span as the parent.
    let upgrades = lab_traces(&app, "/ws/healthy");
    for root in &roots {
        let children = receiver.children(&root.trace_id, &root.span_id);
        let upgrade = &children["upgrade"];
        assert!(
            upgrades.contains(&(root.trace_id.clone(), upgrade.span_id.clone())),
            "the backend saw trace {} from span {}: {upgrades:?}",
            root.trace_id,
            upgrade.span_id
        );
        let health = &children["health"];
        assert!(
            lab_traces(&app, "/health").contains(&(root.trace_id.clone(), health.span_id.clone())),
            "the health request carried the health span"
        );
        assert_eq!(upgrade.kind, SpanKind::Client as i32);
        assert_eq!(upgrade.attributes["http.response.status_code"], "101");
    }
    // The token is fetched once and cached: the one token request names the first trace's
    // token span.
    let tokens = lab_traces(&app, "/token");
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let (token_trace, token_span) = &tokens[0];
    let first = roots
        .iter()
        .find(|r| &r.trace_id == token_trace)
        .expect("the token request's trace was exported");
    assert_eq!(
        &receiver.children(&first.trace_id, &first.span_id)["token"].span_id,
        token_span
    );

    // Phase spans have the run's own timings, inside the root span, in protocol order.
    let root = &roots[1];
    let run = stored_run(&app, "healthy", &root.trace_id).await;
    assert_eq!(run["verdict"], "ok", "{run}");
    assert_eq!(
        run["headers"]["echoed"]["traceparent"], run["headers"]["sent"]["traceparent"],
        "the backend echoed the traceparent sent"
    );
    let children = receiver.children(&root.trace_id, &root.span_id);
    let order = [
        "token", "health", "dns", "connect", "upgrade", "ready", "exchange", "close",
    ];
    let mut previous_start = root.start_ns;
    for phase in order {
        let Some(expected) = phase_ms(&run, phase) else {
            assert!(!children.contains_key(phase), "{phase} did not run");
            continue;
        };
        let span = children
            .get(phase)
            .unwrap_or_else(|| panic!("a {phase} span: {children:?}"));
        // The API rounds every phase to 0.1 ms; the span keeps nanoseconds.
        assert!(
            (span.duration_ms() - expected).abs() <= 0.05 + 1e-9,
            "{phase}: span {} ms, run {expected} ms",
            span.duration_ms()
        );
        assert!(span.start_ns >= previous_start, "{phase} starts in order");
        assert!(span.end_ns <= root.end_ns, "{phase} ends inside the probe");
        assert_eq!(span.attributes["phase"], phase);
        previous_start = span.start_ns;
    }
    assert!(!children.contains_key("tls"), "no TLS on ws://");
    assert!(
        !children.contains_key("total"),
        "total is the root, not a phase"
    );
    assert_eq!(
        root.status.as_ref().map(|s| s.0),
        Some(StatusCode::Unset as i32)
    );
    assert_eq!(root.attributes["verdict"], "ok");
    assert_eq!(root.attributes["status"], "up");
    assert_eq!(root.attributes["location"], "test-loc");
    assert_eq!(root.attributes["http.response.status_code"], "101");
    assert_eq!(
        root.attributes["url.full"],
        format!("ws://{}/ws/healthy", app.lab.addr())
    );
    assert_eq!(root.resource["service.name"], "wsprobe");
    assert!(root.resource.contains_key("service.instance.id"));

    // A failing environment: the root says why, the phase that failed says so too.
    let down = &failing[0];
    let run = stored_run(&app, "internal-error", &down.trace_id).await;
    assert_eq!(
        down.status,
        Some((
            StatusCode::Error as i32,
            run["diagnosis"].as_str().unwrap().to_owned()
        ))
    );
    for (key, value) in [
        ("environment", "internal-error"),
        ("verdict", "closed_before_ready"),
        ("status", "down"),
        ("close_code", "1011"),
        ("http.response.status_code", "101"),
        ("error.type", "closed_before_ready"),
    ] {
        assert_eq!(down.attributes[key], value, "{key}");
    }
    // The ready check it stopped in has no duration in the run, but its span runs from the
    // 101 past the server's close.
    assert!(phase_ms(&run, "ready").is_none());
    let ready = &receiver.children(&down.trace_id, &down.span_id)["ready"];
    assert_eq!(
        ready.status.as_ref().map(|s| s.0),
        Some(StatusCode::Error as i32)
    );
    // The run's milliseconds are rounded to 0.1 ms on the wire; the span's are not.
    assert!(
        ready.duration_ms() + 0.05 >= run["close_after_ms"].as_f64().unwrap(),
        "ready {} ms, closed {} after accept",
        ready.duration_ms(),
        run["close_after_ms"]
    );

    // Nothing secret anywhere: no query, no token, no bypass key.
    for span in receiver.spans() {
        for (key, value) in span.attributes.iter().chain(&span.resource) {
            for secret in [QUERY_SECRET, "lab-e2e-key", "Bearer", "?"] {
                assert!(
                    !value.contains(secret),
                    "{} attribute {key}={value:?} carries {secret:?}",
                    span.name
                );
            }
        }
        if let Some((_, message)) = &span.status {
            assert!(!message.contains(QUERY_SECRET) && !message.contains("lab-e2e-key"));
        }
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_links_to_its_trace_from_the_environment_page() {
    let receiver = TraceReceiver::grpc().await;
    let server =
        "server: { trace_url: \"https://grafana.example.com/explore?trace={trace_id}&x=1\" }\n";
    let mut app = spawn_app(
        "  - name: internal-error\n    url: ws://${LAB}/ws/internal-error\n",
        &format!("{}{server}", telemetry(&receiver, "grpc")),
    )
    .await;

    // Over gRPC too, the backend's trace id is the root span's.
    let root = &receiver.wait_for_roots("internal-error", 1).await[0];
    assert!(
        lab_traces(&app, "/ws/internal-error")
            .iter()
            .any(|(trace, _)| *trace == root.trace_id)
    );
    let run = stored_run(&app, "internal-error", &root.trace_id).await;
    assert_eq!(run["trace_id"], root.trace_id.as_str());
    let (status, page) = app.get("/environments/internal-error").await;
    assert_eq!(status, 200);
    let link = format!(
        "href=\"https://grafana.example.com/explore?trace={}&amp;x=1\"",
        root.trace_id
    );
    assert!(page.contains(&link), "{link} on the page");
    app.shutdown().await.unwrap();
}

/// The binary configured only by `OTEL_*` variables: spans held back by a long batch delay
/// are flushed on SIGTERM; `OTEL_TRACES_EXPORTER=none` turns traces off and leaves metrics on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_variables_configure_traces_and_sigterm_flushes_them() {
    let lab = crate::helpers::spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("probes.yaml");
    crate::helpers::write_config(
        &config,
        &lab,
        "  - name: healthy\n    url: ws://${LAB}/ws/healthy\n",
        "server: { listen: \"127.0.0.1:0\" }\n",
    );
    let receiver = TraceReceiver::http().await;
    let endpoint = format!("http://{}", receiver.addr);
    let daemon = Daemon::spawn(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    );
    daemon.wait_for_line("trace export on").await;
    let started = Instant::now();
    while lab.traceparents().len() < 2 {
        assert!(started.elapsed() < PATIENCE, "two probes ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.spans().is_empty(), "held back by the batch delay");
    let sent: Vec<String> = lab
        .traceparents()
        .iter()
        .map(|t| parse_traceparent(&t.traceparent).0)
        .collect();
    let _ = daemon.terminate(PATIENCE).await;
    let exported: Vec<String> = receiver
        .roots("healthy")
        .into_iter()
        .map(|r| r.trace_id)
        .collect();
    for trace in &sent {
        assert!(exported.contains(trace), "trace {trace} flushed at SIGTERM");
    }

    let off = TraceReceiver::http().await;
    let endpoint = format!("http://{}", off.addr);
    let daemon = Daemon::spawn(
        &config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
        ],
    );
    daemon
        .wait_for_line("trace export off: OTEL_TRACES_EXPORTER=none")
        .await;
    let started = Instant::now();
    while *off.metric_posts.lock().unwrap() == 0 {
        assert!(started.elapsed() < PATIENCE, "metrics still exported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = daemon.terminate(PATIENCE).await;
    assert!(
        off.spans().is_empty(),
        "no spans with OTEL_TRACES_EXPORTER=none"
    );
}
