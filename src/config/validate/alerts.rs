//! `alerts` and each environment's `alert`: policies, channels, maintenance windows.

use super::*;

/// The `kind` of an `alerts.channels` entry, before its keys are read.
#[derive(Debug, Clone, Copy)]
enum ChannelType {
    Slack,
    PagerDuty,
    Webhook,
    Log,
}

impl ChannelType {
    fn parse(text: &str) -> Option<ChannelType> {
        Some(match text {
            "slack" => ChannelType::Slack,
            "pagerduty" => ChannelType::PagerDuty,
            "webhook" => ChannelType::Webhook,
            "log" => ChannelType::Log,
            _ => return None,
        })
    }

    /// The keys besides `name` and `kind` that this kind reads.
    fn keys(self) -> &'static [&'static str] {
        match self {
            ChannelType::Slack => &["webhook_url"],
            ChannelType::PagerDuty => &["routing_key", "severity", "events_url"],
            ChannelType::Webhook => &["url", "secret"],
            ChannelType::Log => &[],
        }
    }
}

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
        let threshold = |value: Option<(&Located<u32>, String)>| -> Result<Option<u32>> {
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
        Ok(policy)
    }

    pub(super) fn channels(&self, raw: &[Spanned<RawChannel>]) -> Result<Vec<Channel>> {
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
            let kind_text = self.required(&c.kind, &item.referenced, &here, "kind")?;

            let present: [(&str, Option<&Location>); 6] = [
                ("webhook_url", c.webhook_url.as_ref().map(|v| &v.referenced)),
                ("routing_key", c.routing_key.as_ref().map(|v| &v.referenced)),
                ("severity", c.severity.as_ref().map(|v| &v.referenced)),
                ("events_url", c.events_url.as_ref().map(|v| &v.referenced)),
                ("url", c.url.as_ref().map(|v| &v.referenced)),
                ("secret", c.secret.as_ref().map(|v| &v.referenced)),
            ];
            let kind = ChannelType::parse(&kind_text.value).ok_or_else(|| {
                self.err(
                    kind_text,
                    &field("kind"),
                    format!(
                        "unknown channel kind {:?}: expected slack, pagerduty, webhook or log",
                        kind_text.value
                    ),
                )
            })?;
            self.refuse_unused(
                "channel kind",
                &kind_text.value,
                kind.keys(),
                &present,
                &here,
            )?;

            let channel_kind = match kind {
                ChannelType::Slack => {
                    let url =
                        self.required(&c.webhook_url, &item.referenced, &here, "webhook_url")?;
                    let secret = self.secret(url, &field("webhook_url"))?;
                    // Checked for shape only: the URL is the secret, so it is kept as one.
                    self.url(url, &field("webhook_url"), &["https", "http"])?;
                    ChannelKind::Slack {
                        webhook_url: secret,
                    }
                }
                ChannelType::PagerDuty => {
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
                ChannelType::Webhook => {
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
                ChannelType::Log => ChannelKind::Log,
            };
            channels.push(Channel {
                name: name.value.clone(),
                kind: channel_kind,
            });
        }
        Ok(channels)
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
