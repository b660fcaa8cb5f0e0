//! `alerts` and each environment's `alert`: policies, channels, maintenance windows.

use super::*;
use crate::config::channels::{ChannelKind, ENTRY_KEYS, RawChannel, TextList};

/// More re-probes than this make "confirm" a second schedule.
const MAX_CONFIRM_ATTEMPTS: u32 = 10;

impl Validator<'_> {
    pub(super) fn heartbeat(&self, raw: &Located<RawHeartbeat>) -> Result<Heartbeat> {
        let key = "alerts.heartbeat";
        let url = self.required(&raw.value.url, &raw.referenced, key, "url")?;
        self.url(url, &format!("{key}.url"), &["https", "http"])?;
        let every = match &raw.value.every {
            Some(value) => self.positive_duration(value, &format!("{key}.every"))?,
            None => DEFAULT_HEARTBEAT_EVERY,
        };
        Ok(Heartbeat {
            url: self.secret(url, &format!("{key}.url"))?,
            every,
        })
    }

    /// `alert` merges key by key: `defaults.alert.channels` can route every environment.
    pub(super) fn alert_override(
        &self,
        own: Option<&RawAlertPolicy>,
        defaults: Option<&RawAlertPolicy>,
        here: &str,
        channels: &[ChannelConfig],
    ) -> Result<AlertPolicyOverride> {
        let empty = RawAlertPolicy::default();
        let (own, defaults) = (own.unwrap_or(&empty), defaults.unwrap_or(&empty));
        let own_prefix = format!("{here}.alert");
        // The environment's own key wins over `defaults.alert`'s; the key path says whose.
        macro_rules! layer {
            ($field:ident) => {
                pick(
                    &own.$field,
                    &defaults.$field,
                    &own_prefix,
                    "defaults.alert",
                    stringify!($field),
                )
            };
        }
        let channel_names = layer!(channels)
            .map(|(list, key)| self.channel_names(list, &key, channels))
            .transpose()?;
        let threshold = |value: Option<(&Located<u32>, String)>| -> Result<Option<u32>> {
            match value {
                Some((v, key)) if v.value == 0 => Err(self.err(v, &key, "must be at least 1")),
                Some((v, _)) => Ok(Some(v.value)),
                None => Ok(None),
            }
        };
        Ok(AlertPolicyOverride {
            channels: channel_names,
            failure_threshold: threshold(layer!(failure_threshold))?,
            success_threshold: threshold(layer!(success_threshold))?,
            repeat_every: layer!(repeat_every)
                .map(|(value, key)| self.positive_duration(value, &key))
                .transpose()?,
            send_resolved: own.send_resolved.or(defaults.send_resolved),
            alert_on_degraded: own.alert_on_degraded.or(defaults.alert_on_degraded),
            confirm: layer!(confirm)
                .map(|(raw, key)| self.confirm(raw, &key))
                .transpose()?,
            flapping: layer!(flapping)
                .map(|(raw, key)| self.flapping(raw, &key))
                .transpose()?,
        })
    }

    /// `alert.channels`: every name one of `alerts.channels`.
    fn channel_names(
        &self,
        list: &[Text],
        key: &str,
        channels: &[ChannelConfig],
    ) -> Result<Vec<String>> {
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
        Ok(names)
    }

    /// A `confirm:` block; keys left out take the built-in defaults.
    fn confirm(&self, raw: &RawConfirm, key: &str) -> Result<Confirm> {
        let mut confirm = Confirm::default();
        if let Some(attempts) = &raw.attempts {
            if attempts.value > MAX_CONFIRM_ATTEMPTS {
                return Err(self.err(
                    attempts,
                    &format!("{key}.attempts"),
                    format!(
                        "must be at most {MAX_CONFIRM_ATTEMPTS}: a failure confirmed that often is no blip"
                    ),
                ));
            }
            confirm.attempts = attempts.value;
        }
        if let Some(every) = &raw.every {
            confirm.every = self.positive_duration(every, &format!("{key}.every"))?;
        }
        Ok(confirm)
    }

    /// A `flapping:` block; keys left out take Nagios' defaults.
    fn flapping(&self, raw: &RawFlapping, key: &str) -> Result<Flapping> {
        let mut flapping = Flapping::default();
        if let Some(enabled) = raw.enabled {
            flapping.enabled = enabled;
        }
        if let Some(window) = &raw.window {
            if !(3..=MAX_FLAP_WINDOW).contains(&window.value) {
                return Err(self.err(
                    window,
                    &format!("{key}.window"),
                    format!("must be from 3 to {} results", MAX_FLAP_WINDOW),
                ));
            }
            flapping.window = window.value;
        }
        for (value, name, into) in [
            (&raw.high, "high", &mut flapping.high),
            (&raw.low, "low", &mut flapping.low),
        ] {
            if let Some(value) = value {
                if !(value.value > 0.0 && value.value <= 100.0) {
                    return Err(self.err(
                        value,
                        &format!("{key}.{name}"),
                        "must be a percentage above 0 and at most 100",
                    ));
                }
                *into = value.value;
            }
        }
        if flapping.low >= flapping.high {
            let at = raw.low.as_ref().or(raw.high.as_ref());
            let message = format!(
                "low ({}) must be below high ({}): flapping stops below low and starts at high",
                flapping.low, flapping.high
            );
            return Err(match at {
                Some(at) => self.err(at, key, message),
                None => self.within(key, message),
            });
        }
        Ok(flapping)
    }

    pub(super) fn policy_defaults(&self, raw: RawPolicyDefaults) -> Result<AlertPolicy> {
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
            (
                &raw.min_locations,
                "min_locations",
                &mut policy.min_locations,
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
        if let Some(confirm) = &raw.confirm {
            policy.confirm = self.confirm(confirm, "alerts.defaults.confirm")?;
        }
        if let Some(flapping) = &raw.flapping {
            policy.flapping = self.flapping(flapping, "alerts.defaults.flapping")?;
        }
        Ok(policy)
    }

    pub(super) fn channels(&self, raw: &[Spanned<RawChannel>]) -> Result<Vec<ChannelConfig>> {
        let mut channels: Vec<ChannelConfig> = Vec::new();
        for (index, entry) in raw.iter().enumerate() {
            let here = format!("alerts.channels[{index}]");
            let name = self.required(&entry.value.name, &entry.referenced, &here, "name")?;
            let key = format!("{here}.name");
            if name.value.trim().is_empty() {
                return Err(self.err(name, &key, "must not be empty"));
            }
            if channels.iter().any(|channel| channel.name == name.value) {
                let message = format!("duplicate channel name {:?}", name.value);
                return Err(self.err(name, &key, message));
            }
            let kind = self.channel_kind(entry, &here)?;
            channels.push(ChannelConfig {
                name: name.value.clone(),
                kind,
            });
        }
        Ok(channels)
    }

    /// The entry's `kind`, and its settings read by that kind from the keys it takes.
    fn channel_kind(&self, entry: &Spanned<RawChannel>, here: &str) -> Result<ChannelKind> {
        let kind = self.required(&entry.value.kind, &entry.referenced, here, "kind")?;
        let Some(takes) = ChannelKind::keys_of(&kind.value) else {
            let message = format!(
                "unknown channel kind {:?}: expected {}",
                kind.value,
                one_of(ChannelKind::NAMES)
            );
            return Err(self.err(kind, &format!("{here}.kind"), message));
        };
        // In the order of the registry, not of the file: the first refused is always the same.
        let present: Vec<(&str, Option<&Location>)> = ENTRY_KEYS[2..]
            .iter()
            .map(|key| (*key, entry.value.location(key)))
            .collect();
        self.refuse_unused("channel kind", &kind.value, takes, &present, here)?;
        let keys = ChannelKeys {
            validator: self,
            entry,
            here,
        };
        ChannelKind::parse(&kind.value, &keys).expect("a kind with keys is registered")
    }

    pub(super) fn maintenance(
        &self,
        index: usize,
        raw: &Located<RawMaintenance>,
        environments: &[Arc<Environment>],
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
}

fn unknown_channel(name: &str, channels: &[ChannelConfig]) -> String {
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

/// `a, b or c`.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// One `alerts.channels` entry's keys, as its kind reads them (`ChannelSettings::parse`):
/// every error is at the value at fault, or at the entry for a missing key.
pub(crate) struct ChannelKeys<'a> {
    validator: &'a Validator<'a>,
    entry: &'a Spanned<RawChannel>,
    /// `alerts.channels[i]`.
    here: &'a str,
}

impl ChannelKeys<'_> {
    pub fn get(&self, key: &str) -> Option<&Text> {
        self.entry.value.get(key)
    }

    /// The value of `key`, which the kind needs.
    pub fn required(&self, key: &str) -> Result<&Text> {
        self.get(key).ok_or_else(|| {
            self.validator.at(
                &self.entry.referenced,
                self.here,
                format!("missing key `{key}`"),
            )
        })
    }

    /// `value` (of `key`) as a secret: it must not be empty.
    pub fn secret(&self, value: &Text, key: &str) -> Result<Secret> {
        self.validator.secret(value, &self.path(key))
    }

    /// `value` (of `key`) as an https or http URL.
    pub fn url(&self, value: &Text, key: &str) -> Result<Url> {
        self.validator
            .url(value, &self.path(key), &["https", "http"])
    }

    /// The items of list key `key` (one of the kind's `LISTS`), each with the name its errors
    /// give it: `to[1]`, or `to` for a lone string.
    pub fn items(&self, key: &str) -> Option<Vec<(String, Text)>> {
        let list = self.entry.value.list(key)?;
        let sequence = list.value.is_sequence;
        Some(
            TextList::items(list)
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let name = if sequence {
                        format!("{key}[{i}]")
                    } else {
                        key.to_owned()
                    };
                    (name, item)
                })
                .collect(),
        )
    }

    /// What is wrong with list key `key` as a whole (it must be present), at its position.
    pub fn list_error(&self, key: &str, message: impl Display) -> ConfigError {
        match self.entry.value.list(key) {
            Some(list) => self.validator.err(list, &self.path(key), message),
            None => self
                .validator
                .at(&self.entry.referenced, self.here, message),
        }
    }

    /// `true` or `false` under `key`; `false` when absent.
    pub fn flag(&self, key: &str) -> Result<bool> {
        match self.get(key) {
            None => Ok(false),
            Some(value) => match value.value.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => {
                    Err(self.error(value, key, format!("expected true or false, not {other:?}")))
                }
            },
        }
    }

    /// `value` (of `key`) as a TCP port.
    pub fn port(&self, value: &Text, key: &str) -> Result<u16> {
        match value.value.trim().parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(self.error(
                value,
                key,
                format!(
                    "invalid port {:?}: expected a number from 1 to 65535",
                    value.value
                ),
            )),
        }
    }

    /// `value` (of `key`) as a PEM file of CA certificates, read now (relative to the
    /// config's folder): its path and its contents.
    pub fn ca_file(&self, value: &Text, key: &str) -> Result<(PathBuf, Vec<u8>)> {
        self.validator.ca_file(value, &self.path(key))
    }

    /// What is wrong with `value` (of `key`), at its position.
    pub fn error(&self, value: &Text, key: &str, message: impl Display) -> ConfigError {
        self.validator.err(value, &self.path(key), message)
    }

    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.here)
    }
}
