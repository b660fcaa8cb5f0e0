//! Raw mirror → typed [`Config`]: defaults merged, every value checked once, every error at the
//! position (in the original file) of the value it is about.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

mod alerts;
pub(super) use alerts::ChannelKeys;
mod auth;
mod dependencies;
mod dialect;
mod environment;
mod grouping;
mod keepalive;
mod matcher;
mod protocol;
use matcher::MatcherKeys;
mod network;
pub(crate) use network::VariablesRead;
mod service;
mod slo;

type Result<T, E = ConfigError> = std::result::Result<T, E>;

pub(crate) struct Validator<'a> {
    pub source: &'a Path,
    /// Relative paths in the file (`ca_file`, `key`, `storage.path`) are relative to this.
    pub dir: PathBuf,
    pub text: &'a Interpolated,
    /// `defaults.steps` as validated for the timeout they were last checked against: every
    /// environment that takes them shares one list instead of a copy each.
    pub default_steps: RefCell<Option<(Duration, Arc<[Step]>)>>,
    /// Every schedule expression parsed so far: environments with the same one share it.
    pub schedules: RefCell<HashMap<String, Schedule>>,
    /// `HTTPS_PROXY` and the other proxy variables, for environments without a `proxy` key.
    pub proxy_variables: VariablesRead,
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
                super::wording::not_a_duration(&value.value, &err),
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
        self.shared_schedule(&value.value)
            .map_err(|message| self.err(value, key, message))
    }

    /// `expression` parsed once per config, however many environments use it.
    fn shared_schedule(&self, expression: &str) -> Result<Schedule, String> {
        if let Some(parsed) = self.schedules.borrow().get(expression) {
            return Ok(parsed.clone());
        }
        let parsed = Schedule::parse(expression)?;
        self.schedules
            .borrow_mut()
            .insert(expression.to_owned(), parsed.clone());
        Ok(parsed)
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
        let defaults = raw
            .defaults
            .as_ref()
            .map_or(&empty, |defaults| &defaults.value);
        self.refuse_identity_in_defaults(defaults)?;
        let alerts = raw.alerts.unwrap_or_default();
        let channels = self.channels(alerts.channels.as_deref().unwrap_or_default())?;
        let environments = match self.environments(raw.environments.as_ref(), defaults, &channels) {
            Ok(environments) => environments,
            // The sections that do not depend on the environments are read too, so that one
            // run names every mistake.
            Err(err) => {
                let mut errors = err.into_list();
                let server = self.server(raw.server.unwrap_or_default(), None);
                let storage = self.storage(raw.storage.unwrap_or_default());
                let telemetry = self.telemetry(raw.telemetry);
                errors.extend(server.err().into_iter().flat_map(ConfigError::into_list));
                errors.extend(storage.err().into_iter().flat_map(ConfigError::into_list));
                errors.extend(telemetry.err().into_iter().flat_map(ConfigError::into_list));
                return Err(ConfigError::many(errors));
            }
        };
        let maintenance = alerts
            .maintenance
            .as_deref()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, window)| self.maintenance(index, window, &environments))
            .collect::<Result<Vec<_>>>()?;
        let location = self.location(raw.location, raw.storage.as_ref())?;
        let alerts = self.alerts_config(alerts, channels, maintenance)?;
        let server = self.server(raw.server.unwrap_or_default(), Some(&environments))?;
        Ok(Config {
            source: self.source.to_path_buf(),
            location,
            environments,
            alerts,
            server,
            storage: self.storage(raw.storage.unwrap_or_default())?,
            telemetry: self.telemetry(raw.telemetry)?,
            variable_values: self.text.variable_values.clone(),
            variables: self.text.variables.clone(),
            by_name: Default::default(),
        })
    }

    /// `defaults` shares the environment's key list, but `name` and `url` are each
    /// environment's own.
    fn refuse_identity_in_defaults(&self, defaults: &RawEnvironment) -> Result<()> {
        for (field, key) in [(&defaults.name, "name"), (&defaults.url, "url")] {
            if let Some(value) = field {
                return Err(self.err(
                    value,
                    &format!("defaults.{key}"),
                    "not allowed in defaults: every environment sets its own",
                ));
            }
        }
        if let Some(first) = defaults.depends_on.iter().flatten().next() {
            return Err(self.err(
                first,
                "defaults.depends_on",
                "not allowed in defaults: an environment cannot depend on itself",
            ));
        }
        Ok(())
    }

    /// At least one environment, each name used once.
    fn environments(
        &self,
        raw_envs: Option<&Located<Vec<Located<Box<RawEnvironment>>>>>,
        defaults: &RawEnvironment,
        channels: &[ChannelConfig],
    ) -> Result<Vec<Arc<Environment>>> {
        let Some(raw_envs) = raw_envs else {
            return Err(self.within("environments", "at least one environment is required"));
        };
        if raw_envs.value.is_empty() {
            return Err(self.err(
                raw_envs,
                "environments",
                "at least one environment is required",
            ));
        }
        let mut environments: Vec<Arc<Environment>> = Vec::with_capacity(raw_envs.value.len());
        let mut first_seen: HashMap<String, u64> = HashMap::new();
        // Each environment stands alone: a mistake in one is reported with those of the others.
        let mut errors = Vec::new();
        for (index, raw_env) in raw_envs.value.iter().enumerate() {
            // A name used twice is a mistake whether or not the first environment is valid.
            if let Some(name) = &raw_env.value.name {
                let line = self
                    .text
                    .original_position(name.referenced.line(), name.referenced.column())
                    .0;
                if let Some(first) = first_seen.insert(name.value.clone(), line) {
                    errors.push(self.err(
                        name,
                        &format!("environments[{index}].name"),
                        format!(
                            "duplicate environment name {:?} (first used at line {first})",
                            name.value
                        ),
                    ));
                    continue;
                }
            }
            match self.environment(index, raw_env, defaults, channels) {
                Ok(env) => environments.push(Arc::new(env)),
                Err(err) => errors.push(err),
            }
        }
        if errors.is_empty() {
            self.dependencies(raw_envs, &environments)?;
            Ok(environments)
        } else {
            Err(ConfigError::many(errors))
        }
    }

    /// `location`, trimmed; required when the store is shared by a fleet.
    fn location(
        &self,
        location: Option<Text>,
        storage: Option<&RawStorage>,
    ) -> Result<Option<String>> {
        let location = location
            .map(|location| location.value.trim().to_owned())
            .filter(|location| !location.is_empty());
        if let Some(url) = storage.and_then(|s| s.url.as_ref())
            && location.is_none()
        {
            return Err(self.err(
                url,
                "location",
                "is required with storage.url: each instance of a fleet says where it probes from (location: eu-west)",
            ));
        }
        Ok(location)
    }

    fn alerts_config(
        &self,
        alerts: RawAlerts,
        channels: Vec<ChannelConfig>,
        maintenance: Vec<MaintenanceWindow>,
    ) -> Result<AlertsConfig> {
        Ok(AlertsConfig {
            defaults: self.policy_defaults(alerts.defaults.unwrap_or_default())?,
            channels,
            maintenance,
            give_up_after: match &alerts.give_up_after {
                Some(value) => self.positive_duration(value, "alerts.give_up_after")?,
                None => DEFAULT_GIVE_UP_AFTER,
            },
            heartbeat: alerts
                .heartbeat
                .as_ref()
                .map(|raw| self.heartbeat(raw))
                .transpose()?,
            grouping: alerts
                .grouping
                .as_ref()
                .map(|raw| self.grouping(raw))
                .transpose()?,
        })
    }

    /// Refuse keys that the chosen `kind` does not read: a `secret` under `kind: bearer` is a
    /// mistake, not something to ignore. `what` names the kind's family ("auth kind").
    fn refuse_unused(
        &self,
        what: &str,
        kind: &str,
        allowed: &[&str],
        present: &[(&str, Option<&Location>)],
        key: &str,
    ) -> Result<()> {
        for (name, location) in present {
            if let Some(location) = location
                && !allowed.contains(name)
            {
                let takes = if allowed.is_empty() {
                    "no other keys".to_owned()
                } else {
                    allowed.join(", ")
                };
                return Err(self.at(
                    location,
                    &format!("{key}.{name}"),
                    format!("not used by {what} {kind} (it takes: {takes})"),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn positive_count(&self, value: &Located<u64>, key: &str) -> Result<usize> {
        match usize::try_from(value.value) {
            Ok(0) => Err(self.err(value, key, "must be greater than 0")),
            Ok(count) => Ok(count),
            Err(_) => Err(self.err(value, key, "is too large")),
        }
    }

    pub(super) fn timestamp(&self, value: &Text, key: &str) -> Result<DateTime<Utc>> {
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
