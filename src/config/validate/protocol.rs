//! `protocol` and `protocol_options`: the preset and its settings, each checked as the
//! protocol's own document constrains it, templates allowed in every text.

use super::environment::{Carrier, TokenUses};
use super::*;
use crate::config::protocols::*;

/// Every `protocol_options` key, where it is written: a preset that does not read one
/// refuses it.
fn present_keys(o: &RawProtocolOptions) -> [(&'static str, Option<&Location>); 17] {
    fn at<T>(value: &Option<Located<T>>) -> Option<&Location> {
        value.as_ref().map(|v| &v.referenced)
    }
    [
        ("payload", at(&o.payload)),
        ("subscribe", at(&o.subscribe)),
        ("namespace", at(&o.namespace)),
        ("auth", at(&o.auth)),
        ("host", at(&o.host)),
        ("login", at(&o.login)),
        ("passcode", at(&o.passcode)),
        ("destination", at(&o.destination)),
        ("heart_beat", at(&o.heart_beat)),
        ("version", at(&o.version)),
        ("client_id", at(&o.client_id)),
        ("username", at(&o.username)),
        ("password", at(&o.password)),
        ("topic", at(&o.topic)),
        ("keep_alive", at(&o.keep_alive)),
        ("within", at(&o.within)),
        ("", None),
    ]
}

/// The longest string MQTT can carry (a two-byte length).
const MQTT_STRING_MAX: usize = u16::MAX as usize;
const DEFAULT_MQTT_KEEP_ALIVE: Duration = Duration::from_secs(60);
const DEFAULT_STOMP_HEART_BEAT: Duration = Duration::from_secs(10);

impl Validator<'_> {
    /// The environment's preset, or `defaults`'; `None` for `none` or no `protocol`.
    pub(super) fn protocol<'r>(
        &self,
        layers: &Layers<'r>,
        url: &Url,
        timeout: Duration,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<Option<Protocol>> {
        let options = layers.pick(|e| &e.protocol_options, "protocol_options");
        let Some((name, name_key)) = layers.pick(|e| &e.protocol, "protocol") else {
            return match options {
                Some((options, key)) => Err(self.err(
                    options,
                    &key,
                    "protocol_options without `protocol`: name the preset they are for",
                )),
                None => Ok(None),
            };
        };
        let known = PROTOCOLS
            .iter()
            .find(|(known, _)| *known == name.value.trim());
        let Some((name_text, keys)) = known else {
            return Err(self.err(
                name,
                &name_key,
                format!(
                    "unknown protocol {:?}: expected graphql-transport-ws, graphql-ws, socket.io, stomp, mqtt or none",
                    name.value
                ),
            ));
        };
        let empty = RawProtocolOptions::default();
        let (raw, key) = match options {
            Some((options, key)) => {
                self.option_templates(&options.value, &key, token_uses)?;
                (&options.value, key)
            }
            None => (&empty, format!("{}.protocol_options", layers.here)),
        };
        let mut allowed = keys.to_vec();
        if *name_text != "none" {
            allowed.push("within");
        }
        self.refuse_unused("protocol", name_text, &allowed, &present_keys(raw), &key)?;
        let within = match &raw.within {
            Some(value) => self.within_timeout(value, &format!("{key}.within"), timeout)?,
            None => DEFAULT_WITHIN.min(timeout),
        };
        let preset = match *name_text {
            "graphql-transport-ws" => Preset::GraphqlTransportWs(self.graphql(raw, &key)?),
            "graphql-ws" => Preset::GraphqlWs(self.graphql(raw, &key)?),
            "socket.io" => Preset::SocketIo(self.socket_io(raw, &key)?),
            "stomp" => Preset::Stomp(self.stomp(raw, &key, url)?),
            "mqtt" => Preset::Mqtt(self.mqtt(raw, &key)?),
            _ => return Ok(None),
        };
        Ok(Some(Protocol { preset, within }))
    }

    fn within_timeout(&self, value: &Text, key: &str, timeout: Duration) -> Result<Duration> {
        let within = self.positive_duration(value, key)?;
        if within > timeout {
            return Err(self.err(
                value,
                key,
                format!(
                    "{} is longer than the probe's timeout {}",
                    humantime::format_duration(within),
                    humantime::format_duration(timeout)
                ),
            ));
        }
        Ok(within)
    }

    /// `{token}` may go in any text of the options; it is sent in a message, so it needs auth
    /// like a `send` does.
    fn option_templates<'r>(
        &self,
        raw: &'r RawProtocolOptions,
        key: &str,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<()> {
        let texts = [
            ("namespace", &raw.namespace),
            ("host", &raw.host),
            ("login", &raw.login),
            ("passcode", &raw.passcode),
            ("destination", &raw.destination),
            ("client_id", &raw.client_id),
            ("username", &raw.username),
            ("password", &raw.password),
            ("topic", &raw.topic),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                self.template_use(
                    &value.referenced,
                    &value.value,
                    &format!("{key}.{name}"),
                    token_uses,
                )?;
            }
        }
        let subscribe_variables = raw
            .subscribe
            .as_ref()
            .and_then(|s| s.value.variables.as_ref());
        let json = [
            ("payload", raw.payload.as_ref()),
            ("auth", raw.auth.as_ref()),
            ("subscribe.variables", subscribe_variables),
        ];
        for (name, value) in json {
            if let Some(value) = value {
                let mut strings = Vec::new();
                json_texts(&value.value, &mut strings);
                for text in strings {
                    self.template_use(
                        &value.referenced,
                        text,
                        &format!("{key}.{name}"),
                        token_uses,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn template_use<'r>(
        &self,
        at: &'r Location,
        text: &str,
        key: &str,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<()> {
        if uses_token(text).map_err(|message| self.at(at, key, message))? {
            token_uses.push((at, key.to_owned(), Carrier::Message));
        }
        Ok(())
    }

    fn graphql(&self, raw: &RawProtocolOptions, key: &str) -> Result<GraphqlOptions> {
        let payload = match &raw.payload {
            Some(payload) if !payload.value.is_object() => {
                return Err(self.err(
                    payload,
                    &format!("{key}.payload"),
                    "connection_init's payload is a mapping (the server's connectionParams)",
                ));
            }
            Some(payload) => Some(payload.value.clone()),
            None => None,
        };
        let subscribe = match &raw.subscribe {
            Some(subscribe) => {
                Some(self.graphql_operation(subscribe, &format!("{key}.subscribe"))?)
            }
            None => None,
        };
        Ok(GraphqlOptions { payload, subscribe })
    }

    fn graphql_operation(
        &self,
        raw: &Located<RawSubscribe>,
        key: &str,
    ) -> Result<GraphqlOperation> {
        let query = self.required(&raw.value.query, &raw.referenced, key, "query")?;
        if query.value.trim().is_empty() {
            return Err(self.err(
                query,
                &format!("{key}.query"),
                "is empty: write the GraphQL document to run",
            ));
        }
        let variables = match &raw.value.variables {
            Some(variables) if !variables.value.is_object() => {
                return Err(self.err(
                    variables,
                    &format!("{key}.variables"),
                    "GraphQL variables are a mapping of name to value",
                ));
            }
            other => other.as_ref().map(|v| v.value.clone()),
        };
        Ok(GraphqlOperation {
            query: query.value.clone(),
            variables,
            operation_name: raw.value.operation_name.as_ref().map(|n| n.value.clone()),
        })
    }

    fn socket_io(&self, raw: &RawProtocolOptions, key: &str) -> Result<SocketIoOptions> {
        let namespace = match &raw.namespace {
            Some(namespace)
                if !namespace.value.starts_with('/') || namespace.value.contains(',') =>
            {
                return Err(self.err(
                    namespace,
                    &format!("{key}.namespace"),
                    "a Socket.IO namespace starts with / (like /chat) and has no comma",
                ));
            }
            Some(namespace) => namespace.value.clone(),
            None => "/".to_owned(),
        };
        let auth = match &raw.auth {
            Some(auth) if !auth.value.is_object() => {
                return Err(self.err(
                    auth,
                    &format!("{key}.auth"),
                    "Socket.IO's auth is a mapping (socket.handshake.auth on the server)",
                ));
            }
            other => other.as_ref().map(|a| a.value.clone()),
        };
        Ok(SocketIoOptions { namespace, auth })
    }

    fn stomp(&self, raw: &RawProtocolOptions, key: &str, url: &Url) -> Result<StompOptions> {
        for (name, value) in [
            ("host", &raw.host),
            ("login", &raw.login),
            ("passcode", &raw.passcode),
            ("destination", &raw.destination),
        ] {
            // A header value ends at its line: a line break would start a header of its own.
            if let Some(value) = value
                && value.value.contains(['\n', '\r', '\0'])
            {
                return Err(self.err(
                    value,
                    &format!("{key}.{name}"),
                    "a STOMP header value cannot hold a line break or NUL",
                ));
            }
        }
        let heart_beat = match &raw.heart_beat {
            Some(value) => self.duration(value, &format!("{key}.heart_beat"))?,
            None => DEFAULT_STOMP_HEART_BEAT,
        };
        Ok(StompOptions {
            host: raw
                .host
                .as_ref()
                .map(|h| h.value.clone())
                .or_else(|| url.host_str().map(str::to_owned))
                .unwrap_or_default(),
            login: raw.login.as_ref().map(|l| l.value.clone()),
            passcode: raw
                .passcode
                .as_ref()
                .map(|p| self.secret(p, &format!("{key}.passcode")))
                .transpose()?,
            destination: raw.destination.as_ref().map(|d| d.value.clone()),
            heart_beat,
        })
    }

    fn mqtt(&self, raw: &RawProtocolOptions, key: &str) -> Result<MqttOptions> {
        let version = match &raw.version {
            None => MqttVersion::V311,
            Some(value) => match &value.value {
                serde_json::Value::String(v) if v == "3.1.1" => MqttVersion::V311,
                serde_json::Value::String(v) if v == "5" || v == "5.0" => MqttVersion::V5,
                serde_json::Value::Number(n) if n.as_f64() == Some(5.0) => MqttVersion::V5,
                _ => {
                    return Err(self.err(
                        value,
                        &format!("{key}.version"),
                        "the MQTT versions are \"3.1.1\" and 5",
                    ));
                }
            },
        };
        for (name, value) in [
            ("client_id", &raw.client_id),
            ("username", &raw.username),
            ("password", &raw.password),
            ("topic", &raw.topic),
        ] {
            if let Some(value) = value
                && value.value.len() > MQTT_STRING_MAX
            {
                return Err(self.err(
                    value,
                    &format!("{key}.{name}"),
                    "longer than MQTT's 65535 bytes",
                ));
            }
        }
        Ok(MqttOptions {
            version,
            client_id: raw.client_id.as_ref().map(|c| c.value.clone()),
            username: raw.username.as_ref().map(|u| u.value.clone()),
            password: raw
                .password
                .as_ref()
                .map(|p| self.secret(p, &format!("{key}.password")))
                .transpose()?,
            topic: self.mqtt_topic(raw.topic.as_ref(), key)?,
            keep_alive: self.keep_alive(raw.keep_alive.as_ref(), key)?,
        })
    }

    fn mqtt_topic(&self, topic: Option<&Text>, key: &str) -> Result<Option<String>> {
        match topic {
            Some(topic) if topic.value.is_empty() || topic.value.contains('\0') => Err(self.err(
                topic,
                &format!("{key}.topic"),
                "an MQTT topic filter is at least one character and has no NUL",
            )),
            other => Ok(other.map(|t| t.value.clone())),
        }
    }

    /// MQTT's Keep Alive is whole seconds in two bytes.
    fn keep_alive(&self, value: Option<&Text>, key: &str) -> Result<Duration> {
        let Some(value) = value else {
            return Ok(DEFAULT_MQTT_KEEP_ALIVE);
        };
        let key = format!("{key}.keep_alive");
        let keep_alive = self.positive_duration(value, &key)?;
        if keep_alive.subsec_nanos() != 0 || keep_alive.as_secs() > u64::from(u16::MAX) {
            return Err(self.err(
                value,
                &key,
                "MQTT's Keep Alive is whole seconds, from 1s to 65535s",
            ));
        }
        Ok(keep_alive)
    }
}

/// Every string in a JSON value.
fn json_texts<'v>(value: &'v serde_json::Value, into: &mut Vec<&'v str>) {
    match value {
        serde_json::Value::String(text) => into.push(text),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_texts(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_texts(v, into)),
        _ => {}
    }
}
