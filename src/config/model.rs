//! The validated, typed configuration. Everything here has already been checked: code that
//! receives a `Config` never re-validates, and never sees a raw YAML value.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

pub use super::alerting::*;
pub use super::matcher::*;
pub use super::secrets::MIN_SECRET_LEN;
use super::secrets::{collect_proxy_secrets, collect_url_secrets, is_plain_value};

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from, for messages ("probes.yaml: …").
    pub source: PathBuf,
    /// Label carried on every result and metric (e.g. the region the probe runs from).
    pub location: Option<String>,
    /// Shared, not copied, by the scheduler's per-environment loops and the probes.
    pub environments: Vec<Arc<Environment>>,
    pub alerts: AlertsConfig,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub telemetry: TelemetryConfig,
    /// Every value a `${VAR}` brought in (defaults written in the file aside): secrets, since
    /// the file does not say which variables carry credentials.
    pub variable_values: Vec<String>,
    /// (variable, value) of each `${VAR}` used: replay commands write `$VAR` for its value.
    pub variables: Vec<(String, String)>,
    /// Where each name is in `environments`, built at the first lookup: the status view and
    /// every result look environments up by name, and a search of 100,000 each time made the
    /// status of a large fleet quadratic.
    pub(crate) by_name: std::sync::OnceLock<std::collections::HashMap<String, usize>>,
}

impl Config {
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        let index = self.by_name.get_or_init(|| {
            let mut index = std::collections::HashMap::with_capacity(self.environments.len());
            for (at, env) in self.environments.iter().enumerate() {
                index.entry(env.name.as_str().to_owned()).or_insert(at);
            }
            index
        });
        // `environments` is public: the index is trusted only while it still agrees (same
        // length, the name found where it says), so that a name no longer configured (runs of
        // an environment a reload removed) costs a lookup, not a scan of the whole list.
        match index.get(name).and_then(|at| self.environments.get(*at)) {
            Some(env) if env.name.as_str() == name => return Some(env.as_ref()),
            None if index.len() == self.environments.len() => return None,
            _ => {}
        }
        self.environments
            .iter()
            .find(|env| env.name.as_str() == name)
            .map(|env| env.as_ref())
    }

    /// The variables that carry secrets: every `${VAR}` but those that cannot be a credential
    /// (see [`is_plain_value`]).
    pub fn secret_variables(&self) -> Vec<(String, String)> {
        let published = self.published();
        self.variables
            .iter()
            .filter(|(_, value)| !is_plain_value(value, &published))
            .cloned()
            .collect()
    }

    /// What wsprobe shows by design, so a `${VAR}` holding it is no secret: where it connects
    /// (the `host` and `host:port` of every probed URL), where it listens, its public address,
    /// its location and its database file.
    fn published(&self) -> std::collections::HashSet<String> {
        let mut published = self.addresses();
        published.insert(self.server.listen.to_string());
        published.insert(self.server.listen.port().to_string());
        if let Some(url) = &self.server.public_url {
            published.insert(url.as_str().to_owned());
            published.insert(url.as_str().trim_end_matches('/').to_owned());
        }
        published.extend(self.location.clone());
        published.insert(self.storage.path.display().to_string());
        published
    }

    /// The `host` and `host:port` of every probed URL: a `${VAR}` that names where to connect
    /// (`ws://${LAB}/ws`) is an address, shown in every URL anyway, not a credential.
    fn addresses(&self) -> std::collections::HashSet<String> {
        let mut addresses = std::collections::HashSet::new();
        for env in &self.environments {
            let health = env.health.as_ref().map(|h| &h.url);
            let auth_urls = env.auth.urls();
            for url in std::iter::once(&env.url).chain(health).chain(auth_urls) {
                if let Some(host) = url.host_str() {
                    addresses.insert(host.to_owned());
                    if let Some(port) = url.port() {
                        addresses.insert(format!("{host}:{port}"));
                    }
                }
            }
        }
        addresses
    }

    /// The channels an environment notifies: those its `alert.channels` (or
    /// `defaults.alert.channels`) names, in that order; every channel when neither names any.
    pub fn channels_for(&self, env: &Environment) -> Vec<&ChannelConfig> {
        match &env.alert.channels {
            Some(names) => names
                .iter()
                .filter_map(|name| self.alerts.channels.iter().find(|c| &c.name == name))
                .collect(),
            None => self.alerts.channels.iter().collect(),
        }
    }

    /// The alert policy in force for an environment: its `alert:` keys (or `defaults.alert:`),
    /// else `alerts.defaults`.
    pub fn alert_policy(&self, env: &Environment) -> AlertPolicy {
        let defaults = &self.alerts.defaults;
        let own = &env.alert;
        AlertPolicy {
            failure_threshold: own.failure_threshold.unwrap_or(defaults.failure_threshold),
            success_threshold: own.success_threshold.unwrap_or(defaults.success_threshold),
            repeat_every: own.repeat_every.unwrap_or(defaults.repeat_every),
            send_resolved: own.send_resolved.unwrap_or(defaults.send_resolved),
            alert_on_degraded: own.alert_on_degraded.unwrap_or(defaults.alert_on_degraded),
            min_locations: defaults.min_locations,
            confirm: own.confirm.unwrap_or(defaults.confirm),
            flapping: own.flapping.unwrap_or(defaults.flapping),
        }
    }

    /// Every configured secret value, sorted, once each, so that any text can be scrubbed of
    /// them.
    pub fn secret_values(&self) -> Vec<String> {
        let mut values = Vec::new();
        for env in &self.environments {
            env.auth.collect_secrets(&mut values);
            if let Some(protocol) = &env.protocol {
                protocol.collect_secrets(&mut values);
            }
            collect_url_secrets(&env.url, &mut values);
            if let Some(health) = &env.health {
                collect_url_secrets(&health.url, &mut values);
            }
            for url in env.auth.urls() {
                collect_url_secrets(url, &mut values);
            }
            collect_proxy_secrets(&env.network.proxy, &mut values);
            values.extend(
                env.cookies
                    .iter()
                    .map(|(_, value)| value.expose().to_owned()),
            );
        }
        let published = self.published();
        values.extend(
            self.variable_values
                .iter()
                .filter(|value| !is_plain_value(value, &published))
                .cloned(),
        );
        for channel in &self.alerts.channels {
            values.extend(channel.kind.secrets().iter().map(|s| s.expose().to_owned()));
        }
        if let Some(token) = &self.server.admin_token {
            values.push(token.expose().to_owned());
        }
        if let Some(heartbeat) = &self.alerts.heartbeat {
            values.push(heartbeat.url.expose().to_owned());
        }
        values.retain(|value| !value.is_empty());
        values.sort_unstable();
        values.dedup();
        values
    }
}

/// An environment name: `[a-z0-9_-]+`, unique within a config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

impl EnvName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "invalid environment name {name:?}: use 1 to 64 characters of a-z, 0-9, '-' and '_'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value that must never be printed. `Debug` and `Display` redact; `expose` is the one way in.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A cron schedule in UTC: 5 fields, or 6 with leading seconds.
#[derive(Clone)]
pub struct Schedule {
    expression: String,
    /// Shared: a parsed `Cron` holds ~5 KB of bit sets, and thousands of environments usually
    /// share a handful of schedules (the loader parses each expression once).
    cron: Arc<croner::Cron>,
}

/// Two schedules are the same when their expressions are: what a reload compares.
impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression
    }
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Self, String> {
        let fields = expression.split_whitespace().count();
        if !(fields == 5 || fields == 6 || expression.trim_start().starts_with('@')) {
            return Err(format!(
                "invalid cron schedule {expression:?}: expected 5 fields (minute hour day month weekday), or 6 with leading seconds"
            ));
        }
        super::cron_fields::check(expression)?;
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build();
        let cron = parser
            .parse(expression)
            .map_err(|err| format!("invalid cron schedule {expression:?}: {err}"))?;
        // `0 0 31 2 *` parses but never fires: an environment on it would silently never run.
        if cron.find_next_occurrence(&Utc::now(), false).is_err() {
            return Err(format!(
                "cron schedule {expression:?} never fires (no such date): an environment on it would never be probed"
            ));
        }
        Ok(Self {
            expression: expression.trim().to_owned(),
            cron: Arc::new(cron),
        })
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.expression)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: EnvName,
    /// `ws://` or `wss://`.
    pub url: Url,
    pub schedule: Schedule,
    /// Upper bound of the deterministic per-environment start offset.
    pub jitter: Duration,
    /// Hard budget for one whole probe, token and health included.
    pub timeout: Duration,
    /// Extra attempts, for dns/connect/tls failures only.
    pub retries: u32,
    pub degraded_after: Duration,
    pub cert_warn_days: u32,
    pub health: Option<HealthCheck>,
    pub auth: Auth,
    /// Header name → template (`{token}`, `{token_base64url}`), in file order: `defaults`'
    /// headers first, an environment's own replacing a same-named one (case-insensitively) in
    /// place, new ones after.
    pub headers: Vec<(String, String)>,
    /// Offered subprotocols, templates allowed.
    pub subprotocols: Vec<String>,
    pub expect_subprotocol: Option<String>,
    pub tls: TlsOptions,
    /// The first `Expect` is the ready (welcome) check. Environments that take `defaults`'
    /// steps share one list.
    pub steps: Arc<[Step]>,
    /// Answered or sent while the steps run; never a step, never a failure by itself.
    pub keepalive: Vec<Keepalive>,
    /// The preset whose handshake, keepalive and close run around the steps (`protocol:`).
    pub protocol: Option<super::protocols::Protocol>,
    pub echo: Option<EchoCheck>,
    pub version: Option<VersionSource>,
    pub alert: AlertPolicyOverride,
    pub limits: MessageLimits,
    /// `depends_on`: environments whose open incident explains this one's failures (names
    /// checked to exist, no cycles).
    pub depends_on: Vec<String>,
    /// `proxy`, `ip_family`, `resolve`.
    pub network: super::network::NetworkOptions,
    /// `origin`: the `Origin` header a browser would send on the upgrade (RFC 6454
    /// serialization); none by default, as a non-browser client sends none.
    pub origin: Option<String>,
    /// `cookies`: extra cookies on the upgrade, in file order, sent in one `Cookie` header
    /// with the session's. Values are secrets.
    pub cookies: Vec<(String, Secret)>,
    /// `synthetic_baggage`: whether the upgrade carries the W3C `baggage` member
    /// `synthetic_request=true`, which tells the target's tracing this is a probe.
    pub synthetic_baggage: bool,
    /// `slo`: the availability objective the page, the API and the metrics measure against.
    pub slo: Option<Slo>,
}

/// The longest `slo.window`: the store keeps its hourly counts 400 days.
pub const MAX_SLO_WINDOW: Duration = Duration::from_secs(400 * 24 * 3600);

/// `slo:` availability, maintenance left out, held to `objective` over the last `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// A ratio strictly between 0 and 1 (`99.9%` is 0.999).
    pub objective: f64,
    /// Whole hours, from one hour to the rollups' retention.
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    pub url: Url,
    pub expect_status: u16,
    /// `expect_body`: the answer's body must match too (`Any` never appears here).
    pub expect_body: Option<Matcher>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    Bearer {
        token: Secret,
    },
    Jwt {
        algorithm: JwtAlgorithm,
        key: JwtKey,
        /// Extra claims; `iat` and `exp` are added from `ttl` unless given here.
        claims: serde_json::Map<String, serde_json::Value>,
        ttl: Duration,
    },
    TokenEndpoint {
        url: Url,
        method: reqwest::Method,
        headers: Vec<(String, Secret)>,
        body: Option<RequestBody>,
        /// JSON pointer to the token in the response (default `/access_token`).
        token_pointer: String,
    },
    /// Log in over HTTP and carry the session cookies to the upgrade: no token.
    Session(Box<SessionAuth>),
}

/// What a token or login request sends: `body:` (JSON) or `form:`
/// (`application/x-www-form-urlencoded`, as OAuth2 and HTML login forms take it).
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    Json(serde_json::Value),
    /// Field name → value, in file order; every value is a secret.
    Form(Vec<(String, Secret)>),
}

impl RequestBody {
    fn collect_secrets(&self, into: &mut Vec<String>) {
        match self {
            RequestBody::Json(value) => collect_json_strings(value, into),
            RequestBody::Form(fields) => {
                into.extend(fields.iter().map(|(_, value)| value.expose().to_owned()));
            }
        }
    }
}

/// `auth.kind: session`.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionAuth {
    pub login: LoginRequest,
    pub csrf: Option<CsrfSource>,
}

/// `auth.login`: the request that logs in.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRequest {
    pub url: Url,
    pub method: reqwest::Method,
    pub headers: Vec<(String, Secret)>,
    pub body: Option<RequestBody>,
    /// `token_pointer`: where the login's JSON answer carries a token (many single-page apps
    /// log in for a cookie and a token that the socket takes in its URL or first message);
    /// it fills `{token}`.
    pub token_pointer: Option<String>,
}

/// `auth.csrf`: where the CSRF token comes from (a cookie set by a page), and where it goes
/// back (a form field, a header, or both), as double-submit CSRF protection expects.
#[derive(Debug, Clone, PartialEq)]
pub struct CsrfSource {
    /// The page fetched (GET) first, as a browser shows the login form first.
    pub url: Url,
    pub cookie: String,
    /// The form field the token is sent back in (Django: `csrfmiddlewaretoken`).
    pub field: Option<String>,
    /// The header the token is sent back in (Django: `X-CSRFToken`; Angular and Laravel:
    /// `X-XSRF-TOKEN`).
    pub header: Option<String>,
}

impl Auth {
    fn collect_secrets(&self, into: &mut Vec<String>) {
        match self {
            Auth::None => {}
            Auth::Bearer { token } => into.push(token.expose().to_owned()),
            Auth::Jwt { key, .. } => {
                if let JwtKey::Secret(secret) = key {
                    into.push(secret.expose().to_owned());
                }
            }
            Auth::TokenEndpoint { headers, body, .. } => {
                into.extend(headers.iter().map(|(_, value)| value.expose().to_owned()));
                if let Some(body) = body {
                    body.collect_secrets(into);
                }
            }
            Auth::Session(session) => {
                let login = &session.login;
                into.extend(
                    login
                        .headers
                        .iter()
                        .map(|(_, value)| value.expose().to_owned()),
                );
                if let Some(body) = &login.body {
                    body.collect_secrets(into);
                }
            }
        }
    }

    /// The HTTP URLs this auth requests (token endpoint, login, CSRF page).
    pub fn urls(&self) -> Vec<&Url> {
        match self {
            Auth::TokenEndpoint { url, .. } => vec![url],
            Auth::Session(session) => std::iter::once(&session.login.url)
                .chain(session.csrf.as_ref().map(|csrf| &csrf.url))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the probe holds a token to fill `{token}` with.
    pub fn has_token(&self) -> bool {
        !matches!(self, Auth::None | Auth::Session(_))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Bearer { .. } => "bearer",
            Auth::Jwt { .. } => "jwt",
            Auth::TokenEndpoint { .. } => "token_endpoint",
            Auth::Session(_) => "session",
        }
    }
}

/// Token endpoint bodies carry keys (`{"key": "..."}`): every string in them counts as secret.
fn collect_json_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.len() >= 4 => into.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_json_strings(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_json_strings(v, into)),
        _ => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    ES256,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JwtKey {
    /// HMAC secret (HS*).
    Secret(Secret),
    /// PEM private key read from `key:` at load time (RS256, ES256).
    Pem { path: PathBuf, pem: Secret },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
    /// `client_cert` and `client_key`: the certificate wsprobe presents when a server asks
    /// for one (mutual TLS).
    pub client: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, read and matched at load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The chain as PEM, leaf first.
    pub cert_pem: String,
    /// The private key as PEM: a secret, never shown.
    pub key_pem: Secret,
    /// The leaf certificate's subject (`CN=probe`), for sentences.
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EchoCheck {
    /// JSON pointer to an object of header name → value, searched in every received message.
    pub pointer: String,
    /// Lowercase header names the backend must report as received.
    pub require: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VersionSource {
    /// A header of the 101 response (lowercase).
    Header(String),
    /// A JSON pointer into the welcome message.
    Pointer(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MessageLimits {
    pub max_message_bytes: usize,
    pub max_messages: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_messages: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: Option<Url>,
    pub admin_token: Option<Secret>,
    /// `server.trace_url`: a link to a run's trace, `{trace_id}` standing for its id.
    pub trace_url: Option<TraceUrl>,
    /// `server.public`: the read-only page for people outside on-call.
    pub public: Option<PublicPage>,
}

/// `server.public`: a second, read-only status page for people outside on-call (customers,
/// other teams): status, uptime, incidents and their notes, and nothing a probed server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicPage {
    pub at: PublicAt,
    /// The page's heading and title: `Status` unless set.
    pub title: String,
    /// The environments it shows, in config order; empty: every one.
    pub environments: Vec<EnvName>,
}

impl PublicPage {
    pub const DEFAULT_TITLE: &str = "Status";

    /// Whether the public page shows environment `name`.
    pub fn shows(&self, name: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|env| env.as_str() == name)
    }
}

/// Where the public page is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicAt {
    /// Its own listener: nothing else is served there (no admin API, no evidence).
    Listen(SocketAddr),
    /// A path prefix on `server.listen` (`/public`, no trailing slash), for a reverse proxy
    /// to expose alone.
    Path(String),
}

/// A URL template with `{trace_id}` in it (Grafana Explore, Jaeger, Tempo, Honeycomb…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceUrl(String);

impl TraceUrl {
    pub const PLACEHOLDER: &str = "{trace_id}";

    /// `None` unless `template` has the placeholder and fills into an http(s) URL.
    pub fn parse(template: &str) -> Option<TraceUrl> {
        let template = template.trim();
        if !template.contains(Self::PLACEHOLDER) {
            return None;
        }
        let sample = template.replace(Self::PLACEHOLDER, "0af7651916cd43dd8448eb211c80319c");
        let url = Url::parse(&sample).ok()?;
        (matches!(url.scheme(), "http" | "https") && url.has_host())
            .then(|| TraceUrl(template.to_owned()))
    }

    /// The link for one trace; the id is 32 hex digits, so it needs no escaping.
    pub fn link(&self, trace_id: &str) -> String {
        self.0.replace(Self::PLACEHOLDER, trace_id)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            admin_token: None,
            trace_url: None,
            public: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub path: PathBuf,
    /// A shared PostgreSQL store (`postgres://…`) instead of the SQLite file at `path`: a
    /// secret, since it may carry a password.
    pub url: Option<Secret>,
    pub retention: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("wsprobe.db"),
            url: None,
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `None` leaves OTLP to the `OTEL_*` variables.
    pub otlp: Option<OtlpConfig>,
    /// `GET /metrics` in the Prometheus text format.
    pub prometheus: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp: None,
            prometheus: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OtlpConfig {
    pub endpoint: Url,
    pub protocol: OtlpProtocol,
    pub interval: Duration,
    /// Sent with every export (e.g. an API key): values are secret.
    pub headers: BTreeMap<String, Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    Grpc,
}
