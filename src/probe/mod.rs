//! One probe, connecting exactly as a real client does: token → health → dns → connect → tls →
//! upgrade → ready → exchange → close. `gather` collects the facts, `verdict::decide` and
//! `diagnosis::explain` (both pure) judge them, and everything leaving is redacted.

pub mod auth;
pub mod connect;
pub mod diagnosis;
pub mod evidence;
pub mod handshake;
pub mod redact;
pub mod replay;
pub mod result;
pub mod session;
mod timing;
pub mod tls;
pub mod trace;
pub mod verdict;

pub use result::{HealthInfo, ProbeResult, Status, Verdict};

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::config::{Environment, Matcher, Step, TlsOptions};
use connect::{NetFailure, Target};
use redact::Redactor;
use result::{HeaderMap, Headers, Phases, TlsInfo};
use timing::{between_ms, elapsed_ms};
use trace::{ProbeTrace, Timeline};
use verdict::{Evidence, Stop};

/// Socket read buffer: a welcome and a pong fit many times over; larger messages still work.
const PROBE_READ_BUFFER: usize = 8 * 1024;
/// Backoff between attempts after a dns/connect/tls failure (times the attempt number).
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// A refused upgrade's body is read for at most this long: it is evidence, not the probe.
const REJECTED_BODY_WAIT: Duration = Duration::from_secs(2);
/// Margin past `timeout` after which a probe is abandoned whatever it is doing: every wait
/// inside already has a deadline, this only guards against a bug turning into a hang.
const HARD_STOP_MARGIN: Duration = Duration::from_secs(2);

/// Probes environments. Holds what is worth keeping between probes: TLS configurations and
/// HTTP clients per TLS setting, and fetched tokens.
pub struct Prober {
    location: Option<String>,
    /// Configured secret values, scrubbed from every text that leaves a probe: built once
    /// (deduplicated, ordered) rather than per probe, which at 10,000 environments sharing a
    /// token was the largest part of a probe's CPU.
    secrets: Redactor,
    tokens: auth::TokenCache,
    clients: Mutex<HashMap<(Option<std::path::PathBuf>, bool), Clients>>,
}

#[derive(Clone)]
struct Clients {
    tls: Arc<rustls::ClientConfig>,
    http: reqwest::Client,
}

impl Prober {
    pub fn new(location: Option<String>, secrets: Vec<String>) -> Self {
        tls::ensure_crypto_provider();
        Self {
            location,
            secrets: Redactor::new(secrets),
            tokens: auth::TokenCache::default(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn for_config(config: &crate::config::Config) -> Self {
        Self::new(config.location.clone(), config.secret_values())
    }

    pub async fn probe(&self, env: &Environment) -> ProbeResult {
        self.probe_with_history(env, &[]).await
    }

    /// `history`: the environment's earlier results, newest first, for the diagnosis.
    #[tracing::instrument(skip_all, fields(environment = %env.name))]
    pub async fn probe_with_history(
        &self,
        env: &Environment,
        history: &[ProbeResult],
    ) -> ProbeResult {
        let started_at = Utc::now();
        let started = Instant::now();
        let deadline = started + env.timeout;
        let mut facts = Facts::new(self.secrets.clone(), started);
        let gathered = tokio::time::timeout(
            env.timeout + HARD_STOP_MARGIN,
            self.gather(env, deadline, &mut facts),
        )
        .await;
        let stop = gathered.unwrap_or_else(|_| {
            facts.error = Some(format!(
                "the probe overran its {} ms timeout",
                env.timeout.as_millis()
            ));
            Some(Stop::ProbeError)
        });
        let result = facts.into_result(env, self.location.clone(), started_at, stop, history);
        tracing::debug!(verdict = %result.verdict, "probe finished");
        result
    }

    fn clients(&self, options: &TlsOptions) -> Result<Clients, String> {
        let key = (options.ca_file.clone(), options.insecure_skip_verify);
        let mut clients = self.clients.lock();
        if let Some(found) = clients.get(&key) {
            return Ok(found.clone());
        }
        let tls = tls::client_config(options)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .user_agent(concat!("wsprobe/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        let built = Clients { tls, http };
        clients.insert(key, built.clone());
        Ok(built)
    }

    /// Runs the phases in order and returns where they stopped (`None`: all passed).
    async fn gather(
        &self,
        env: &Environment,
        deadline: Instant,
        facts: &mut Facts,
    ) -> Option<Stop> {
        let clients = match self.clients(&env.tls) {
            Ok(clients) => clients,
            Err(err) => {
                facts.error = Some(err);
                return Some(Stop::ProbeError);
            }
        };
        let target = match Target::from_url(&env.url) {
            Ok(target) => target,
            Err(err) => {
                facts.error = Some(err);
                return Some(Stop::ProbeError);
            }
        };

        let token_started = Instant::now();
        let token = auth::obtain(
            &env.auth,
            env.name.as_str(),
            &clients.http,
            &self.tokens,
            remaining(deadline),
            &facts.trace.traceparent(facts.trace.token),
        )
        .await;
        if !matches!(env.auth, crate::config::Auth::None) {
            facts.phases.token = Some(elapsed_ms(token_started));
            facts.starts.token = Some(facts.offset(token_started));
        }
        let token = match token {
            Ok(token) => token,
            Err(failure) => {
                facts.http_status = failure.http_status;
                facts.body_excerpt = failure.body_excerpt;
                facts.error = Some(failure.message);
                return Some(if failure.own_fault {
                    Stop::ProbeError
                } else {
                    Stop::Token
                });
            }
        };
        let templates = Templates::new(token.as_deref());
        if let Some(token) = &token {
            facts.redactor.add(token.clone());
            facts.redactor.add(templates.token_base64url.clone());
        }

        if let Some(health) = &env.health {
            // Half the budget at most: a hanging health URL must not starve the socket probe.
            let budget = remaining(deadline) / 2;
            let started = Instant::now();
            let traceparent = facts.trace.traceparent(facts.trace.health);
            let checked = check_health(&clients.http, health, budget, &traceparent).await;
            facts.phases.health = Some(elapsed_ms(started));
            facts.starts.health = Some(facts.offset(started));
            match checked {
                Ok(info) => facts.health = Some(info),
                Err(own_fault) => {
                    facts.error = Some(format!("health check: {own_fault}"));
                    return Some(Stop::ProbeError);
                }
            }
        }

        // Config validation keeps `traceparent` out of `headers`: this one names the probe's trace.
        let headers: Vec<(String, String)> = env
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), templates.fill(value)))
            .chain([(
                trace::TRACEPARENT.to_owned(),
                facts.trace.traceparent(facts.trace.upgrade),
            )])
            .collect();
        let subprotocols: Vec<String> =
            env.subprotocols.iter().map(|s| templates.fill(s)).collect();

        facts.secure = target.secure;
        facts.resolves = target.host.parse::<std::net::IpAddr>().is_err();
        let tls_config = target.secure.then(|| clients.tls.clone());
        let (mut stream, tls_info) = loop {
            facts.attempts += 1;
            facts.phases.dns = None;
            facts.phases.connect = None;
            facts.phases.tls = None;
            facts.net_started = Some(Instant::now());
            match connect::open(&target, tls_config.clone(), deadline, &mut facts.phases).await {
                Ok(opened) => break opened,
                Err(failure) => {
                    let backoff = RETRY_BACKOFF * facts.attempts;
                    let retryable = !matches!(failure, NetFailure::Local(_));
                    if retryable && facts.attempts <= env.retries && remaining(deadline) > backoff {
                        tracing::debug!(attempt = facts.attempts, error = %failure.message(), "retrying");
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                    facts.error = Some(failure.message());
                    return Some(match failure {
                        NetFailure::Dns(_) => Stop::Dns,
                        NetFailure::Refused(_) => Stop::ConnectRefused,
                        NetFailure::ConnectTimeout => Stop::ConnectTimeout,
                        NetFailure::Tls(_) => Stop::Tls,
                        NetFailure::Local(_) => Stop::ProbeError,
                    });
                }
            }
        };
        facts.tls = tls_info;

        let key = generate_key();
        let request = handshake::build_request(&env.url, &key, &subprotocols, &headers);
        facts.sent = request.headers.clone();
        let upgrade_started = Instant::now();
        facts.starts.upgrade = Some(facts.offset(upgrade_started));
        let response = match handshake::send_request(&mut stream, &request, deadline).await {
            Ok(()) => handshake::read_response(&mut stream, deadline).await,
            Err(err) => Err(err),
        };
        facts.phases.upgrade = Some(elapsed_ms(upgrade_started));
        let mut response = match response {
            Ok(response) => response,
            Err(handshake::ReadError::Timeout) => {
                facts.phases.upgrade = None;
                facts.error = Some("no answer to the upgrade request".into());
                return Some(Stop::UpgradeTimeout);
            }
            Err(handshake::ReadError::Closed(detail) | handshake::ReadError::Malformed(detail)) => {
                facts.error = Some(detail);
                return Some(Stop::Protocol);
            }
        };
        facts.http_status = Some(response.status);
        facts.response_headers = response.headers.clone();
        if let Some(crate::config::VersionSource::Header(name)) = &env.version {
            facts.version = response.header(name).map(str::to_owned);
        }
        if response.status != 101 {
            let body_deadline = (Instant::now() + REJECTED_BODY_WAIT).min(deadline);
            handshake::read_rejected_body(&mut stream, &mut response, body_deadline).await;
            facts.body_excerpt = Some(crate::text::excerpt(
                &String::from_utf8_lossy(&response.rest),
                300,
            ));
            return Some(Stop::UpgradeRejected);
        }
        match handshake::validate_accept(&response, &key, &subprotocols) {
            Ok(selected) => facts.subprotocol = selected,
            Err(problem) => {
                facts.error = Some(problem);
                return Some(Stop::Protocol);
            }
        }
        if let Some(expected) = &env.expect_subprotocol {
            facts.subprotocol_mismatch = facts.subprotocol.as_deref() != Some(expected.as_str());
        }

        let accepted_at = Instant::now();
        let accepted_ms = facts.offset(accepted_at);
        if env.steps.iter().any(|s| matches!(s, Step::Expect { .. })) {
            facts.starts.ready = Some(accepted_ms);
        }
        // Probe traffic is a few small messages: tungstenite's 128 KiB buffers per socket would
        // dominate memory with hundreds of probes in flight.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(PROBE_READ_BUFFER)
            .write_buffer_size(0)
            .max_write_buffer_size(env.limits.max_message_bytes + PROBE_READ_BUFFER)
            .max_message_size(Some(env.limits.max_message_bytes))
            .max_frame_size(Some(env.limits.max_message_bytes));
        let socket = WebSocketStream::from_partially_read(
            stream,
            std::mem::take(&mut response.rest),
            Role::Client,
            Some(ws_config),
        )
        .await;
        let plan = session::Plan {
            steps: &env.steps,
            send_texts: env
                .steps
                .iter()
                .filter_map(|step| match step {
                    Step::Send { text } => Some(templates.fill(text)),
                    Step::Expect { .. } => None,
                })
                .collect(),
            echo: env.echo.as_ref(),
            version_pointer: match &env.version {
                Some(crate::config::VersionSource::Pointer(p)) => Some(p.as_str()),
                _ => None,
            },
            limits: env.limits,
            accepted_at,
            deadline,
        };
        let outcome = session::run(socket, &plan).await;
        facts.phases.ready = outcome.ready_ms;
        facts.phases.exchange = outcome.exchange_ms;
        facts.phases.close = outcome.close_ms;
        facts.starts.exchange = outcome
            .exchange_ms
            .map(|_| accepted_ms + outcome.ready_ms.unwrap_or_default());
        facts.starts.close = outcome
            .close_started_ms
            .filter(|_| outcome.close_ms.is_some())
            .map(|after_accept| accepted_ms + after_accept);
        if facts.version.is_none() {
            facts.version = outcome.version.clone();
        }
        if let (Some(echo), Some(echoed)) = (&env.echo, &outcome.echoed) {
            facts.missing = session::missing_headers(echoed, &echo.require, &facts.sent);
        }
        let stop = if let Some(problem) = &outcome.protocol_error {
            facts.error = Some(problem.clone());
            Some(Stop::Protocol)
        } else {
            match (&outcome.ready, &outcome.failed_step) {
                (session::Ready::Closed, _) => Some(Stop::ClosedBeforeReady),
                (session::Ready::TimedOut { .. }, _) => Some(Stop::ReadyTimeout),
                (session::Ready::Mismatch { .. }, _) => Some(Stop::ReadyMismatch),
                (_, Some((_, failure))) => {
                    let mut text = step_failure_text(failure);
                    if outcome.close_ms.is_some() && !outcome.close_answered {
                        text.push_str("; the close handshake went unanswered");
                    }
                    facts.error = Some(text);
                    Some(Stop::StepFailed)
                }
                _ => None,
            }
        };
        facts.session = Some(outcome);
        stop
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn step_failure_text(failure: &session::StepFailure) -> String {
    match failure {
        session::StepFailure::TimedOut { within_ms } => {
            format!("no matching message within {within_ms:.0} ms")
        }
        session::StepFailure::Closed => "the server closed the connection".into(),
        session::StepFailure::Mismatch { message } => {
            format!(
                "got a message that does not match: {}",
                crate::text::excerpt(message, 200)
            )
        }
        session::StepFailure::SendFailed(detail) => detail.clone(),
    }
}

async fn check_health(
    http: &reqwest::Client,
    health: &crate::config::HealthCheck,
    budget: Duration,
    traceparent: &str,
) -> Result<HealthInfo, String> {
    let request = http
        .get(health.url.clone())
        .header(trace::TRACEPARENT, traceparent)
        .timeout(budget);
    Ok(match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let mut info = HealthInfo {
                http_status: Some(status),
                ok: status == health.expect_status,
                error: None,
            };
            if let (true, Some(matcher)) = (info.ok, &health.expect_body) {
                let body = read_bounded(response, HEALTH_BODY_LIMIT).await;
                let json = serde_json::from_str::<serde_json::Value>(&body).ok();
                if !matcher.matches(&body, json.as_ref()) {
                    info.ok = false;
                    info.error = Some(format!(
                        "the body does not match expect_body {}: got \"{}\"",
                        matcher.describe(),
                        evidence::summarize_body(&body).unwrap_or_else(|| "an empty body".into())
                    ));
                }
            }
            info
        }
        Err(err) if connect::local_exhaustion_in(&err).is_some() => {
            return Err(format!(
                "wsprobe itself ran out of resources ({}): not the service's fault",
                connect::local_exhaustion_in(&err).expect("just matched")
            ));
        }
        Err(err) => HealthInfo {
            http_status: None,
            ok: false,
            error: Some(if err.is_timeout() {
                "timed out".to_owned()
            } else {
                crate::text::error_chain(&err)
            }),
        },
    })
}

/// The most of a health answer's body read for `expect_body`: a health endpoint that answers
/// megabytes cannot bloat the daemon, and a match is judged on what was read.
const HEALTH_BODY_LIMIT: usize = 64 * 1024;

/// Up to `limit` bytes of a response body, as text; what did not arrive in the budget is
/// simply not there.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// `{token}` and `{token_base64url}` in headers, subprotocols and sent messages.
struct Templates {
    token: String,
    token_base64url: String,
}

impl Templates {
    fn new(token: Option<&str>) -> Self {
        let token = token.unwrap_or_default().to_owned();
        let token_base64url = URL_SAFE_NO_PAD.encode(token.as_bytes());
        Self {
            token,
            token_base64url,
        }
    }

    fn fill(&self, template: &str) -> String {
        template
            .replace("{token_base64url}", &self.token_base64url)
            .replace("{token}", &self.token)
    }
}

/// Everything observed, unredacted until `into_result`.
struct Facts {
    redactor: Redactor,
    /// The probe's start on the monotonic clock: phase starts are offsets from it.
    started: Instant,
    trace: ProbeTrace,
    phases: Phases,
    /// When each phase began, in milliseconds after `started`, set as it begins: a phase with
    /// a start and no duration is the one the probe stopped in.
    starts: Phases,
    secure: bool,
    /// The host is a name, not an IP literal: a dns phase runs.
    resolves: bool,
    attempts: u32,
    net_started: Option<Instant>,
    http_status: Option<u16>,
    body_excerpt: Option<String>,
    error: Option<String>,
    tls: Option<TlsInfo>,
    health: Option<HealthInfo>,
    sent: Vec<(String, String)>,
    response_headers: Vec<(String, String)>,
    subprotocol: Option<String>,
    subprotocol_mismatch: bool,
    missing: Vec<String>,
    version: Option<String>,
    session: Option<session::SessionOutcome>,
}

impl Facts {
    fn new(redactor: Redactor, started: Instant) -> Self {
        Self {
            redactor,
            started,
            trace: ProbeTrace::generate(),
            phases: Phases::default(),
            starts: Phases::default(),
            secure: false,
            resolves: false,
            attempts: 0,
            net_started: None,
            http_status: None,
            body_excerpt: None,
            error: None,
            tls: None,
            health: None,
            sent: Vec::new(),
            response_headers: Vec::new(),
            subprotocol: None,
            subprotocol_mismatch: false,
            missing: Vec::new(),
            version: None,
            session: None,
        }
    }

    fn offset(&self, at: Instant) -> f64 {
        between_ms(self.started, at)
    }

    fn into_result(
        mut self,
        env: &Environment,
        location: Option<String>,
        started_at: chrono::DateTime<Utc>,
        stop: Option<Stop>,
        history: &[ProbeResult],
    ) -> ProbeResult {
        // The client's own close handshake is after the fact: a server that never answers it
        // would otherwise make every probe look slow by the whole close wait.
        let closing = self.phases.close.unwrap_or_default().max(0.0);
        self.phases.total = self
            .net_started
            .map(|started| (elapsed_ms(started) - closing).max(0.0));
        let stopped_ms = elapsed_ms(self.started);
        if let Some(net_started) = self.net_started {
            // Network phases run back to back within the last attempt: each begins when the
            // one before it ended.
            let net = self.offset(net_started);
            self.starts.total = Some(net);
            let connect_start = if self.resolves {
                self.starts.dns = Some(net);
                self.phases.dns.map(|dns| net + dns)
            } else {
                Some(net)
            };
            self.starts.connect = connect_start;
            if let (Some(start), Some(connect), true) =
                (connect_start, self.phases.connect, self.secure)
            {
                self.starts.tls = Some(start + connect);
            }
        }
        let unfinished = self
            .starts
            .named()
            .into_iter()
            .zip(self.phases.named())
            .filter(|((name, _), _)| *name != "total")
            .filter_map(|((name, start), (_, duration))| {
                start.filter(|_| duration.is_none()).map(|s| (name, s))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, start)| (name, (stopped_ms - start).max(0.0)));
        let timeline = Timeline {
            ids: self.trace,
            starts_ms: self.starts.clone(),
            unfinished: if stop.is_some() { unfinished } else { None },
            elapsed_ms: stopped_ms,
        };
        let degraded_after_ms = env.degraded_after.as_secs_f64() * 1000.0;
        let cert_expiring = self
            .tls
            .as_ref()
            .and_then(|tls| tls.cert_not_after)
            .is_some_and(|not_after| {
                not_after - Utc::now() < chrono::Duration::days(i64::from(env.cert_warn_days))
            });
        let evidence = Evidence {
            stop,
            headers_missing: !self.missing.is_empty(),
            subprotocol_mismatch: self.subprotocol_mismatch,
            health_ok: self.health.as_ref().map(|h| h.ok),
            cert_expiring,
            slow: self.phases.total.is_some_and(|t| t > degraded_after_ms),
        };
        let verdict = verdict::decide(&evidence);
        let r = &self.redactor;
        let (close_code, close_reason, close_after_ms, messages, echoed) = match &self.session {
            Some(session) => (
                session.server_close.as_ref().map(|c| c.code),
                session.server_close.as_ref().map(|c| r.text(&c.reason)),
                session.server_close.as_ref().map(|c| c.after_accept_ms),
                session.messages.iter().map(|m| r.text(m)).collect(),
                session.echoed.clone().unwrap_or_default(),
            ),
            None => (None, None, None, Vec::new(), Vec::new()),
        };
        let redact_map = |headers: &[(String, String)]| -> HeaderMap {
            let mut map = HeaderMap::new();
            for (name, value) in headers {
                let name = name.to_ascii_lowercase();
                let value = r.header(&name, value);
                map.entry(name)
                    .and_modify(|existing: &mut String| {
                        existing.push_str(", ");
                        existing.push_str(&value);
                    })
                    .or_insert(value);
            }
            map
        };
        let mut result = ProbeResult {
            environment: env.name.to_string(),
            location,
            url: r.text(&crate::config::redact_url(&env.url)),
            started_at,
            status: verdict.status(),
            verdict,
            close_code,
            close_reason,
            close_after_ms,
            http_status: self.http_status,
            body_excerpt: self.body_excerpt.as_deref().map(|b| r.text(b)),
            subprotocol: self.subprotocol.as_deref().map(|s| r.subprotocol(s)),
            attempts: self.attempts,
            failed_step: self
                .session
                .as_ref()
                .and_then(|s| s.failed_step.as_ref().map(|f| f.0)),
            version: self.version.as_deref().map(|v| r.text(v)),
            phases_ms: self.phases,
            tls: self.tls,
            health: self.health.map(|mut h| {
                h.error = h.error.map(|e| r.text(&e));
                h
            }),
            headers: Headers {
                sent: redact_map(&self.sent),
                response: redact_map(&self.response_headers),
                echoed: redact_map(&echoed),
                missing: self.missing,
            },
            messages,
            diagnosis: String::new(),
            error: self.error.as_deref().map(|e| r.text(e)),
            trace_id: Some(self.trace.trace_id.to_string()),
            timeline: Some(timeline),
        };
        let expectations = expectations(env, &result, r);
        result.diagnosis = r.text(&diagnosis::explain(&result, &expectations, history));
        result
    }
}

fn expectations(env: &Environment, result: &ProbeResult, r: &Redactor) -> diagnosis::Expectations {
    let target = Target::from_url(&env.url)
        .map(|t| format!("{}:{}", t.host, t.port))
        .unwrap_or_default();
    let token_url = match &env.auth {
        crate::config::Auth::TokenEndpoint { url, .. } => Some(crate::config::redact_url(url)),
        _ => None,
    };
    diagnosis::Expectations {
        target,
        expect_subprotocol: env.expect_subprotocol.clone(),
        offered_subprotocols: result
            .headers
            .sent
            .get("sec-websocket-protocol")
            .map(|v| v.split(", ").map(str::to_owned).collect())
            .unwrap_or_else(|| env.subprotocols.iter().map(|s| r.subprotocol(s)).collect()),
        degraded_after_ms: env.degraded_after.as_secs_f64() * 1000.0,
        cert_warn_days: env.cert_warn_days,
        token_url,
        health_url: env
            .health
            .as_ref()
            .map(|h| crate::config::redact_url(&h.url)),
        expect_health_status: env.health.as_ref().map(|h| h.expect_status),
        steps: env.steps.iter().map(describe_step).collect(),
        retries: env.retries,
        timeout_ms: env.timeout.as_secs_f64() * 1000.0,
    }
}

pub fn describe_step(step: &Step) -> String {
    match step {
        Step::Send { text } => format!("send {}", crate::text::excerpt(text, 60)),
        Step::Expect { within, matcher } => {
            let what = match matcher {
                Matcher::Any => "any message".to_owned(),
                Matcher::Contains(needle) => format!("a message containing {needle:?}"),
                Matcher::Json(pairs) => {
                    let map: serde_json::Map<String, serde_json::Value> =
                        pairs.iter().cloned().collect();
                    serde_json::Value::Object(map).to_string()
                }
            };
            format!(
                "expect {what} within {}",
                humantime::format_duration(*within)
            )
        }
    }
}
