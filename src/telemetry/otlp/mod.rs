//! Where and how metrics and traces are exported: the `telemetry.otlp` block and the standard
//! `OTEL_*` variables resolved into one [`OtlpSettings`] per [`Signal`]. Pure: the environment
//! comes in as a lookup function, so every rule is table-tested without touching the process
//! environment. `<SIGNAL>` below is `METRICS` or `TRACES`.
//!
//! Precedence, key by key:
//! - `OTEL_SDK_DISABLED=true` turns export off, whatever else is set; `OTEL_<SIGNAL>_EXPORTER=none`
//!   turns one signal off (`otlp` is the only other value understood).
//! - `telemetry.otlp` in probes.yaml, when present, gives endpoint, protocol and interval
//!   (its own defaults for the keys it leaves out: http/protobuf, 30s); its endpoint is the
//!   collector's base, each signal's path appended. Without it,
//!   `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` (used as is), else `OTEL_EXPORTER_OTLP_ENDPOINT`
//!   (`/v1/metrics` or `/v1/traces` appended for HTTP), `OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL`
//!   and `OTEL_METRIC_EXPORT_INTERVAL` (ms) apply. With neither an endpoint, export is off.
//! - Headers: the block's, then `OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS` (else `_HEADERS`) on top,
//!   a variable winning over the block for the same name (what the OTLP exporter does too).
//! - Timeout and compression have no key in the block: `OTEL_EXPORTER_OTLP_[<SIGNAL>_]TIMEOUT`
//!   (ms, default 10 s) and `OTEL_EXPORTER_OTLP_[<SIGNAL>_]COMPRESSION` (`gzip` | `none`).
//! - Resource: `service.name` from `OTEL_SERVICE_NAME`, else `service.name` in
//!   `OTEL_RESOURCE_ATTRIBUTES`, else `wsprobe`; the other `OTEL_RESOURCE_ATTRIBUTES` are kept;
//!   `service.version` and `service.instance.id` are wsprobe's own (added by the caller).
//!
//! A variable with a value that cannot be used is ignored with a warning, as the OpenTelemetry
//! specification asks: a typo in a deployment's telemetry settings must not stop the probes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use url::Url;

use crate::config::{OtlpConfig, OtlpProtocol};

/// `telemetry.otlp.interval`'s default, also used when only variables configure export.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The OTLP exporter's per-export budget unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_SERVICE_NAME: &str = "wsprobe";

/// What is exported: each signal has its own path and its own `OTEL_EXPORTER_OTLP_<SIGNAL>_*`
/// variables over the shared ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Metrics,
    Traces,
}

impl Signal {
    /// The path OTLP/HTTP collectors take this signal on.
    fn http_path(self) -> &'static str {
        match self {
            Signal::Metrics => "v1/metrics",
            Signal::Traces => "v1/traces",
        }
    }

    fn infix(self) -> &'static str {
        match self {
            Signal::Metrics => "METRICS",
            Signal::Traces => "TRACES",
        }
    }

    /// `OTEL_METRICS_EXPORTER` / `OTEL_TRACES_EXPORTER`.
    fn exporter_var(self) -> String {
        format!("OTEL_{}_EXPORTER", self.infix())
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// Everything the exporter needs; only built when export is on.
#[derive(Clone, PartialEq)]
pub struct OtlpSettings {
    /// For HTTP the full URL the signal is POSTed to (`…/v1/metrics`, `…/v1/traces`); for gRPC
    /// the collector's address (the path comes from the service definition).
    pub endpoint: Url,
    pub protocol: OtlpProtocol,
    pub interval: Duration,
    pub timeout: Duration,
    pub compression: Compression,
    /// Sent with every export; values are secrets (API keys) and never printed.
    pub headers: BTreeMap<String, String>,
    /// `service.name` first, then `OTEL_RESOURCE_ATTRIBUTES` in the order written.
    pub resource: Vec<(String, String)>,
}

impl fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSettings")
            .field("endpoint", &crate::config::redact_url(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("resource", &self.resource)
            .finish()
    }
}

/// Why nothing is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    /// `OTEL_SDK_DISABLED=true`.
    Disabled,
    /// `OTEL_METRICS_EXPORTER=none` or `OTEL_TRACES_EXPORTER=none`.
    ExporterNone(Signal),
    /// No `telemetry.otlp` block and no `OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT`.
    NoEndpoint,
}

impl fmt::Display for Off {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Off::Disabled => "OTEL_SDK_DISABLED=true",
            Off::ExporterNone(Signal::Metrics) => "OTEL_METRICS_EXPORTER=none",
            Off::ExporterNone(Signal::Traces) => "OTEL_TRACES_EXPORTER=none",
            Off::NoEndpoint => {
                "no telemetry.otlp in the config and no OTEL_EXPORTER_OTLP_ENDPOINT or \
                 OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT"
            }
        })
    }
}

/// The outcome of [`OtlpSettings::resolve`]: the settings or why export is off, and the
/// variables that were ignored (each a sentence naming the variable).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub export: Result<OtlpSettings, Off>,
    /// The resource attributes (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), resolved
    /// even when export is off: `GET /metrics` reports them as `target_info`.
    pub resource: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

/// Read only to say that it is not honoured.
const TEMPORALITY_VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl OtlpSettings {
    /// The metrics export's settings.
    pub fn resolve(config: Option<&OtlpConfig>, env: Lookup<'_>) -> Resolved {
        Self::resolve_signal(Signal::Metrics, config, env)
    }

    pub fn resolve_signal(
        signal: Signal,
        config: Option<&OtlpConfig>,
        env: Lookup<'_>,
    ) -> Resolved {
        let mut warnings = Vec::new();
        let export = resolve(signal, config, env, &mut warnings);
        let resource = match &export {
            Ok(settings) => settings.resource.clone(),
            Err(_) => resource(&|name| nonempty(env, name), &mut warnings),
        };
        Resolved {
            export,
            resource,
            warnings,
        }
    }

    pub fn protocol_name(&self) -> &'static str {
        match self.protocol {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::Grpc => "grpc",
        }
    }
}

fn resolve(
    signal: Signal,
    config: Option<&OtlpConfig>,
    env: Lookup<'_>,
    warnings: &mut Vec<String>,
) -> Result<OtlpSettings, Off> {
    let var = |name: &str| nonempty(env, name);
    exporter_enabled(signal, &var, warnings)?;
    let Destination {
        endpoint,
        protocol,
        interval,
        mut headers,
    } = match config {
        Some(otlp) => Destination::from_config(otlp, signal),
        None => Destination::from_env(signal, &var, warnings)?,
    };
    add_env_headers(&mut headers, signal, &var, warnings);
    let timeout = [
        format!("OTEL_EXPORTER_OTLP_{}_TIMEOUT", signal.infix()),
        "OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(),
    ]
    .into_iter()
    .find_map(|name| millis(&var, &name, warnings))
    .unwrap_or(DEFAULT_TIMEOUT);
    let compression = compression(signal, &var, warnings);
    Ok(OtlpSettings {
        endpoint,
        protocol,
        interval,
        timeout,
        compression,
        headers,
        resource: resource(&var, warnings),
    })
}

/// `OTEL_SDK_DISABLED` and `OTEL_<SIGNAL>_EXPORTER` can turn the export off; a temporality
/// other than cumulative is warned about, not followed.
fn exporter_enabled(
    signal: Signal,
    var: Lookup<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), Off> {
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(Off::Disabled);
    }
    let exporter_var = signal.exporter_var();
    match var(&exporter_var)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("otlp") => {}
        Some("none") => return Err(Off::ExporterNone(signal)),
        Some(other) => warnings.push(format!(
            "{exporter_var}={other:?} is not supported (otlp or none): using otlp"
        )),
    }
    if signal == Signal::Metrics
        && let Some(preference) = var(TEMPORALITY_VAR)
        && !preference.eq_ignore_ascii_case("cumulative")
    {
        // The counters are observable running totals, and the same instruments serve
        // GET /metrics, which must be cumulative: one temporality for both.
        warnings.push(format!(
            "{TEMPORALITY_VAR}={preference:?} is not supported: wsprobe exports cumulative \
             temporality (convert with the collector's cumulativetodelta processor if your \
             backend needs delta)"
        ));
    }
    Ok(())
}

/// Where and how to export: from probes.yaml when it has `telemetry.otlp`, else from the
/// `OTEL_EXPORTER_OTLP_*` variables.
struct Destination {
    endpoint: Url,
    protocol: OtlpProtocol,
    interval: Duration,
    headers: BTreeMap<String, String>,
}

impl Destination {
    fn from_config(otlp: &OtlpConfig, signal: Signal) -> Self {
        let endpoint = match otlp.protocol {
            OtlpProtocol::HttpProtobuf => with_signal_path(&otlp.endpoint, signal),
            OtlpProtocol::Grpc => otlp.endpoint.clone(),
        };
        let headers = otlp
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.expose().to_owned()))
            .collect();
        Self {
            endpoint,
            protocol: otlp.protocol,
            interval: otlp.interval,
            headers,
        }
    }

    fn from_env(signal: Signal, var: Lookup<'_>, warnings: &mut Vec<String>) -> Result<Self, Off> {
        let protocol = signal_var(var, signal, "PROTOCOL")
            .and_then(|(name, value)| match value.as_str() {
                "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
                "grpc" => Some(OtlpProtocol::Grpc),
                other => {
                    warnings.push(format!(
                        "{name}={other:?} is not supported (http/protobuf or grpc): using \
                         http/protobuf"
                    ));
                    None
                }
            })
            .unwrap_or(OtlpProtocol::HttpProtobuf);
        let endpoint = env_endpoint(var, signal, protocol, warnings).ok_or(Off::NoEndpoint)?;
        let interval =
            millis(var, "OTEL_METRIC_EXPORT_INTERVAL", warnings).unwrap_or(DEFAULT_INTERVAL);
        Ok(Self {
            endpoint,
            protocol,
            interval,
            headers: BTreeMap::new(),
        })
    }
}

/// The `HEADERS` variable's pairs over the configured ones; then every header that HTTP would
/// refuse is dropped with a warning.
fn add_env_headers(
    headers: &mut BTreeMap<String, String>,
    signal: Signal,
    var: Lookup<'_>,
    warnings: &mut Vec<String>,
) {
    if let Some((name, value)) = signal_var(var, signal, "HEADERS") {
        match parse_pairs(&value) {
            Ok(pairs) => headers.extend(
                pairs
                    .into_iter()
                    .map(|(key, value)| (key.to_ascii_lowercase(), value)),
            ),
            // The value may hold an API key: name the variable, never echo it.
            Err(_) => warnings.push(format!("{name} is not a list of name=value pairs: ignored")),
        }
    }
    headers.retain(|name, value| {
        let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && reqwest::header::HeaderValue::from_str(value).is_ok();
        if !valid {
            warnings.push(format!(
                "OTLP header {name:?} is not a valid HTTP header: ignored"
            ));
        }
        valid
    });
}

fn compression(signal: Signal, var: Lookup<'_>, warnings: &mut Vec<String>) -> Compression {
    signal_var(var, signal, "COMPRESSION")
        .and_then(|(name, value)| match value.to_ascii_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            other => {
                warnings.push(format!(
                    "{name}={other:?} is not supported (gzip or none): no compression"
                ));
                None
            }
        })
        .unwrap_or(Compression::None)
}

/// Empty means unset, as everywhere in the OpenTelemetry environment specification.
fn nonempty(env: Lookup<'_>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `OTEL_EXPORTER_OTLP_<SIGNAL>_<KEY>`, else `OTEL_EXPORTER_OTLP_<KEY>`, with the name it came
/// from.
fn signal_var(
    var: &dyn Fn(&str) -> Option<String>,
    signal: Signal,
    key: &str,
) -> Option<(String, String)> {
    [
        format!("OTEL_EXPORTER_OTLP_{}_{key}", signal.infix()),
        format!("OTEL_EXPORTER_OTLP_{key}"),
    ]
    .into_iter()
    .find_map(|name| var(&name).map(|value| (name, value)))
}

fn env_endpoint(
    var: &dyn Fn(&str) -> Option<String>,
    signal: Signal,
    protocol: OtlpProtocol,
    warnings: &mut Vec<String>,
) -> Option<Url> {
    let parse = |name: &str, warnings: &mut Vec<String>| -> Option<Url> {
        let value = var(name)?;
        match Url::parse(&value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            _ => {
                warnings.push(format!("{name} is not an http:// or https:// URL: ignored"));
                None
            }
        }
    };
    // The signal-specific variable is the full URL; the generic one is a base for HTTP.
    let signal_endpoint = format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.infix());
    if let Some(url) = parse(&signal_endpoint, warnings) {
        return Some(url);
    }
    let base = parse("OTEL_EXPORTER_OTLP_ENDPOINT", warnings)?;
    Some(match protocol {
        OtlpProtocol::HttpProtobuf => append_signal_path(&base, signal),
        OtlpProtocol::Grpc => base,
    })
}

/// The block's endpoint is a collector's base address (`http://localhost:4318`); one that
/// already names a signal's path (`/v1/metrics`, `/v1/traces`) has it replaced by this
/// signal's, so one block serves both.
fn with_signal_path(url: &Url, signal: Signal) -> Url {
    let path = url.path().trim_end_matches('/');
    match [Signal::Metrics, Signal::Traces]
        .into_iter()
        .find_map(|s| path.strip_suffix(&format!("/{}", s.http_path())))
    {
        Some(base) => {
            let mut url = url.clone();
            url.set_path(&format!("{base}/{}", signal.http_path()));
            url
        }
        None => append_signal_path(url, signal),
    }
}

fn append_signal_path(base: &Url, signal: Signal) -> Url {
    let mut url = base.clone();
    let path = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        signal.http_path()
    );
    url.set_path(&path);
    url
}

fn millis(
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
    warnings: &mut Vec<String>,
) -> Option<Duration> {
    let value = var(name)?;
    match value.parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => {
            warnings.push(format!(
                "{name}={value:?} is not a positive number of milliseconds: ignored"
            ));
            None
        }
    }
}

/// The resource attribute `location` (where this instance probes from), unless
/// `OTEL_RESOURCE_ATTRIBUTES` already set one: every series and span of a fleet then says which
/// location sent it, whatever the backend does with data-point attributes.
pub fn add_location(resource: &mut Vec<(String, String)>, location: Option<&str>) {
    if let Some(location) = location
        && !resource.iter().any(|(key, _)| key == "location")
    {
        resource.push(("location".to_owned(), location.to_owned()));
    }
}

fn resource(
    var: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut attributes = match var("OTEL_RESOURCE_ATTRIBUTES") {
        Some(value) => match parse_pairs(&value) {
            Ok(pairs) => pairs,
            Err(bad) => {
                warnings.push(format!(
                    "OTEL_RESOURCE_ATTRIBUTES: {bad:?} is not key=value: the variable is ignored"
                ));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    // Later duplicates win, as a map would have it; keep the first position.
    let mut deduped: Vec<(String, String)> = Vec::new();
    for (key, value) in attributes.drain(..) {
        match deduped.iter_mut().find(|(k, _)| *k == key) {
            Some(existing) => existing.1 = value,
            None => deduped.push((key, value)),
        }
    }
    let from_attributes = deduped
        .iter()
        .position(|(k, _)| k == "service.name")
        .map(|i| deduped.remove(i).1);
    let service_name = var("OTEL_SERVICE_NAME")
        .or(from_attributes)
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let mut resource = vec![("service.name".to_owned(), service_name)];
    resource.extend(deduped);
    resource
}

/// `k1=v1,k2=v2` with percent-encoded values (W3C Baggage octets), as both
/// `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` are written. The first entry
/// that is not `key=value` is the error.
fn parse_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (key, value) = entry.split_once('=').ok_or_else(|| entry.to_owned())?;
            let key = key.trim();
            if key.is_empty() {
                return Err(entry.to_owned());
            }
            let value = percent_decode(value.trim()).ok_or_else(|| entry.to_owned())?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

/// Strict: a `%` not followed by two hex digits, or bytes that are not UTF-8, make the entry
/// unusable rather than silently different.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, b)| {
        *b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests;
