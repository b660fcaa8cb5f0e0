//! Raw mirror → typed [`Config`]: defaults merged, every value checked once, every error at the
//! position (in the original file) of the value it is about.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_saphyr::{Location, Spanned};
use url::Url;

use super::error::ConfigError;
use super::interpolate::Interpolated;
use super::model::*;
use super::raw::*;

/// Built-in values for keys that neither an environment nor `defaults` sets (the SPEC example's).
const DEFAULT_SCHEDULE: &str = "*/5 * * * *";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_DEGRADED_AFTER: Duration = Duration::from_secs(2);
const DEFAULT_CERT_WARN_DAYS: u32 = 14;
const DEFAULT_WITHIN: Duration = Duration::from_secs(5);
const DEFAULT_JWT_TTL: Duration = Duration::from_secs(600);
const DEFAULT_TOKEN_POINTER: &str = "/access_token";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_STORAGE_PATH: &str = "wsprobe.db";
const DEFAULT_OTLP_INTERVAL: Duration = Duration::from_secs(30);

/// Headers the WebSocket handshake writes itself: a configured copy would contradict it.
const HANDSHAKE_HEADERS: &[&str] = &[
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

type Result<T, E = ConfigError> = std::result::Result<T, E>;

pub(crate) struct Validator<'a> {
    pub source: &'a Path,
    /// Relative paths in the file (`ca_file`, `key`, `storage.path`) are relative to this.
    pub dir: PathBuf,
    pub text: &'a Interpolated,
}

impl Validator<'_> {
    fn at(&self, location: &Location, key: &str, message: impl Display) -> ConfigError {
        if location.line() == 0 {
            return self.within(key, message);
        }
        let (line, column) = self
            .text
            .original_position(location.line(), location.column());
        ConfigError::At {
            path: self.source.to_path_buf(),
            line,
            column,
            message: format!("{key}: {message}"),
        }
    }

    fn err<T>(&self, value: &Spanned<T>, key: &str, message: impl Display) -> ConfigError {
        self.at(&value.referenced, key, message)
    }

    fn within(&self, context: &str, message: impl Display) -> ConfigError {
        ConfigError::In {
            path: self.source.to_path_buf(),
            context: context.to_owned(),
            message: message.to_string(),
        }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    fn duration(&self, value: &Text, key: &str) -> Result<Duration> {
        humantime::parse_duration(value.value.trim()).map_err(|err| {
            self.err(
                value,
                key,
                format!("invalid duration {:?}: {err}", value.value),
            )
        })
    }

    fn positive_duration(&self, value: &Text, key: &str) -> Result<Duration> {
        let duration = self.duration(value, key)?;
        if duration.is_zero() {
            return Err(self.err(value, key, "must be greater than 0"));
        }
        Ok(duration)
    }

    fn schedule(&self, value: &Text, key: &str) -> Result<Schedule> {
        Schedule::parse(&value.value).map_err(|message| self.err(value, key, message))
    }

    /// Parse a URL whose scheme must be one of `schemes`. The URL itself is never echoed:
    /// tokens and webhook keys hide in URLs.
    fn url(&self, value: &Text, key: &str, schemes: &[&str]) -> Result<Url> {
        let url = Url::parse(value.value.trim())
            .map_err(|err| self.err(value, key, format!("invalid URL: {err}")))?;
        if !schemes.contains(&url.scheme()) {
            let allowed = match schemes {
                [one] => one.to_string(),
                [init @ .., last] => format!("{} or {last}", init.join(", ")),
                [] => String::new(),
            };
            return Err(self.err(
                value,
                key,
                format!("URL scheme must be {allowed}, not {}", url.scheme()),
            ));
        }
        Ok(url)
    }

    fn secret(&self, value: &Text, key: &str) -> Result<Secret> {
        if value.value.is_empty() {
            return Err(self.err(
                value,
                key,
                "is empty (if it comes from a ${VARIABLE}, that variable is set but empty)",
            ));
        }
        Ok(Secret::new(value.value.clone()))
    }

    fn pointer(&self, value: &Text, key: &str) -> Result<String> {
        check_pointer(&value.value).map_err(|message| self.err(value, key, message))?;
        Ok(value.value.clone())
    }

    fn required<'r, T>(
        &self,
        value: &'r Option<T>,
        parent: &Location,
        parent_key: &str,
        name: &str,
    ) -> Result<&'r T> {
        value
            .as_ref()
            .ok_or_else(|| self.at(parent, parent_key, format!("missing key `{name}`")))
    }

    pub(crate) fn config(&self, raw: RawConfig) -> Result<Config> {
        let empty = RawEnvironment::default();
        let defaults = match &raw.defaults {
            Some(defaults) => {
                for (field, key) in [(&defaults.value.name, "name"), (&defaults.value.url, "url")] {
                    if let Some(value) = field {
                        return Err(self.err(
                            value,
                            &format!("defaults.{key}"),
                            "not allowed in defaults: every environment sets its own",
                        ));
                    }
                }
                &defaults.value
            }
            None => &empty,
        };

        let alerts = raw.alerts.unwrap_or_default();
        let channels = self.channels(alerts.channels.as_deref().unwrap_or_default())?;

        let Some(raw_envs) = &raw.environments else {
            return Err(self.within("environments", "at least one environment is required"));
        };
        if raw_envs.value.is_empty() {
            return Err(self.err(
                raw_envs,
                "environments",
                "at least one environment is required",
            ));
        }
        let mut environments: Vec<Environment> = Vec::with_capacity(raw_envs.value.len());
        let mut first_seen: HashMap<String, u64> = HashMap::new();
        for (index, raw_env) in raw_envs.value.iter().enumerate() {
            let env = self.environment(index, raw_env, defaults, &channels)?;
            let name = raw_env
                .value
                .name
                .as_ref()
                .expect("checked by environment()");
            let line = self
                .text
                .original_position(name.referenced.line(), name.referenced.column())
                .0;
            if let Some(first) = first_seen.insert(env.name.as_str().to_owned(), line) {
                return Err(self.err(
                    name,
                    &format!("environments[{index}].name"),
                    format!(
                        "duplicate environment name {:?} (first used at line {first})",
                        env.name.as_str()
                    ),
                ));
            }
            environments.push(env);
        }

        let maintenance = alerts
            .maintenance
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, window)| self.maintenance(index, window, &environments))
            .collect::<Result<Vec<_>>>()?;

        Ok(Config {
            source: self.source.to_path_buf(),
            location: raw
                .location
                .map(|location| location.value.trim().to_owned())
                .filter(|location| !location.is_empty()),
            environments,
            alerts: AlertsConfig {
                defaults: self.policy_defaults(alerts.defaults.unwrap_or_default())?,
                channels,
                maintenance,
                give_up_after: match &alerts.give_up_after {
                    Some(value) => self.positive_duration(value, "alerts.give_up_after")?,
                    None => DEFAULT_GIVE_UP_AFTER,
                },
            },
            server: self.server(raw.server.unwrap_or_default())?,
            storage: self.storage(raw.storage.unwrap_or_default())?,
            telemetry: self.telemetry(raw.telemetry)?,
        })
    }

    fn environment(
        &self,
        index: usize,
        raw: &Spanned<RawEnvironment>,
        defaults: &RawEnvironment,
        channels: &[Channel],
    ) -> Result<Environment> {
        let own = &raw.value;
        let here = format!("environments[{index}]");
        let layers = Layers {
            own,
            defaults,
            here: &here,
        };
        let raw_name = self.required(&own.name, &raw.referenced, &here, "name")?;
        let name = EnvName::parse(&raw_name.value)
            .map_err(|message| self.err(raw_name, &format!("{here}.name"), message))?;
        // Cross-checks against a value inherited from `defaults` name the environment too.
        let in_env = |key: &str| {
            if key.starts_with("defaults") {
                format!(" (in environment {name})")
            } else {
                String::new()
            }
        };

        let raw_url = self.required(&own.url, &raw.referenced, &here, "url")?;
        let url = self.url(raw_url, &format!("{here}.url"), &["ws", "wss"])?;

        let schedule = match layers.pick(|e| &e.schedule, "schedule") {
            Some((value, key)) => self.schedule(value, &key)?,
            None => Schedule::parse(DEFAULT_SCHEDULE).expect("the built-in schedule parses"),
        };
        let jitter = match layers.pick(|e| &e.jitter, "jitter") {
            Some((value, key)) => self.duration(value, &key)?,
            None => Duration::ZERO,
        };
        let timeout = match layers.pick(|e| &e.timeout, "timeout") {
            Some((value, key)) => self.positive_duration(value, &key)?,
            None => DEFAULT_TIMEOUT,
        };
        let retries = layers
            .pick(|e| &e.retries, "retries")
            .map_or(0, |(v, _)| v.value);
        let degraded_after = match layers.pick(|e| &e.degraded_after, "degraded_after") {
            Some((value, key)) => self.duration(value, &key)?,
            None => DEFAULT_DEGRADED_AFTER,
        };
        let cert_warn_days = layers
            .pick(|e| &e.cert_warn_days, "cert_warn_days")
            .map_or(DEFAULT_CERT_WARN_DAYS, |(v, _)| v.value);

        let health = match layers.pick(|e| &e.health, "health") {
            Some((value, key)) => Some(self.health(value, &key)?),
            None => None,
        };
        let auth = match layers.pick(|e| &e.auth, "auth") {
            Some((value, key)) => self.auth(value, &key)?,
            None => Auth::None,
        };

        // Every place a `{token}` template can appear, to refuse it when there is no token.
        let mut token_uses: Vec<(&Location, String)> = Vec::new();

        let mut headers: Vec<(String, String)> = Vec::new();
        let default_headers = defaults.headers.iter().map(|map| (map, "defaults"));
        let own_headers = own.headers.iter().map(|map| (map, here.as_str()));
        for (map, prefix) in default_headers.chain(own_headers) {
            for (header, value) in &map.0 {
                let key = format!("{prefix}.headers.{}", header.value);
                self.header(header, value, &key)?;
                if uses_token(&value.value).map_err(|message| self.err(value, &key, message))? {
                    token_uses.push((&value.referenced, key));
                }
                let template = value.value.clone();
                match headers
                    .iter_mut()
                    .find(|(existing, _)| existing.eq_ignore_ascii_case(&header.value))
                {
                    Some(entry) => entry.1 = template,
                    None => headers.push((header.value.clone(), template)),
                }
            }
        }

        let mut subprotocols = Vec::new();
        let mut subprotocols_key = String::new();
        if let Some((list, key)) = layers.pick(|e| &e.subprotocols, "subprotocols") {
            for (i, value) in list.iter().enumerate() {
                let item_key = format!("{key}[{i}]");
                if uses_token(&value.value)
                    .map_err(|message| self.err(value, &item_key, message))?
                {
                    token_uses.push((&value.referenced, item_key.clone()));
                }
                if let Some(bad) = without_templates(&value.value)
                    .chars()
                    .find(|c| !is_tchar(*c))
                {
                    return Err(self.err(
                        value,
                        &item_key,
                        format!("a subprotocol is an HTTP token: {bad:?} is not allowed"),
                    ));
                }
                subprotocols.push(value.value.clone());
            }
            subprotocols_key = key;
        }
        let expect_subprotocol = match layers.pick(|e| &e.expect_subprotocol, "expect_subprotocol")
        {
            Some((value, key)) => {
                if !subprotocols.contains(&value.value) {
                    let offered = if subprotocols.is_empty() {
                        "none are offered: add it to `subprotocols`".to_owned()
                    } else {
                        format!("offered ({subprotocols_key}): {}", subprotocols.join(", "))
                    };
                    return Err(self.err(
                        value,
                        &key,
                        format!(
                            "{:?} is not one of the offered subprotocols{}; {offered}",
                            value.value,
                            in_env(&key)
                        ),
                    ));
                }
                Some(value.value.clone())
            }
            None => None,
        };

        let tls = self.tls(own.tls.as_ref(), defaults.tls.as_ref(), &here)?;

        let mut steps = Vec::new();
        if let Some((list, key)) = layers.pick(|e| &e.steps, "steps") {
            for (i, raw_step) in list.iter().enumerate() {
                let step_key = format!("{key}[{i}]");
                let step = self.step(raw_step, &step_key, timeout, &in_env(&key))?;
                if let (Step::Send { text }, Some(send)) = (&step, &raw_step.value.send) {
                    let send_key = format!("{step_key}.send");
                    if uses_token(text).map_err(|m| self.err(send, &send_key, m))? {
                        token_uses.push((&send.referenced, send_key));
                    }
                }
                steps.push(step);
            }
        }

        if let (Auth::None, Some((location, key))) = (&auth, token_uses.first()) {
            return Err(self.at(
                location,
                key,
                format!(
                    "uses {{token}} but auth is none{}: set `auth` or remove the template",
                    in_env(key)
                ),
            ));
        }

        let echo = match layers.pick(|e| &e.echo, "echo") {
            Some((value, key)) => Some(self.echo(value, &key)?),
            None => None,
        };
        let version = match layers.pick(|e| &e.version, "version") {
            Some((value, key)) => Some(self.version(value, &key)?),
            None => None,
        };
        let alert =
            self.alert_override(own.alert.as_ref(), defaults.alert.as_ref(), &here, channels)?;

        let mut limits = MessageLimits::default();
        if let Some((value, key)) = layers.pick(|e| &e.max_message_bytes, "max_message_bytes") {
            limits.max_message_bytes = self.positive_count(value, &key)?;
        }
        if let Some((value, key)) = layers.pick(|e| &e.max_messages, "max_messages") {
            limits.max_messages = self.positive_count(value, &key)?;
        }

        Ok(Environment {
            name,
            url,
            schedule,
            jitter,
            timeout,
            retries,
            degraded_after,
            cert_warn_days,
            health,
            auth,
            headers,
            subprotocols,
            expect_subprotocol,
            tls,
            steps,
            echo,
            version,
            alert,
            limits,
        })
    }

    fn positive_count(&self, value: &Spanned<u64>, key: &str) -> Result<usize> {
        match usize::try_from(value.value) {
            Ok(0) => Err(self.err(value, key, "must be greater than 0")),
            Ok(count) => Ok(count),
            Err(_) => Err(self.err(value, key, "is too large")),
        }
    }

    fn header(&self, name: &Text, value: &Text, key: &str) -> Result<()> {
        if reqwest::header::HeaderName::from_bytes(name.value.as_bytes()).is_err() {
            return Err(self.err(name, key, "not a valid HTTP header name"));
        }
        if HANDSHAKE_HEADERS.contains(&name.value.to_ascii_lowercase().as_str()) {
            let hint = if name.value.eq_ignore_ascii_case("sec-websocket-protocol") {
                ": list them under `subprotocols`"
            } else {
                ""
            };
            return Err(self.err(
                name,
                key,
                format!("set by the WebSocket handshake itself{hint}"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(&value.value).is_err() {
            return Err(self.err(
                value,
                key,
                "not a valid HTTP header value (control characters or non-ASCII text)",
            ));
        }
        Ok(())
    }

    fn health(&self, raw: &Spanned<RawHealth>, key: &str) -> Result<HealthCheck> {
        let url = self.required(&raw.value.url, &raw.referenced, key, "url")?;
        let url = self.url(url, &format!("{key}.url"), &["http", "https"])?;
        let expect_status = match &raw.value.expect_status {
            Some(status) if !(100..=599).contains(&status.value) => {
                return Err(self.err(
                    status,
                    &format!("{key}.expect_status"),
                    "not an HTTP status (100 to 599)",
                ));
            }
            Some(status) => status.value,
            None => 200,
        };
        Ok(HealthCheck { url, expect_status })
    }

    fn auth(&self, raw: &Spanned<RawAuth>, key: &str) -> Result<Auth> {
        let a = &raw.value;
        let kind = self.required(&a.kind, &raw.referenced, key, "kind")?;
        let field = |name: &str| format!("{key}.{name}");

        // Refuse keys the chosen kind ignores: a `secret` under `kind: bearer` is a mistake.
        let present: [(&str, Option<&Location>); 11] = [
            ("token", a.token.as_ref().map(|v| &v.referenced)),
            ("secret", a.secret.as_ref().map(|v| &v.referenced)),
            ("key", a.key.as_ref().map(|v| &v.referenced)),
            ("algorithm", a.algorithm.as_ref().map(|v| &v.referenced)),
            ("claims", a.claims.as_ref().map(|v| &v.referenced)),
            ("ttl", a.ttl.as_ref().map(|v| &v.referenced)),
            ("url", a.url.as_ref().map(|v| &v.referenced)),
            ("method", a.method.as_ref().map(|v| &v.referenced)),
            ("headers", a.headers.as_ref().map(|v| &v.referenced)),
            ("body", a.body.as_ref().map(|v| &v.referenced)),
            (
                "token_pointer",
                a.token_pointer.as_ref().map(|v| &v.referenced),
            ),
        ];
        let allowed: &[&str] = match kind.value.as_str() {
            "none" => &[],
            "bearer" => &["token"],
            "jwt" => &["secret", "key", "algorithm", "claims", "ttl"],
            "token_endpoint" => &["url", "method", "headers", "body", "token_pointer"],
            other => {
                return Err(self.err(
                    kind,
                    &field("kind"),
                    format!(
                        "unknown auth kind {other:?}: expected none, bearer, jwt or token_endpoint"
                    ),
                ));
            }
        };
        for (name, location) in present {
            if let Some(location) = location
                && !allowed.contains(&name)
            {
                let takes = if allowed.is_empty() {
                    "no other keys".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(self.at(
                    location,
                    &field(name),
                    format!("not used by auth kind {} (it takes: {takes})", kind.value),
                ));
            }
        }

        match kind.value.as_str() {
            "none" => Ok(Auth::None),
            "bearer" => {
                let token = self.required(&a.token, &raw.referenced, key, "token")?;
                Ok(Auth::Bearer {
                    token: self.secret(token, &field("token"))?,
                })
            }
            "jwt" => {
                let algorithm = match &a.algorithm {
                    Some(value) => parse_algorithm(&value.value)
                        .ok_or_else(|| {
                            self.err(
                                value,
                                &field("algorithm"),
                                format!(
                                    "unknown algorithm {:?}: expected HS256, HS384, HS512, RS256 or ES256",
                                    value.value
                                ),
                            )
                        })?,
                    None => JwtAlgorithm::HS256,
                };
                let key_material = match algorithm {
                    JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => {
                        if let Some(pem) = &a.key {
                            return Err(self.err(
                                pem,
                                &field("key"),
                                format!("{algorithm:?} signs with `secret`; `key` is for RS256 and ES256"),
                            ));
                        }
                        let secret = self.required(&a.secret, &raw.referenced, key, "secret")?;
                        JwtKey::Secret(self.secret(secret, &field("secret"))?)
                    }
                    JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                        if let Some(secret) = &a.secret {
                            return Err(self.err(
                                secret,
                                &field("secret"),
                                format!("{algorithm:?} signs with a private key file: use `key`, not `secret`"),
                            ));
                        }
                        let file = self.required(&a.key, &raw.referenced, key, "key")?;
                        self.pem_key(file, &field("key"), algorithm)?
                    }
                };
                let ttl = match &a.ttl {
                    Some(value) => self.positive_duration(value, &field("ttl"))?,
                    None => DEFAULT_JWT_TTL,
                };
                Ok(Auth::Jwt {
                    algorithm,
                    key: key_material,
                    claims: a
                        .claims
                        .as_ref()
                        .map(|claims| claims.value.clone())
                        .unwrap_or_default(),
                    ttl,
                })
            }
            "token_endpoint" => {
                let url = self.required(&a.url, &raw.referenced, key, "url")?;
                let url = self.url(url, &field("url"), &["http", "https"])?;
                let method = match &a.method {
                    Some(value) => reqwest::Method::from_bytes(
                        value.value.trim().to_ascii_uppercase().as_bytes(),
                    )
                    .map_err(|_| {
                        self.err(
                            value,
                            &field("method"),
                            format!("invalid HTTP method {:?}", value.value),
                        )
                    })?,
                    None => reqwest::Method::POST,
                };
                let mut headers = Vec::new();
                for (name, value) in a.headers.iter().flat_map(|map| &map.value.0) {
                    if reqwest::header::HeaderName::from_bytes(name.value.as_bytes()).is_err() {
                        return Err(self.err(
                            name,
                            &format!("{key}.headers.{}", name.value),
                            "not a valid HTTP header name",
                        ));
                    }
                    headers.push((name.value.clone(), Secret::new(value.clone())));
                }
                let token_pointer = match &a.token_pointer {
                    Some(value) => self.pointer(value, &field("token_pointer"))?,
                    None => DEFAULT_TOKEN_POINTER.to_owned(),
                };
                Ok(Auth::TokenEndpoint {
                    url,
                    method,
                    headers,
                    body: a.body.as_ref().map(|body| body.value.clone()),
                    token_pointer,
                })
            }
            _ => unreachable!("kinds were matched above"),
        }
    }

    /// Read and check the private key now, so a bad key fails `validate`, not the first probe.
    fn pem_key(&self, file: &Text, key: &str, algorithm: JwtAlgorithm) -> Result<JwtKey> {
        let path = self.resolve(&file.value);
        let pem = std::fs::read_to_string(&path)
            .map_err(|err| self.err(file, key, format!("cannot read {}: {err}", path.display())))?;
        let parsed = match algorithm {
            JwtAlgorithm::RS256 => {
                jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map(drop)
            }
            _ => jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).map(drop),
        };
        parsed.map_err(|err| {
            let wanted = match algorithm {
                JwtAlgorithm::RS256 => "an RSA private key",
                _ => "a PKCS#8 P-256 EC private key",
            };
            self.err(
                file,
                key,
                format!("{} is not {wanted} in PEM form: {err}", path.display()),
            )
        })?;
        Ok(JwtKey::Pem {
            path,
            pem: Secret::new(pem),
        })
    }

    /// `tls` merges key by key: `defaults` can set a CA that every environment shares.
    fn tls(
        &self,
        own: Option<&RawTls>,
        defaults: Option<&RawTls>,
        here: &str,
    ) -> Result<TlsOptions> {
        let ca_file = own
            .and_then(|tls| {
                tls.ca_file
                    .as_ref()
                    .map(|v| (v, format!("{here}.tls.ca_file")))
            })
            .or_else(|| {
                defaults.and_then(|tls| {
                    tls.ca_file
                        .as_ref()
                        .map(|v| (v, "defaults.tls.ca_file".to_owned()))
                })
            });
        let ca_file = match ca_file {
            Some((value, key)) => {
                let path = self.resolve(&value.value);
                let bytes = std::fs::read(&path).map_err(|err| {
                    self.err(
                        value,
                        &key,
                        format!("cannot read {}: {err}", path.display()),
                    )
                })?;
                let certificates = rustls_pemfile::certs(&mut bytes.as_slice())
                    .filter(|cert| cert.is_ok())
                    .count();
                if certificates == 0 {
                    return Err(self.err(
                        value,
                        &key,
                        format!("{} holds no PEM certificate", path.display()),
                    ));
                }
                Some(path)
            }
            None => None,
        };
        let insecure_skip_verify = own
            .and_then(|tls| tls.insecure_skip_verify)
            .or_else(|| defaults.and_then(|tls| tls.insecure_skip_verify))
            .unwrap_or(false);
        Ok(TlsOptions {
            ca_file,
            insecure_skip_verify,
        })
    }

    fn step(
        &self,
        raw: &Spanned<RawStep>,
        key: &str,
        timeout: Duration,
        in_env: &str,
    ) -> Result<Step> {
        match (&raw.value.expect, &raw.value.send) {
            (Some(expect), None) => {
                let e = &expect.value;
                let expect_key = format!("{key}.expect");
                let within = match &e.within {
                    Some(value) => {
                        let within_key = format!("{expect_key}.within");
                        let within = self.positive_duration(value, &within_key)?;
                        if within > timeout {
                            return Err(self.err(
                                value,
                                &within_key,
                                format!(
                                    "{} is longer than the probe's timeout {}{in_env}",
                                    humantime::format_duration(within),
                                    humantime::format_duration(timeout)
                                ),
                            ));
                        }
                        within
                    }
                    // The default must not outlast a short timeout: the timeout is the budget.
                    None => DEFAULT_WITHIN.min(timeout),
                };
                let matcher = match (&e.json, &e.contains) {
                    (Some(_), Some(contains)) => {
                        return Err(self.err(
                            contains,
                            &format!("{expect_key}.contains"),
                            "an expect takes `json` or `contains`, not both",
                        ));
                    }
                    (Some(json), None) => {
                        let mut pairs = Vec::new();
                        for (pointer, value) in &json.value.0 {
                            let pointer_key = format!("{expect_key}.json.{}", pointer.value);
                            pairs.push((self.pointer(pointer, &pointer_key)?, value.clone()));
                        }
                        Matcher::Json(pairs)
                    }
                    (None, Some(contains)) => Matcher::Contains(contains.value.clone()),
                    (None, None) => Matcher::Any,
                };
                Ok(Step::Expect { within, matcher })
            }
            (None, Some(send)) => Ok(Step::Send {
                text: send.value.clone(),
            }),
            (Some(_), Some(send)) => Err(self.err(
                send,
                key,
                "a step is either `expect` or `send`, not both: make them two steps",
            )),
            (None, None) => {
                Err(self.err(raw, key, "a step needs `expect: {...}` or `send: \"...\"`"))
            }
        }
    }

    fn echo(&self, raw: &Spanned<RawEcho>, key: &str) -> Result<EchoCheck> {
        let pointer = self.required(&raw.value.pointer, &raw.referenced, key, "pointer")?;
        Ok(EchoCheck {
            pointer: self.pointer(pointer, &format!("{key}.pointer"))?,
            require: raw
                .value
                .require
                .iter()
                .flatten()
                .map(|header| header.trim().to_ascii_lowercase())
                .collect(),
        })
    }

    fn version(&self, raw: &Spanned<RawVersion>, key: &str) -> Result<VersionSource> {
        match (&raw.value.header, &raw.value.pointer) {
            (Some(header), None) => {
                if reqwest::header::HeaderName::from_bytes(header.value.as_bytes()).is_err() {
                    return Err(self.err(
                        header,
                        &format!("{key}.header"),
                        "not a valid HTTP header name",
                    ));
                }
                Ok(VersionSource::Header(header.value.to_ascii_lowercase()))
            }
            (None, Some(pointer)) => Ok(VersionSource::Pointer(
                self.pointer(pointer, &format!("{key}.pointer"))?,
            )),
            (Some(_), Some(pointer)) => Err(self.err(
                pointer,
                &format!("{key}.pointer"),
                "version takes `header` or `pointer`, not both",
            )),
            (None, None) => Err(self.err(raw, key, "version needs `header` or `pointer`")),
        }
    }

    /// `alert` merges key by key: `defaults.alert.channels` can route every environment.
    fn alert_override(
        &self,
        own: Option<&RawAlertPolicy>,
        defaults: Option<&RawAlertPolicy>,
        here: &str,
        channels: &[Channel],
    ) -> Result<AlertPolicyOverride> {
        let empty = RawAlertPolicy::default();
        let (own, defaults) = (own.unwrap_or(&empty), defaults.unwrap_or(&empty));
        let own_prefix = format!("{here}.alert");

        let channel_names = match pick(
            &own.channels,
            &defaults.channels,
            &own_prefix,
            "defaults.alert",
            "channels",
        ) {
            Some((list, key)) => {
                let mut names = Vec::new();
                for (i, name) in list.iter().enumerate() {
                    if !channels.iter().any(|channel| channel.name == name.value) {
                        return Err(self.err(
                            name,
                            &format!("{key}[{i}]"),
                            unknown_channel(&name.value, channels),
                        ));
                    }
                    names.push(name.value.clone());
                }
                Some(names)
            }
            None => None,
        };
        let threshold = |value: Option<(&Spanned<u32>, String)>| -> Result<Option<u32>> {
            match value {
                Some((v, key)) if v.value == 0 => Err(self.err(v, &key, "must be at least 1")),
                Some((v, _)) => Ok(Some(v.value)),
                None => Ok(None),
            }
        };
        Ok(AlertPolicyOverride {
            channels: channel_names,
            failure_threshold: threshold(pick(
                &own.failure_threshold,
                &defaults.failure_threshold,
                &own_prefix,
                "defaults.alert",
                "failure_threshold",
            ))?,
            success_threshold: threshold(pick(
                &own.success_threshold,
                &defaults.success_threshold,
                &own_prefix,
                "defaults.alert",
                "success_threshold",
            ))?,
            repeat_every: match pick(
                &own.repeat_every,
                &defaults.repeat_every,
                &own_prefix,
                "defaults.alert",
                "repeat_every",
            ) {
                Some((value, key)) => Some(self.positive_duration(value, &key)?),
                None => None,
            },
            send_resolved: own.send_resolved.or(defaults.send_resolved),
            alert_on_degraded: own.alert_on_degraded.or(defaults.alert_on_degraded),
        })
    }

    fn policy_defaults(&self, raw: RawPolicyDefaults) -> Result<AlertPolicy> {
        let mut policy = AlertPolicy::default();
        for (value, key, into) in [
            (
                &raw.failure_threshold,
                "failure_threshold",
                &mut policy.failure_threshold,
            ),
            (
                &raw.success_threshold,
                "success_threshold",
                &mut policy.success_threshold,
            ),
        ] {
            if let Some(value) = value {
                if value.value == 0 {
                    return Err(self.err(
                        value,
                        &format!("alerts.defaults.{key}"),
                        "must be at least 1",
                    ));
                }
                *into = value.value;
            }
        }
        if let Some(value) = &raw.repeat_every {
            policy.repeat_every = self.positive_duration(value, "alerts.defaults.repeat_every")?;
        }
        if let Some(value) = raw.send_resolved {
            policy.send_resolved = value;
        }
        if let Some(value) = raw.alert_on_degraded {
            policy.alert_on_degraded = value;
        }
        Ok(policy)
    }

    fn channels(&self, raw: &[Spanned<RawChannel>]) -> Result<Vec<Channel>> {
        let mut channels: Vec<Channel> = Vec::new();
        for (index, item) in raw.iter().enumerate() {
            let here = format!("alerts.channels[{index}]");
            let c = &item.value;
            let field = |name: &str| format!("{here}.{name}");
            let name = self.required(&c.name, &item.referenced, &here, "name")?;
            if name.value.trim().is_empty() {
                return Err(self.err(name, &field("name"), "must not be empty"));
            }
            if channels.iter().any(|channel| channel.name == name.value) {
                return Err(self.err(
                    name,
                    &field("name"),
                    format!("duplicate channel name {:?}", name.value),
                ));
            }
            let kind = self.required(&c.kind, &item.referenced, &here, "kind")?;

            let present: [(&str, &Option<Text>); 6] = [
                ("webhook_url", &c.webhook_url),
                ("routing_key", &c.routing_key),
                ("severity", &c.severity),
                ("events_url", &c.events_url),
                ("url", &c.url),
                ("secret", &c.secret),
            ];
            let allowed: &[&str] = match kind.value.as_str() {
                "slack" => &["webhook_url"],
                "pagerduty" => &["routing_key", "severity", "events_url"],
                "webhook" => &["url", "secret"],
                "log" => &[],
                other => {
                    return Err(self.err(
                        kind,
                        &field("kind"),
                        format!("unknown channel kind {other:?}: expected slack, pagerduty, webhook or log"),
                    ));
                }
            };
            for (key, value) in present {
                if let Some(value) = value
                    && !allowed.contains(&key)
                {
                    let takes = if allowed.is_empty() {
                        "no other keys".to_owned()
                    } else {
                        allowed.join(", ")
                    };
                    return Err(self.err(
                        value,
                        &field(key),
                        format!(
                            "not used by channel kind {} (it takes: {takes})",
                            kind.value
                        ),
                    ));
                }
            }

            let channel_kind = match kind.value.as_str() {
                "slack" => {
                    let url =
                        self.required(&c.webhook_url, &item.referenced, &here, "webhook_url")?;
                    let secret = self.secret(url, &field("webhook_url"))?;
                    // Checked for shape only: the URL is the secret, so it is kept as one.
                    self.url(url, &field("webhook_url"), &["https", "http"])?;
                    ChannelKind::Slack {
                        webhook_url: secret,
                    }
                }
                "pagerduty" => {
                    let key =
                        self.required(&c.routing_key, &item.referenced, &here, "routing_key")?;
                    let severity = match &c.severity {
                        Some(value) => match value.value.as_str() {
                            "critical" | "error" | "warning" | "info" => value.value.clone(),
                            other => {
                                return Err(self.err(
                                    value,
                                    &field("severity"),
                                    format!("unknown severity {other:?}: expected critical, error, warning or info"),
                                ));
                            }
                        },
                        None => "critical".to_owned(),
                    };
                    let events_url = match &c.events_url {
                        Some(value) => self.url(value, &field("events_url"), &["https", "http"])?,
                        None => Url::parse(PAGERDUTY_EVENTS_URL).expect("the built-in URL parses"),
                    };
                    ChannelKind::PagerDuty {
                        routing_key: self.secret(key, &field("routing_key"))?,
                        severity,
                        events_url,
                    }
                }
                "webhook" => {
                    let url = self.required(&c.url, &item.referenced, &here, "url")?;
                    ChannelKind::Webhook {
                        url: self.url(url, &field("url"), &["https", "http"])?,
                        // Empty (`${HOOK_SECRET:-}`) means unsigned, as if the key were absent.
                        secret: c
                            .secret
                            .as_ref()
                            .filter(|secret| !secret.value.is_empty())
                            .map(|secret| Secret::new(secret.value.clone())),
                    }
                }
                _ => ChannelKind::Log,
            };
            channels.push(Channel {
                name: name.value.clone(),
                kind: channel_kind,
            });
        }
        Ok(channels)
    }

    fn maintenance(
        &self,
        index: usize,
        raw: &Spanned<RawMaintenance>,
        environments: &[Environment],
    ) -> Result<MaintenanceWindow> {
        let here = format!("alerts.maintenance[{index}]");
        let m = &raw.value;
        let field = |name: &str| format!("{here}.{name}");
        let mut names = Vec::new();
        for (i, name) in m.environments.iter().flatten().enumerate() {
            match environments
                .iter()
                .find(|env| env.name.as_str() == name.value)
            {
                Some(env) => names.push(env.name.clone()),
                None => {
                    let known: Vec<&str> =
                        environments.iter().map(|env| env.name.as_str()).collect();
                    return Err(self.err(
                        name,
                        &format!("{here}.environments[{i}]"),
                        format!(
                            "unknown environment {:?} (environments: {})",
                            name.value,
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        let when = match (&m.schedule, &m.duration, &m.from, &m.until) {
            (Some(schedule), Some(duration), None, None) => MaintenanceTime::Recurring {
                schedule: self.schedule(schedule, &field("schedule"))?,
                duration: self.positive_duration(duration, &field("duration"))?,
            },
            (None, None, Some(from), Some(until)) => {
                let from_time = self.timestamp(from, &field("from"))?;
                let until_time = self.timestamp(until, &field("until"))?;
                if until_time <= from_time {
                    return Err(self.err(until, &field("until"), "must be later than `from`"));
                }
                MaintenanceTime::Fixed {
                    from: from_time,
                    until: until_time,
                }
            }
            _ => {
                return Err(self.err(
                    raw,
                    &here,
                    "a maintenance window is `schedule` + `duration` (recurring) or `from` + `until` (once), not a mix",
                ));
            }
        };
        Ok(MaintenanceWindow {
            environments: names,
            when,
        })
    }

    fn timestamp(&self, value: &Text, key: &str) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(value.value.trim())
            .map(|time| time.with_timezone(&Utc))
            .map_err(|err| {
                self.err(
                    value,
                    key,
                    format!(
                        "invalid RFC 3339 time {:?} (like 2026-12-01T22:00:00Z): {err}",
                        value.value
                    ),
                )
            })
    }

    fn server(&self, raw: RawServer) -> Result<ServerConfig> {
        let listen = match &raw.listen {
            Some(value) => value.value.trim().parse::<SocketAddr>().map_err(|_| {
                self.err(
                    value,
                    "server.listen",
                    format!(
                        "invalid address {:?}: expected IP:port, like 127.0.0.1:8080 or [::]:8080",
                        value.value
                    ),
                )
            })?,
            None => DEFAULT_LISTEN.parse().expect("the built-in address parses"),
        };
        let public_url = match &raw.public_url {
            Some(value) => Some(self.url(value, "server.public_url", &["http", "https"])?),
            None => None,
        };
        Ok(ServerConfig {
            listen,
            public_url,
            // Empty (`${WSPROBE_ADMIN_TOKEN:-}`) leaves the admin API closed, as if absent.
            admin_token: raw
                .admin_token
                .filter(|token| !token.value.is_empty())
                .map(|token| Secret::new(token.value)),
        })
    }

    fn storage(&self, raw: RawStorage) -> Result<StorageConfig> {
        let path = match &raw.path {
            Some(value) if value.value.trim().is_empty() => {
                return Err(self.err(value, "storage.path", "must not be empty"));
            }
            Some(value) => self.resolve(&value.value),
            None => self.resolve(DEFAULT_STORAGE_PATH),
        };
        let retention = match &raw.retention {
            Some(value) => self.positive_duration(value, "storage.retention")?,
            None => StorageConfig::default().retention,
        };
        Ok(StorageConfig { path, retention })
    }

    fn telemetry(&self, raw: Option<RawTelemetry>) -> Result<Option<TelemetryConfig>> {
        let Some(otlp) = raw.and_then(|telemetry| telemetry.otlp) else {
            return Ok(None);
        };
        let o = &otlp.value;
        let endpoint =
            self.required(&o.endpoint, &otlp.referenced, "telemetry.otlp", "endpoint")?;
        let endpoint = self.url(endpoint, "telemetry.otlp.endpoint", &["http", "https"])?;
        let protocol = match &o.protocol {
            Some(value) => match value.value.as_str() {
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "grpc" => OtlpProtocol::Grpc,
                other => {
                    return Err(self.err(
                        value,
                        "telemetry.otlp.protocol",
                        format!("unknown protocol {other:?}: expected http/protobuf or grpc"),
                    ));
                }
            },
            None => OtlpProtocol::HttpProtobuf,
        };
        let interval = match &o.interval {
            Some(value) => self.positive_duration(value, "telemetry.otlp.interval")?,
            None => DEFAULT_OTLP_INTERVAL,
        };
        let mut headers = BTreeMap::new();
        for (name, value) in o.headers.iter().flat_map(|map| &map.0) {
            if reqwest::header::HeaderName::from_bytes(name.value.as_bytes()).is_err() {
                return Err(self.err(
                    name,
                    &format!("telemetry.otlp.headers.{}", name.value),
                    "not a valid HTTP header name",
                ));
            }
            headers.insert(name.value.clone(), Secret::new(value.clone()));
        }
        Ok(Some(TelemetryConfig {
            otlp: OtlpConfig {
                endpoint,
                protocol,
                interval,
                headers,
            },
        }))
    }
}

/// An environment over `defaults`.
struct Layers<'r> {
    own: &'r RawEnvironment,
    defaults: &'r RawEnvironment,
    here: &'r str,
}

impl<'r> Layers<'r> {
    fn pick<T>(
        &self,
        field: impl Fn(&'r RawEnvironment) -> &'r Option<T>,
        key: &str,
    ) -> Option<(&'r T, String)> {
        pick(
            field(self.own),
            field(self.defaults),
            self.here,
            "defaults",
            key,
        )
    }
}

/// The value an environment (or its `alert:` block) sets wins over `defaults`; the returned
/// key path says which of the two it came from.
fn pick<'r, T>(
    own: &'r Option<T>,
    default: &'r Option<T>,
    own_prefix: &str,
    default_prefix: &str,
    key: &str,
) -> Option<(&'r T, String)> {
    own.as_ref()
        .map(|value| (value, format!("{own_prefix}.{key}")))
        .or_else(|| {
            default
                .as_ref()
                .map(|value| (value, format!("{default_prefix}.{key}")))
        })
}

fn unknown_channel(name: &str, channels: &[Channel]) -> String {
    if channels.is_empty() {
        return format!("unknown channel {name:?}: no channels are defined under alerts.channels");
    }
    let known: Vec<&str> = channels
        .iter()
        .map(|channel| channel.name.as_str())
        .collect();
    format!(
        "unknown channel {name:?} (alerts.channels defines: {})",
        known.join(", ")
    )
}

fn parse_algorithm(text: &str) -> Option<JwtAlgorithm> {
    Some(match text {
        "HS256" => JwtAlgorithm::HS256,
        "HS384" => JwtAlgorithm::HS384,
        "HS512" => JwtAlgorithm::HS512,
        "RS256" => JwtAlgorithm::RS256,
        "ES256" => JwtAlgorithm::ES256,
        _ => return None,
    })
}

/// RFC 6901: empty (the whole document) or `/`-separated, with `~` only as `~0` or `~1`.
fn check_pointer(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!(
            "invalid JSON pointer {pointer:?}: it starts with / (like /data/event)"
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "invalid JSON pointer {pointer:?}: ~ must be written ~0 (and / inside a key ~1)"
            ));
        }
    }
    Ok(())
}

/// The templates the probe fills in.
const TEMPLATES: &[&str] = &["token", "token_base64url"];

/// Each `{name}` in `text`; other braces (JSON in a `send`) are text.
fn template_names(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.match_indices('{').filter_map(|(start, _)| {
        let rest = &text[start + 1..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (len > 0 && rest[len..].starts_with('}')).then(|| (start, &rest[..len]))
    })
}

/// Whether `text` uses the token; an unknown `{name}` is an error (a typo would be sent as is).
fn uses_token(text: &str) -> Result<bool, String> {
    let mut uses = false;
    for (_, name) in template_names(text) {
        if !TEMPLATES.contains(&name) {
            return Err(format!(
                "unknown template {{{name}}}: the templates are {{token}} and {{token_base64url}}"
            ));
        }
        uses = true;
    }
    Ok(uses)
}

fn without_templates(text: &str) -> String {
    let mut out = text.to_owned();
    for name in TEMPLATES {
        out = out.replace(&format!("{{{name}}}"), "x");
    }
    out
}

/// RFC 9110 token characters: what a `Sec-WebSocket-Protocol` value is made of.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let cases: &[(&str, Result<bool, &str>)] = &[
            ("Bearer {token}", Ok(true)),
            ("jwt.{token_base64url}", Ok(true)),
            ("jwt-auth", Ok(false)),
            (r#"{"type":"ping"}"#, Ok(false)),
            ("{}", Ok(false)),
            ("{ token }", Ok(false)),
            (
                "Bearer {tokn}",
                Err("unknown template {tokn}: the templates are {token} and {token_base64url}"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                uses_token(text),
                expected.map_err(str::to_owned),
                "text: {text:?}"
            );
        }
    }

    #[test]
    fn pointers() {
        for ok in ["", "/type", "/data/event", "/a~0b/c~1d"] {
            assert_eq!(check_pointer(ok), Ok(()), "{ok:?}");
        }
        for bad in ["type", "/a~b", "/a~"] {
            assert!(check_pointer(bad).is_err(), "{bad:?}");
        }
    }
}
