//! The probe as a chain: token → login → health → transport (resolve → connect → tls, retried) →
//! upgrade → session → close. Each phase records what it saw in `Facts` as it goes and returns
//! what the next one needs, or the `Halt` that ends the probe; `gather` joins them with `?`,
//! so a new phase is one more function and one more line there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::close_tap::{CloseTap, CloseWitness};
use super::connect::{self, Endpoint, NetFailure, Stream};
use super::facts::{Facts, Halt};
use super::handshake::{self, ReadError, Response};
use super::proxy::ProxyFailure;
use super::session::{self, SessionOutcome};
use super::template::Templates;
use super::timing::elapsed_ms;
use super::verdict::Stop;
use super::{Prober, auth, cookies, health, login, presets, trace};
use crate::config::{Auth, Environment, Step, VersionSource};

/// Socket read buffer: a welcome and a pong fit many times over; larger messages still work.
const PROBE_READ_BUFFER: usize = 8 * 1024;
/// Backoff between attempts after a dns/connect/tls failure (times the attempt number).
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// A refused upgrade's body is read for at most this long: it is evidence, not the probe.
const REJECTED_BODY_WAIT: Duration = Duration::from_secs(2);

/// Runs the phases in order; `Ok` when all passed.
pub(super) async fn gather(
    prober: &Prober,
    env: &Environment,
    deadline: Instant,
    facts: &mut Facts,
) -> Result<(), Halt> {
    let clients = prober.clients(env).map_err(Halt::own_fault)?;
    let endpoint = Endpoint::from_url(&env.url).map_err(Halt::own_fault)?;
    let mut templates = token(env, &clients.http, &prober.tokens, deadline, facts).await?;
    let logged_in = log_in(env, &clients.tls, deadline, facts).await?;
    if let Some(token) = &logged_in.token {
        templates = Templates::new(Some(token));
        facts.redactor.add(token.clone());
        facts.redactor.add(templates.token_base64url.clone());
    }
    let session_cookies = logged_in.cookies;
    health_check(env, &clients.http, deadline, facts).await?;
    let tls = endpoint.secure.then(|| clients.tls.clone());
    let stream = transport(env, &endpoint, tls, deadline, facts).await?;
    let credentials = Credentials {
        templates: &templates,
        session_cookies: &session_cookies,
    };
    let accepted = upgrade(env, stream, &credentials, deadline, facts).await?;
    let outcome = run_session(env, accepted, &templates, deadline, facts).await;
    close(env, outcome, facts)
}

/// token: the configured credential (fetched, signed or as given), kept secret from here on.
async fn token(
    env: &Environment,
    http: &reqwest::Client,
    cache: &auth::TokenCache,
    deadline: Instant,
    facts: &mut Facts,
) -> Result<Templates, Halt> {
    let started = Instant::now();
    let obtained = auth::obtain(
        &env.auth,
        env.name.as_str(),
        http,
        cache,
        remaining(deadline),
        &facts.trace.traceparent(facts.trace.token),
    )
    .await;
    if env.auth.has_token() {
        facts.phases.token = Some(elapsed_ms(started));
        facts.starts.token = Some(facts.offset(started));
    }
    let token = obtained.map_err(|failure| credential_halt(failure, facts))?;
    let templates = Templates::new(token.as_deref());
    if let Some(token) = token {
        facts.redactor.add(token);
        facts.redactor.add(templates.token_base64url.clone());
    }
    Ok(templates)
}

/// A credential that could not be had: the answer's status and body are the evidence.
fn credential_halt(failure: auth::TokenFailure, facts: &mut Facts) -> Halt {
    facts.http_status = failure.http_status;
    facts.body_excerpt = failure.body_excerpt;
    let stop = if failure.own_fault {
        Stop::ProbeError
    } else {
        Stop::Token
    };
    Halt::new(stop, failure.message)
}

/// login: for `auth.kind: session`, log in over HTTP and keep the cookies that apply to the
/// WebSocket URL (none for the other kinds). Every cookie value seen is a secret from here on.
async fn log_in(
    env: &Environment,
    tls: &rustls::ClientConfig,
    deadline: Instant,
    facts: &mut Facts,
) -> Result<login::LoggedIn, Halt> {
    let Auth::Session(session) = &env.auth else {
        return Ok(login::LoggedIn {
            cookies: Vec::new(),
            token: None,
        });
    };
    let started = Instant::now();
    facts.starts.login = Some(facts.offset(started));
    let outcome = login::log_in(session, &env.url, tls, remaining(deadline)).await;
    facts.phases.login = Some(elapsed_ms(started));
    for value in outcome.seen {
        facts.redactor.add(value);
    }
    outcome
        .outcome
        .map_err(|failure| credential_halt(failure, facts))
}

/// health: the optional HTTP check. Its failure is evidence, not a stop: the socket is still
/// probed, and the verdict weighs both.
async fn health_check(
    env: &Environment,
    http: &reqwest::Client,
    deadline: Instant,
    facts: &mut Facts,
) -> Result<(), Halt> {
    let Some(check) = &env.health else {
        return Ok(());
    };
    // Half the budget at most: a hanging health URL must not starve the socket probe.
    let budget = remaining(deadline) / 2;
    let started = Instant::now();
    let traceparent = facts.trace.traceparent(facts.trace.health);
    let checked = health::check(http, check, budget, &traceparent).await;
    facts.phases.health = Some(elapsed_ms(started));
    facts.starts.health = Some(facts.offset(started));
    let info =
        checked.map_err(|own_fault| Halt::own_fault(format!("health check: {own_fault}")))?;
    facts.health = Some(info);
    Ok(())
}

/// resolve → connect → proxy → tls (`connect::open`), the whole chain again after a failure
/// the target may recover from, while `retries` and the deadline allow. Only the last
/// attempt's network phases and addresses are kept.
async fn transport(
    env: &Environment,
    endpoint: &Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    deadline: Instant,
    facts: &mut Facts,
) -> Result<Stream, Halt> {
    let route = connect::Route {
        network: &env.network,
        proxy: env.network.proxy_for(&env.url).map(|proxy| proxy.as_ref()),
    };
    facts.secure = endpoint.secure;
    facts.resolves = route.resolves(endpoint);
    facts.proxied = route.proxy.is_some();
    loop {
        facts.attempts += 1;
        facts.phases.dns = None;
        facts.phases.connect = None;
        facts.phases.proxy = None;
        facts.phases.tls = None;
        facts.transport = connect::Observed::default();
        facts.net_started = Some(Instant::now());
        let opened = connect::open(
            endpoint,
            &route,
            tls.clone(),
            deadline,
            &mut facts.phases,
            &mut facts.transport,
        )
        .await;
        let failure = match opened {
            Ok((stream, tls_info)) => {
                facts.tls = tls_info;
                return Ok(stream);
            }
            Err(failure) => failure,
        };
        let backoff = RETRY_BACKOFF * facts.attempts;
        // A proxy's refusal is its policy, not a blip: asking again gets the same answer.
        let retryable = !matches!(failure, NetFailure::Local(_) | NetFailure::Proxy(..));
        if retryable && facts.attempts <= env.retries && remaining(deadline) > backoff {
            tracing::debug!(attempt = facts.attempts, error = %failure.message(), "retrying");
            tokio::time::sleep(backoff).await;
            continue;
        }
        return Err(net_halt(failure, facts));
    }
}

fn net_halt(failure: NetFailure, facts: &mut Facts) -> Halt {
    let message = failure.message();
    let stop = match failure {
        NetFailure::Dns(_) => Stop::Dns,
        NetFailure::Refused(_) => Stop::ConnectRefused,
        NetFailure::ConnectTimeout(_) => Stop::ConnectTimeout,
        NetFailure::Tls(_) => Stop::Tls,
        NetFailure::Local(_) => Stop::ProbeError,
        NetFailure::Proxy(failure, _) => proxy_stop(failure, facts),
    };
    Halt::new(stop, message)
}

/// What the proxy's answer means for the target, from the proxy's own words: a gateway
/// timeout is a connect that timed out, Squid's `ERR_DNS_FAIL` a name that did not resolve;
/// any other refusal (407, 403, 502…) kept the connection from being made. The answer itself
/// is the evidence the diagnosis reads.
fn proxy_stop(failure: ProxyFailure, facts: &mut Facts) -> Stop {
    match failure {
        ProxyFailure::Silent => Stop::ConnectTimeout,
        ProxyFailure::Broken(_) => Stop::Protocol,
        ProxyFailure::Refused {
            status,
            headers,
            body,
        } => {
            let squid_error = headers
                .iter()
                .find(|(name, _)| name == "x-squid-error")
                .map(|(_, value)| value.to_ascii_uppercase());
            facts.http_status = Some(status);
            facts.response_headers = headers;
            facts.body_excerpt = Some(crate::text::excerpt(&String::from_utf8_lossy(&body), 300));
            match (status, squid_error.as_deref()) {
                (_, Some(error)) if error.starts_with("ERR_DNS_FAIL") => Stop::Dns,
                (504 | 408, _) => Stop::ConnectTimeout,
                _ => Stop::ConnectRefused,
            }
        }
    }
}

/// An upgraded socket and the moment its 101 was read: the zero of `ready` and of close timing.
struct Accepted {
    socket: WebSocketStream<CloseTap<Stream>>,
    at: Instant,
    close_witness: CloseWitness,
}

/// What the upgrade request authenticates with: the token's templates and the session's
/// cookies.
struct Credentials<'a> {
    templates: &'a Templates,
    session_cookies: &'a [(String, String)],
}

/// upgrade: the HTTP/1.1 request with the configured headers and subprotocols, its answer
/// checked per RFC 6455.
async fn upgrade(
    env: &Environment,
    mut stream: Stream,
    credentials: &Credentials<'_>,
    deadline: Instant,
    facts: &mut Facts,
) -> Result<Accepted, Halt> {
    let (headers, subprotocols) = offer(env, credentials, facts);
    let url = credentials.templates.fill_url(&env.url);
    if url != env.url
        && let Some(query) = url.query()
    {
        // The filled query carries the token, perhaps percent-encoded: a secret as a whole.
        facts.redactor.add(query.to_owned());
    }
    let key = generate_key();
    let url = presets::upgrade_url(env, &url);
    let request = handshake::build_request(&url, &key, &subprotocols, &headers);
    facts.sent = request.headers.clone();
    let started = Instant::now();
    facts.starts.upgrade = Some(facts.offset(started));
    let response = match handshake::send_request(&mut stream, &request, deadline).await {
        Ok(()) => handshake::read_response(&mut stream, deadline).await,
        Err(err) => Err(err),
    };
    facts.phases.upgrade = Some(elapsed_ms(started));
    let mut response = response.map_err(|err| unanswered(err, facts))?;
    record_response(env, &response, facts);
    if response.status != 101 {
        return Err(rejected(stream, response, deadline, facts).await);
    }
    facts.subprotocol = handshake::validate_accept(&response, &key, &subprotocols)
        .map_err(|problem| Halt::new(Stop::Protocol, problem))?;
    if let Some(expected) = &env.expect_subprotocol {
        facts.subprotocol_mismatch = facts.subprotocol.as_deref() != Some(expected.as_str());
    }
    let at = Instant::now();
    let (socket, close_witness) = websocket(env, stream, std::mem::take(&mut response.rest)).await;
    Ok(Accepted {
        socket,
        at,
        close_witness,
    })
}

/// The headers and subprotocols the upgrade request offers, templates filled in: the
/// configured headers, then what a browser adds (`Origin`, `Cookie`), then the probe's own
/// trace context and synthetic-request baggage.
fn offer(
    env: &Environment,
    credentials: &Credentials<'_>,
    facts: &Facts,
) -> (Vec<(String, String)>, Vec<String>) {
    let templates = credentials.templates;
    let mut headers: Vec<(String, String)> = env
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), templates.fill(value)))
        .collect();
    if let Some(origin) = &env.origin {
        headers.push(("Origin".to_owned(), origin.clone()));
    }
    if let Some(cookie) = cookies::header(credentials.session_cookies, &env.cookies) {
        headers.push(("Cookie".to_owned(), cookie));
    }
    // Config validation keeps `traceparent` out of `headers`: this one names the probe's trace.
    headers.push((
        trace::TRACEPARENT.to_owned(),
        facts.trace.traceparent(facts.trace.upgrade),
    ));
    if env.synthetic_baggage {
        trace::add_synthetic_baggage(&mut headers);
    }
    let subprotocols = env.subprotocols.iter().map(|s| templates.fill(s)).collect();
    (headers, subprotocols)
}

/// A refusal's body usually says why ("Invalid token"): a bounded excerpt of it is kept.
async fn rejected(
    mut stream: Stream,
    mut response: Response,
    deadline: Instant,
    facts: &mut Facts,
) -> Halt {
    let body_deadline = (Instant::now() + REJECTED_BODY_WAIT).min(deadline);
    handshake::read_rejected_body(&mut stream, &mut response, body_deadline).await;
    let body = super::body::decoded(&response.rest, &response.headers);
    facts.body_excerpt = Some(crate::text::excerpt(&String::from_utf8_lossy(&body), 300));
    Halt::bare(Stop::UpgradeRejected)
}

/// No usable answer to the upgrade request: a timeout is the server hanging, anything else a
/// broken exchange.
fn unanswered(err: ReadError, facts: &mut Facts) -> Halt {
    match err {
        ReadError::Timeout => {
            facts.phases.upgrade = None;
            Halt::new(Stop::UpgradeTimeout, "no answer to the upgrade request")
        }
        // TLS 1.3 sends `certificate_required` after its handshake: it ends the upgrade's
        // read, and it is a TLS failure, not a WebSocket one.
        ReadError::Closed(detail) | ReadError::Malformed(detail)
            if super::diagnosis::registry::tls_alert_in(&detail).is_some() =>
        {
            Halt::new(Stop::Tls, detail)
        }
        ReadError::Closed(detail) | ReadError::Malformed(detail) => {
            Halt::new(Stop::Protocol, detail)
        }
    }
}

fn record_response(env: &Environment, response: &Response, facts: &mut Facts) {
    facts.http_status = Some(response.status);
    facts.response_headers = response.headers.clone();
    if let Some(VersionSource::Header(name)) = &env.version {
        facts.version = response.header(name).map(str::to_owned);
    }
}

/// The socket after the 101, starting with whatever the server sent behind it.
async fn websocket(
    env: &Environment,
    stream: Stream,
    already_read: Vec<u8>,
) -> (WebSocketStream<CloseTap<Stream>>, CloseWitness) {
    // Probe traffic is a few small messages: tungstenite's 128 KiB buffers per socket would
    // dominate memory with hundreds of probes in flight.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(PROBE_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(env.limits.max_message_bytes + PROBE_READ_BUFFER)
        .max_message_size(Some(env.limits.max_message_bytes))
        .max_frame_size(Some(env.limits.max_message_bytes));
    let (stream, witness) = CloseTap::new(stream, &already_read);
    let socket =
        WebSocketStream::from_partially_read(stream, already_read, Role::Client, Some(ws_config))
            .await;
    (socket, witness)
}

/// session: the configured steps (ready, exchange) and the client's close handshake, over the
/// socket; every timing it reports is recorded here.
async fn run_session(
    env: &Environment,
    accepted: Accepted,
    templates: &Templates,
    deadline: Instant,
    facts: &mut Facts,
) -> SessionOutcome {
    let accepted_ms = facts.offset(accepted.at);
    let dialect = env
        .protocol
        .as_ref()
        .map(|protocol| presets::dialect(protocol, &presets::Fill::probe(templates)));
    if dialect.is_some() || env.steps.iter().any(|s| matches!(s, Step::Expect { .. })) {
        facts.starts.ready = Some(accepted_ms);
    }
    let mut keepalive = super::keepalive::from_config(&env.keepalive, &|text| templates.fill(text));
    keepalive.extend(dialect.iter().flat_map(|d| d.keepalive.iter().cloned()));
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
            Some(VersionSource::Pointer(p)) => Some(p.as_str()),
            _ => None,
        },
        limits: env.limits,
        accepted_at: accepted.at,
        deadline,
        close_witness: Some(accepted.close_witness),
        keepalive,
        refusal: dialect.as_ref().map(|d| d.refusal),
        closing: dialect
            .as_ref()
            .map(|d| d.closing.clone())
            .unwrap_or_default(),
        opening: dialect.map(|d| d.opening).unwrap_or_default(),
    };
    let outcome = session::run(accepted.socket, &plan).await;
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
    outcome
}

/// close: what the session's end says: the echo's missing headers, the version it reported,
/// and the stop if the conversation did not go as configured.
fn close(env: &Environment, outcome: SessionOutcome, facts: &mut Facts) -> Result<(), Halt> {
    if facts.version.is_none() {
        facts.version = outcome.version.clone();
    }
    if let (Some(echo), Some(echoed)) = (&env.echo, &outcome.echoed) {
        facts.missing = session::missing_headers(echoed, &echo.require, &facts.sent);
    }
    let halt = session_halt(&outcome);
    facts.session = Some(outcome);
    halt.map_or(Ok(()), Err)
}

fn session_halt(outcome: &SessionOutcome) -> Option<Halt> {
    if let Some(problem) = &outcome.protocol_error {
        return Some(Halt::new(Stop::Protocol, problem.clone()));
    }
    match (&outcome.ready, &outcome.failed_step) {
        (session::Ready::Closed, _) => Some(Halt::bare(Stop::ClosedBeforeReady)),
        (session::Ready::TimedOut { .. }, _) => Some(Halt::bare(Stop::ReadyTimeout)),
        (session::Ready::Mismatch { .. }, _) => Some(Halt::bare(Stop::ReadyMismatch)),
        (_, Some((_, failure))) => {
            let mut text = step_failure_text(failure);
            if outcome.close_ms.is_some() && !outcome.close_answered {
                text.push_str("; the close handshake went unanswered");
            }
            Some(Halt::new(Stop::StepFailed, text))
        }
        _ => None,
    }
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

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
