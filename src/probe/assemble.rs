//! The facts of one probe turned into its result: the timeline closed, the verdict decided,
//! every text that leaves redacted, and the diagnosis written last, from the redacted result.

use chrono::{DateTime, Utc};

use super::connect::Endpoint;
use super::facts::Facts;
use super::redact::Redactor;
use super::result::{HeaderMap, Headers, ProbeResult};
use super::timing::elapsed_ms;
use super::trace::Timeline;
use super::verdict::{self, Evidence, Stop};
use super::{diagnosis, session};
use crate::config::{Auth, Environment, Step};

impl Facts {
    pub(super) fn into_result(
        mut self,
        env: &Environment,
        location: Option<String>,
        started_at: DateTime<Utc>,
        stop: Option<Stop>,
        history: &[ProbeResult],
    ) -> ProbeResult {
        let stopped_ms = self.close_network_timings();
        let timeline = Timeline {
            ids: self.trace,
            starts_ms: self.starts.clone(),
            unfinished: stop.and(self.unfinished_phase(stopped_ms)),
            elapsed_ms: stopped_ms,
        };
        let verdict = verdict::decide(&self.evidence(env, stop));
        let redactor = std::mem::take(&mut self.redactor);
        // Read before redaction hides it: the token the probe sent, and when it expired.
        let token_seconds_left = diagnosis::token::seconds_left(&self.sent, started_at);
        let mut result = self.redacted(env, location, started_at, verdict, &redactor);
        result.timeline = Some(timeline);
        let expectations = diagnosis::Expectations {
            token_seconds_left,
            ..expectations(env, &result, &redactor)
        };
        result.diagnosis = redactor.text(&diagnosis::explain(&result, &expectations, history));
        result
    }

    /// Sets `total` and the network phases' starts; returns when the probe stopped, in
    /// milliseconds after its start.
    fn close_network_timings(&mut self) -> f64 {
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
            let connected = connect_start.zip(self.phases.connect).map(|(s, c)| s + c);
            let tunnelled = if self.proxied {
                self.starts.proxy = connected;
                connected.zip(self.phases.proxy).map(|(s, p)| s + p)
            } else {
                connected
            };
            if self.secure {
                self.starts.tls = tunnelled;
            }
        }
        stopped_ms
    }

    /// The phase the probe stopped in (the latest one begun and never finished) and how long
    /// it had run.
    fn unfinished_phase(&self, stopped_ms: f64) -> Option<(&'static str, f64)> {
        self.starts
            .named()
            .into_iter()
            .zip(self.phases.named())
            .filter(|((name, _), _)| *name != "total")
            .filter_map(|((name, start), (_, duration))| {
                start.filter(|_| duration.is_none()).map(|s| (name, s))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, start)| (name, (stopped_ms - start).max(0.0)))
    }

    fn evidence(&self, env: &Environment, stop: Option<Stop>) -> Evidence {
        let degraded_after_ms = env.degraded_after.as_secs_f64() * 1000.0;
        let cert_expiring = self
            .tls
            .as_ref()
            .and_then(|tls| tls.cert_not_after)
            .is_some_and(|not_after| {
                not_after - Utc::now() < chrono::Duration::days(i64::from(env.cert_warn_days))
            });
        Evidence {
            stop,
            headers_missing: !self.missing.is_empty(),
            subprotocol_mismatch: self.subprotocol_mismatch,
            health_ok: self.health.as_ref().map(|h| h.ok),
            cert_expiring,
            slow: self.phases.total.is_some_and(|t| t > degraded_after_ms),
        }
    }

    /// The result with every text redacted; its diagnosis and timeline come after.
    fn redacted(
        self,
        env: &Environment,
        location: Option<String>,
        started_at: DateTime<Utc>,
        verdict: crate::probe::Verdict,
        r: &Redactor,
    ) -> ProbeResult {
        let session = SessionEvidence::redacted(self.session.as_ref(), r);
        ProbeResult {
            environment: env.name.to_string(),
            location,
            url: r.text(&crate::config::redact_url(&env.url)),
            started_at,
            status: verdict.status(),
            verdict,
            close_code: session.close_code,
            close_reason: session.close_reason,
            close_after_ms: session.close_after_ms,
            http_status: self.http_status,
            body_excerpt: self.body_excerpt.as_deref().map(|b| r.text(b)),
            subprotocol: self.subprotocol.as_deref().map(|s| r.subprotocol(s)),
            attempts: self.attempts,
            failed_step: session.failed_step,
            version: self.version.as_deref().map(|v| r.text(v)),
            phases_ms: self.phases,
            tls: self.tls,
            health: self.health.map(|mut h| {
                h.error = h.error.map(|e| r.text(&e));
                h
            }),
            headers: Headers {
                sent: redact_headers(&self.sent, r),
                response: redact_headers(&self.response_headers, r),
                echoed: redact_headers(&session.echoed, r),
                missing: self.missing,
            },
            messages: session.messages,
            diagnosis: String::new(),
            error: self.error.as_deref().map(|e| r.text(e)),
            trace_id: Some(self.trace.trace_id.to_string()),
            timeline: None,
            client_close_code: session.client_close_code,
            client_close_reason: session.client_close_reason,
            protocol: env.protocol.as_ref().map(|p| p.preset.name().to_owned()),
            peer: self.transport.peer,
            addresses_tried: self.transport.tried,
            confirmation: None,
            requested_by: None,
        }
    }
}

/// What the session adds to a result, redacted; all empty when no session ran.
#[derive(Default)]
struct SessionEvidence {
    close_code: Option<u16>,
    close_reason: Option<String>,
    close_after_ms: Option<f64>,
    client_close_code: Option<u16>,
    client_close_reason: Option<String>,
    failed_step: Option<usize>,
    messages: Vec<String>,
    /// Unredacted still: `redact_headers` does it by header name.
    echoed: Vec<(String, String)>,
}

impl SessionEvidence {
    fn redacted(session: Option<&session::SessionOutcome>, r: &Redactor) -> Self {
        let Some(session) = session else {
            return Self::default();
        };
        let close = session.server_close.as_ref();
        Self {
            close_code: close.map(|c| c.code),
            close_reason: close.map(|c| r.text(&c.reason)),
            close_after_ms: close.map(|c| c.after_accept_ms),
            client_close_code: session.client_close.as_ref().map(|c| c.code),
            client_close_reason: session.client_close.as_ref().map(|c| r.text(&c.reason)),
            failed_step: session.failed_step.as_ref().map(|f| f.0),
            messages: session.messages.iter().map(|m| r.text(m)).collect(),
            echoed: session.echoed.clone().unwrap_or_default(),
        }
    }
}

/// Header names lowercased, values redacted by name, repeated headers joined as HTTP joins
/// them.
fn redact_headers(headers: &[(String, String)], r: &Redactor) -> HeaderMap {
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
}

/// What the configuration asked for, as the diagnosis quotes it (URLs redacted).
fn expectations(env: &Environment, result: &ProbeResult, r: &Redactor) -> diagnosis::Expectations {
    let target = Endpoint::from_url(&env.url)
        .map(|t| format!("{}:{}", t.host, t.port))
        .unwrap_or_default();
    let token_url = match &env.auth {
        Auth::TokenEndpoint { url, .. } => Some(crate::config::redact_url(url)),
        _ => None,
    };
    let proxy = env.network.proxy_for(&env.url);
    let session = match &env.auth {
        Auth::Session(session) => Some(session),
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
        login_url: session.map(|s| crate::config::redact_url(&s.login.url)),
        csrf_cookie: session.and_then(|s| s.csrf.as_ref().map(|csrf| csrf.cookie.clone())),
        health_url: env
            .health
            .as_ref()
            .map(|h| crate::config::redact_url(&h.url)),
        expect_health_status: env.health.as_ref().map(|h| h.expect_status),
        steps: env.steps.iter().map(describe_step).collect(),
        retries: env.retries,
        timeout_ms: env.timeout.as_secs_f64() * 1000.0,
        token_seconds_left: None,
        proxy: proxy.map(|p| p.authority()),
        proxy_credentials: proxy.is_some_and(|p| p.credentials.is_some()),
        client_certificate: env.tls.client.as_ref().map(|c| c.subject.clone()),
    }
}

fn describe_step(step: &Step) -> String {
    match step {
        Step::Send { text } => format!("send {}", crate::text::excerpt(text, 60)),
        Step::Expect { within, matcher } => {
            let what = matcher.phrase();
            format!(
                "expect {what} within {}",
                humantime::format_duration(*within)
            )
        }
    }
}
