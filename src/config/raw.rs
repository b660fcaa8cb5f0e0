//! The serde mirror of probes.yaml: exactly the SPEC's keys (`deny_unknown_fields` everywhere),
//! nothing checked beyond YAML types.
//!
//! Every key is optional here, even required ones: serde-saphyr reports a missing field at the
//! last key it read, which points users at the wrong line, so validation reports missing keys
//! itself at the position of the enclosing mapping. Values that validation inspects are
//! `Spanned` for the same reason. No `flatten`, no internally tagged or untagged enums: serde
//! buffers those and `Spanned` loses its position inside them.

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub(crate) use super::channels::RawChannel;

pub(crate) type Text = Spanned<String>;

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Config")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[schemars(with = "Option<String>")]
    pub location: Option<Text>,
    #[schemars(with = "Option<RawEnvironment>")]
    pub defaults: Option<Spanned<RawEnvironment>>,
    #[schemars(with = "Option<Vec<RawEnvironment>>")]
    pub environments: Option<Spanned<Vec<Spanned<RawEnvironment>>>>,
    pub alerts: Option<RawAlerts>,
    pub server: Option<RawServer>,
    pub storage: Option<RawStorage>,
    pub telemetry: Option<RawTelemetry>,
}

/// One environment, and also `defaults` (where `name` and `url` are refused by validation, so
/// that both share one key list and cannot drift apart).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Environment")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvironment {
    #[schemars(with = "Option<String>")]
    pub name: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub url: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub schedule: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub jitter: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Text>,
    #[schemars(with = "Option<u32>")]
    pub retries: Option<Spanned<u32>>,
    #[schemars(with = "Option<String>")]
    pub degraded_after: Option<Text>,
    #[schemars(with = "Option<u32>")]
    pub cert_warn_days: Option<Spanned<u32>>,
    #[schemars(with = "Option<RawHealth>")]
    pub health: Option<Spanned<RawHealth>>,
    #[schemars(with = "Option<RawAuth>")]
    pub auth: Option<Spanned<RawAuth>>,
    #[schemars(with = "Option<std::collections::BTreeMap<String,String>>")]
    pub headers: Option<OrderedMap<Text>>,
    #[schemars(with = "Option<Vec<String>>")]
    pub subprotocols: Option<Vec<Text>>,
    #[schemars(with = "Option<String>")]
    pub expect_subprotocol: Option<Text>,
    pub tls: Option<RawTls>,
    #[schemars(with = "Option<Vec<RawStep>>")]
    pub steps: Option<Vec<Spanned<RawStep>>>,
    #[schemars(with = "Option<RawEcho>")]
    pub echo: Option<Spanned<RawEcho>>,
    #[schemars(with = "Option<RawVersion>")]
    pub version: Option<Spanned<RawVersion>>,
    pub alert: Option<RawAlertPolicy>,
    #[schemars(with = "Option<u64>")]
    pub max_message_bytes: Option<Spanned<u64>>,
    #[schemars(with = "Option<u64>")]
    pub max_messages: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Health")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    #[schemars(with = "Option<String>")]
    pub url: Option<Text>,
    #[schemars(with = "Option<u16>")]
    pub expect_status: Option<Spanned<u16>>,
    #[schemars(with = "Option<RawExpectBody>")]
    pub expect_body: Option<Spanned<RawExpectBody>>,
}

/// `health.expect_body`: what the health answer's body must say.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "ExpectBody")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectBody {
    #[schemars(with = "Option<std::collections::BTreeMap<String,serde_json::Value>>")]
    pub json: Option<Spanned<OrderedMap<serde_json::Value>>>,
    #[schemars(with = "Option<String>")]
    pub contains: Option<Text>,
}

/// Every auth kind's keys in one mapping; validation refuses keys the chosen kind does not use.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Auth")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    #[schemars(with = "Option<String>")]
    pub kind: Option<Text>,
    // bearer
    #[schemars(with = "Option<String>")]
    pub token: Option<Text>,
    // jwt
    #[schemars(with = "Option<String>")]
    pub secret: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub key: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub algorithm: Option<Text>,
    #[schemars(with = "Option<serde_json::Map<String,serde_json::Value>>")]
    pub claims: Option<Spanned<serde_json::Map<String, serde_json::Value>>>,
    #[schemars(with = "Option<String>")]
    pub ttl: Option<Text>,
    // token_endpoint
    #[schemars(with = "Option<String>")]
    pub url: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub method: Option<Text>,
    #[schemars(with = "Option<std::collections::BTreeMap<String,String>>")]
    pub headers: Option<Spanned<OrderedMap<String>>>,
    #[schemars(with = "Option<serde_json::Value>")]
    pub body: Option<Spanned<serde_json::Value>>,
    #[schemars(with = "Option<String>")]
    pub token_pointer: Option<Text>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Tls")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    #[schemars(with = "Option<String>")]
    pub ca_file: Option<Text>,
    pub insecure_skip_verify: Option<bool>,
}

/// `- expect: {...}` or `- send: "..."`: exactly one of the two, checked by validation.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Step")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    #[schemars(with = "Option<RawExpect>")]
    pub expect: Option<Spanned<RawExpect>>,
    #[schemars(with = "Option<String>")]
    pub send: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Expect")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    #[schemars(with = "Option<String>")]
    pub within: Option<Text>,
    #[schemars(with = "Option<std::collections::BTreeMap<String,serde_json::Value>>")]
    pub json: Option<Spanned<OrderedMap<serde_json::Value>>>,
    #[schemars(with = "Option<String>")]
    pub contains: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Echo")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEcho {
    #[schemars(with = "Option<String>")]
    pub pointer: Option<Text>,
    pub require: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Version")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVersion {
    #[schemars(with = "Option<String>")]
    pub header: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub pointer: Option<Text>,
}

/// An environment's `alert:` block.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(rename = "AlertPolicy")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlertPolicy {
    #[schemars(with = "Option<Vec<String>>")]
    pub channels: Option<Vec<Text>>,
    #[schemars(with = "Option<u32>")]
    pub failure_threshold: Option<Spanned<u32>>,
    #[schemars(with = "Option<u32>")]
    pub success_threshold: Option<Spanned<u32>>,
    #[schemars(with = "Option<String>")]
    pub repeat_every: Option<Text>,
    pub send_resolved: Option<bool>,
    pub alert_on_degraded: Option<bool>,
}

/// `alerts.defaults`: the policy keys only; channels are chosen per environment.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "PolicyDefaults")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicyDefaults {
    #[schemars(with = "Option<u32>")]
    pub failure_threshold: Option<Spanned<u32>>,
    #[schemars(with = "Option<u32>")]
    pub success_threshold: Option<Spanned<u32>>,
    #[schemars(with = "Option<String>")]
    pub repeat_every: Option<Text>,
    pub send_resolved: Option<bool>,
    pub alert_on_degraded: Option<bool>,
    /// With a shared store: how many locations must see an environment down to open an
    /// incident (fewer when fewer report).
    #[schemars(with = "Option<u32>")]
    pub min_locations: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Alerts")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerts {
    pub defaults: Option<RawPolicyDefaults>,
    #[schemars(with = "Option<Vec<RawChannel>>")]
    pub channels: Option<Vec<Spanned<RawChannel>>>,
    #[schemars(with = "Option<Vec<RawMaintenance>>")]
    pub maintenance: Option<Vec<Spanned<RawMaintenance>>>,
    #[schemars(with = "Option<String>")]
    pub give_up_after: Option<Text>,
    #[schemars(with = "Option<RawHeartbeat>")]
    pub heartbeat: Option<Spanned<RawHeartbeat>>,
}

/// `alerts.heartbeat`: the dead man's switch wsprobe pings.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Heartbeat")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeat {
    #[schemars(with = "Option<String>")]
    pub url: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub every: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Maintenance")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMaintenance {
    #[schemars(with = "Option<Vec<String>>")]
    pub environments: Option<Vec<Text>>,
    #[schemars(with = "Option<String>")]
    pub schedule: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub duration: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub from: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub until: Option<Text>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Server")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    #[schemars(with = "Option<String>")]
    pub listen: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub public_url: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub admin_token: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub trace_url: Option<Text>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Storage")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    #[schemars(with = "Option<String>")]
    pub path: Option<Text>,
    /// `postgres://…`: the store shared by a fleet of instances (then `location` is required).
    #[schemars(with = "Option<String>")]
    pub url: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub retention: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Telemetry")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    #[schemars(with = "Option<RawOtlp>")]
    pub otlp: Option<Spanned<RawOtlp>>,
    pub prometheus: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Otlp")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOtlp {
    #[schemars(with = "Option<String>")]
    pub endpoint: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub protocol: Option<Text>,
    #[schemars(with = "Option<String>")]
    pub interval: Option<Text>,
    #[schemars(with = "Option<std::collections::BTreeMap<String,String>>")]
    pub headers: Option<OrderedMap<String>>,
}

/// A mapping kept in file order, keys with their positions (headers are sent in the order
/// written; JSON matchers report the first pointer that failed).
#[derive(Debug, Clone)]
pub(crate) struct OrderedMap<V>(pub Vec<(Text, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = OrderedMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedMap(entries))
            }
        }

        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

/// The shape of any YAML document with the position of every key and value: used only when
/// parsing into [`RawConfig`] failed, to name the key path at the error's position.
#[derive(Debug)]
pub(crate) enum Node {
    Leaf,
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<KeyText>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }

            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

/// A mapping key as text, whatever its YAML type (`404:` is a number).
#[derive(Debug)]
pub(crate) struct KeyText(pub String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping key")
            }

            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_owned()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText("~".to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyText, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(KeyText("[…]".to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyText, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(KeyText("{…}".to_owned()))
            }
        }

        deserializer.deserialize_any(KeyVisitor)
    }
}

impl Node {
    /// The key path (`environments[0].tls.insecure_skip_verfy`) of the last key or value that
    /// starts at or before (`line`, `column`): the one an error there is about.
    pub(crate) fn path_at(root: &Spanned<Node>, line: u64, column: u64) -> Option<String> {
        fn walk(node: &Spanned<Node>, path: &str, target: (u64, u64), best: &mut Option<String>) {
            let at = |s: &serde_saphyr::Location| (s.line(), s.column());
            if at(&node.referenced) > target {
                return;
            }
            if !path.is_empty() {
                *best = Some(path.to_owned());
            }
            match &node.value {
                Node::Leaf => {}
                Node::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{path}[{i}]"), target, best);
                    }
                }
                Node::Map(entries) => {
                    for (key, value) in entries {
                        if at(&key.referenced) > target {
                            return;
                        }
                        let child = if path.is_empty() {
                            key.value.0.clone()
                        } else {
                            format!("{path}.{}", key.value.0)
                        };
                        *best = Some(child.clone());
                        walk(value, &child, target, best);
                    }
                }
            }
        }

        let mut best = None;
        walk(root, "", (line, column), &mut best);
        best
    }
}
