//! The handlers through the router, one request each (`oneshot`), against a fake
//! [`StatusSource`]: no daemon, no socket. The store is a real SQLite file in a temporary
//! directory; only [`FakeSource::store`] knows its type.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tower::ServiceExt as _;

use super::*;
use crate::config::Config;
use crate::oncall::{Acknowledgement, NewSilence, Silence};
use crate::probe::{ProbeResult, Status, Verdict};
use crate::store::{AckOutcome, ExpireOutcome, NewRun, ReadOnlyStore, Store, StoreError};

pub(super) const ADMIN_TOKEN: &str = "test-admin-token";

/// What a probed server said: a close reason is anything it likes.
pub(super) const HOSTILE: &str = "<script>alert('owned')</script>";

/// A daemon as the web layer sees it, every answer fixed by the test.
pub(super) struct FakeSource {
    config: Arc<Config>,
    pub(super) store: Store,
    /// The real alert engine over the store: notes go through it as in the daemon.
    alerts: crate::alert::Alerts,
    /// `api`'s newest result; `None`: not probed yet. Other environments are never probed.
    pub(super) latest: Option<Arc<ProbeResult>>,
    /// The newest result of other environments, by name (a large fleet's).
    pub(super) results: std::collections::HashMap<String, Arc<ProbeResult>>,
    /// `None`: ready.
    not_ready: Option<String>,
    prometheus: Option<String>,
    _dir: tempfile::TempDir,
}

impl FakeSource {
    /// Environment `api` (at `wss://api.example.com/ws`) and `server`.
    pub(super) async fn new(server: &str) -> FakeSource {
        FakeSource::from_yaml(&format!(
            "environments:\n  - name: api\n    url: wss://api.example.com/ws\nserver: {server}\n"
        ))
        .await
    }

    /// Any config; `api` is the environment a result can be given to.
    pub(super) async fn from_yaml(yaml: &str) -> FakeSource {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::config::load_str(std::path::Path::new("test.yaml"), yaml, &|_| None)
            .unwrap_or_else(|err| panic!("the test config loads: {err}"));
        let store = Store::open(&dir.path().join("wsprobe.db")).await.unwrap();
        let alerts = crate::alert::Alerts::new(store.alerts()).await.unwrap();
        FakeSource {
            config: Arc::new(config),
            store,
            alerts,
            latest: None,
            results: Default::default(),
            not_ready: None,
            prometheus: None,
            _dir: dir,
        }
    }

    /// With the admin token set: on-demand probes allowed.
    pub(super) async fn with_admin() -> FakeSource {
        FakeSource::new(&format!("{{ admin_token: {ADMIN_TOKEN} }}")).await
    }

    fn environment(&self, name: &str) -> EnvironmentStatus {
        let last = (self.latest.clone().filter(|_| name == "api"))
            .or_else(|| self.results.get(name).cloned());
        let unknown = Uptime {
            day: None,
            week: None,
            month: None,
        };
        EnvironmentStatus {
            name: name.into(),
            status: last.as_ref().map(|r| r.status),
            verdict: last.as_ref().map(|r| r.verdict),
            diagnosis: last.as_ref().map(|r| r.diagnosis.clone()),
            close_code: last.as_ref().and_then(|r| r.close_code),
            last_run: last.as_ref().map(|r| r.started_at),
            next_run: None,
            running: false,
            skipped_slots: 0,
            uptime: unknown,
            uptime_percent: unknown,
            latency_ms: Latency {
                p50: None,
                p95: None,
            },
            last_result: last,
            in_maintenance: false,
            maintenance: None,
            open_incident: None,
            caused_by: None,
            silenced_by: None,
            slo: None,
            locations: Default::default(),
        }
    }
}

impl StatusSource for FakeSource {
    fn generation(&self) -> u64 {
        1
    }

    fn config(&self) -> Arc<Config> {
        self.config.clone()
    }

    async fn status(&self) -> StatusBody {
        StatusBody {
            generated_at: at(0),
            location: None,
            instance_id: Some(self.store.instance_id().to_owned()),
            store: StoreStatus {
                ok: true,
                error: None,
                spool: Default::default(),
            },
            environments: self
                .config
                .environments
                .iter()
                .map(|env| self.environment(env.name.as_str()))
                .collect(),
            notifications: NotificationStatus {
                failed_24h: Vec::new(),
            },
            reload_rejected: None,
            quiet: Vec::new(),
            silences: self
                .store
                .alerts()
                .silences(false, Utc::now(), 100)
                .await
                .unwrap(),
        }
    }

    fn recent(&self, _environment: &str) -> Vec<RecentRun> {
        self.latest
            .iter()
            .map(|r| (r.started_at, r.status, r.verdict))
            .collect()
    }

    async fn probe_now(&self, environment: &str) -> Option<ProbeResult> {
        self.config.environment(environment)?;
        Some(result(environment, 0, Status::Up, "probed on demand"))
    }

    async fn add_note(
        &self,
        id: i64,
        note: crate::store::NewNote<'_>,
    ) -> Result<Option<crate::store::NoteRecord>, crate::store::StoreError> {
        self.alerts.add_note(&self.config, id, &note).await
    }

    /// As the daemon does: stored first, then applied by the alert engine.
    async fn acknowledge(&self, id: i64, ack: Acknowledgement) -> Result<AckOutcome, StoreError> {
        let outcome = self.store.alerts().acknowledge(id, &ack).await?;
        if let AckOutcome::Acknowledged(_) = &outcome {
            self.alerts.acknowledge(&self.config, id, &ack, Utc::now());
        }
        Ok(outcome)
    }

    async fn add_silence(&self, silence: NewSilence) -> Result<Silence, StoreError> {
        self.store.alerts().add_silence(&silence, Utc::now()).await
    }

    async fn expire_silence(&self, id: i64) -> Result<ExpireOutcome, StoreError> {
        self.store.alerts().expire_silence(id, Utc::now()).await
    }

    async fn readiness(&self) -> Readiness {
        Readiness {
            ready: self.not_ready.is_none(),
            reason: self.not_ready.clone(),
            store_writable: true,
            store_error: None,
            store_file: "open",
            scheduler_on_time: self.not_ready.is_none(),
            late_environments: Vec::new(),
            notifications_overdue: 0,
        }
    }

    fn store(&self) -> ReadOnlyStore {
        self.store.read_only()
    }

    fn prometheus_text(&self) -> Option<String> {
        self.prometheus.clone()
    }
}

pub(super) fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

pub(super) fn result(env: &str, seconds: i64, status: Status, diagnosis: &str) -> ProbeResult {
    let verdict = match status {
        Status::Down => Verdict::ClosedBeforeReady,
        _ => Verdict::Ok,
    };
    ProbeResult::note(env, at(seconds), status, verdict, diagnosis.into())
}

/// `runs` results of `api`, a minute apart, oldest first.
async fn seed_runs(store: &Store, runs: i64) {
    for i in 0..runs {
        let run = result("api", i * 60, Status::Up, "fine");
        let run = NewRun {
            result: Arc::new(run),
            in_maintenance: false,
            silence: None,
            slot: None,
        };
        store.runs().insert_runs(&[&run]).await.unwrap();
    }
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Answer {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
}

pub(super) async fn send(source: FakeSource, request: Request<Body>) -> Answer {
    send_to(router(Arc::new(source)), request).await
}

/// One request to a router that keeps its source (and store) for the next.
async fn call(app: &axum::Router, request: Request<Body>) -> Answer {
    send_to(app.clone(), request).await
}

pub(super) async fn send_to(router: axum::Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

pub(super) async fn get(source: FakeSource, uri: &str) -> Answer {
    send(source, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn probe_request(token: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/api/v1/environments/api/probe");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn status_is_json_and_says_unknown_before_the_first_probe() {
    let answer = get(FakeSource::with_admin().await, "/api/v1/status").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    let body = answer.json();
    assert_eq!(body["environments"][0]["name"], "api");
    assert_eq!(body["environments"][0]["status"], "unknown");
    assert_eq!(body["environments"][0]["verdict"], Value::Null);

    let mut source = FakeSource::with_admin().await;
    source.latest = Some(Arc::new(result("api", 0, Status::Down, "closed")));
    let body = get(source, "/api/v1/status").await.json();
    assert_eq!(body["environments"][0]["status"], "down");
    assert_eq!(body["environments"][0]["verdict"], "closed_before_ready");
}

#[tokio::test]
async fn runs_page_newest_first_and_refuse_a_bad_cursor() {
    let source = FakeSource::with_admin().await;
    seed_runs(&source.store, 3).await;
    let first = get(source, "/api/v1/environments/api/runs?limit=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let first = first.json();
    let runs = first["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0]["started_at"].as_str() > runs[1]["started_at"].as_str());
    assert_eq!(first["next_before"], runs[1]["id"]);

    for (uri, want) in [
        (
            "/api/v1/environments/api/runs?before=yesterday",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/environments/api/runs?limit=0",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/environments/nope/runs", StatusCode::NOT_FOUND),
    ] {
        let answer = get(FakeSource::with_admin().await, uri).await;
        assert_eq!(answer.status, want, "{uri}: {}", answer.body);
        assert!(answer.json()["error"].is_string(), "{uri}: a JSON error");
    }
}

#[tokio::test]
async fn incidents_filter_by_state_and_known_environment() {
    let cases = [
        ("/api/v1/incidents", StatusCode::OK),
        (
            "/api/v1/incidents?state=open&environment=api",
            StatusCode::OK,
        ),
        ("/api/v1/incidents?state=resolved", StatusCode::OK),
        // Fleet subjects have incidents under their own name.
        (
            "/api/v1/incidents?environment=location%20eu-west",
            StatusCode::OK,
        ),
        ("/api/v1/incidents?state=closed", StatusCode::BAD_REQUEST),
        ("/api/v1/incidents?limit=1001", StatusCode::BAD_REQUEST),
        ("/api/v1/incidents?environment=nope", StatusCode::NOT_FOUND),
    ];
    for (uri, want) in cases {
        let answer = get(FakeSource::with_admin().await, uri).await;
        assert_eq!(answer.status, want, "{uri}: {}", answer.body);
        if want == StatusCode::OK {
            assert_eq!(answer.json()["incidents"], serde_json::json!([]), "{uri}");
        }
    }
}

#[tokio::test]
async fn an_on_demand_probe_needs_the_admin_token() {
    let answer = send(FakeSource::with_admin().await, probe_request(None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    let answer = send(FakeSource::with_admin().await, probe_request(Some("guess"))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    let answer = send(
        FakeSource::with_admin().await,
        probe_request(Some(ADMIN_TOKEN)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.json()["diagnosis"], "probed on demand");

    // Without a token configured nobody may, whatever they send.
    let off = FakeSource::new("{}").await;
    let answer = send(off, probe_request(Some(ADMIN_TOKEN))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
}

#[tokio::test]
async fn readyz_is_503_with_the_reason_and_healthz_is_always_ok() {
    let mut source = FakeSource::with_admin().await;
    source.not_ready = Some("the scheduler is late for api".into());
    let answer = get(source, "/readyz").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = answer.json();
    assert_eq!(body["ready"], false);
    assert_eq!(body["reason"], "the scheduler is late for api");

    let answer = get(FakeSource::with_admin().await, "/readyz").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["ready"], true);

    let answer = get(FakeSource::with_admin().await, "/healthz").await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "ok\n")
    );
}

#[tokio::test]
async fn pages_escape_what_a_server_said() {
    let mut source = FakeSource::with_admin().await;
    source.latest = Some(Arc::new(result("api", 0, Status::Down, HOSTILE)));
    let answer = get(source, "/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.body.contains("&lt;script&gt;"),
        "the diagnosis is on the page: {}",
        answer.body
    );
    assert!(!answer.body.contains(HOSTILE), "and escaped");
}

#[tokio::test]
async fn metrics_are_off_unless_the_source_gathers_them_and_the_feed_is_atom() {
    let answer = get(FakeSource::with_admin().await, "/metrics").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let mut source = FakeSource::with_admin().await;
    source.prometheus = Some("wsprobe_up 1\n".into());
    let answer = get(source, "/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "wsprobe_up 1\n");

    let answer = get(FakeSource::with_admin().await, "/feed.atom").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    assert!(
        answer
            .body
            .contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
}

#[tokio::test]
async fn a_badge_is_valid_svg_says_the_status_and_revalidates_by_its_tag() {
    let mut source = FakeSource::with_admin().await;
    source.latest = Some(Arc::new(result("api", 0, Status::Down, "closed")));
    let answer = get(source, "/badge/api.svg").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "image/svg+xml; charset=utf-8"
    );
    assert!(
        answer.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let tag = answer.headers[header::ETAG].to_str().unwrap().to_owned();
    // Read by an XML parser of its own: well-formed, an <svg>, and the texts a person reads.
    let document = roxmltree::Document::parse(&answer.body).expect("the badge is XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let texts: Vec<&str> = root
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(texts, ["api", "down"]);

    let mut source = FakeSource::with_admin().await;
    source.latest = Some(Arc::new(result("api", 0, Status::Down, "closed")));
    let again = send(
        source,
        Request::get("/badge/api.svg")
            .header(header::IF_NONE_MATCH, &tag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    let uptime = get(
        FakeSource::with_admin().await,
        "/badge/api.svg?kind=uptime&window=7d",
    )
    .await;
    assert_eq!(uptime.status, StatusCode::OK);
    assert!(uptime.body.contains("api uptime 7d") && uptime.body.contains("no data"));
    for (uri, want) in [
        ("/badge/nope.svg", StatusCode::NOT_FOUND),
        ("/badge/api.svg?kind=colour", StatusCode::BAD_REQUEST),
        (
            "/badge/api.svg?kind=latency&window=7d",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let answer = get(FakeSource::with_admin().await, uri).await;
        assert_eq!(answer.status, want, "{uri}: {}", answer.body);
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    for uri in ["/", "/api/v1/status", "/environments/api", "/nope"] {
        let answer = get(FakeSource::with_admin().await, uri).await;
        let csp = answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'sha256-"),
            "{uri}: {csp}"
        );
        assert_eq!(
            answer.headers[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "{uri}"
        );
        assert!(
            answer.headers.get(header::X_FRAME_OPTIONS).is_none(),
            "wall displays frame the page"
        );
        assert_eq!(
            answer.headers[header::REFERRER_POLICY],
            "no-referrer",
            "{uri}"
        );
    }
}

mod incidents;
pub(super) use incidents::{note_request, seed_incident};
mod paging;
