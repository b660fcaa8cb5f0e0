//! The serde mirror of probes.yaml: exactly the SPEC's keys (`deny_unknown_fields` everywhere),
//! nothing checked beyond YAML types.
//!
//! Every key is optional here, even required ones: serde-saphyr reports a missing field at the
//! last key it read, which points users at the wrong line, so validation reports missing keys
//! itself at the position of the enclosing mapping. Values that validation inspects are
//! [`Located`] (a `Spanned` that the JSON schema reads as its value) for the same reason. No `flatten`, no internally tagged or untagged enums: serde
//! buffers those and `Spanned` loses its position inside them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub(crate) use super::channels::RawChannel;

/// A value with its position in the file. Our own wrapper of `serde_saphyr::Spanned` so that it
/// can describe itself to the JSON schema as the value it holds: the fields need no
/// `#[schemars(with = …)]`. Reads like a `Spanned` (`.value`, `.referenced`) through `Deref`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(crate) struct Located<T>(pub Spanned<T>);

pub(crate) type Text = Located<String>;

impl<T> std::ops::Deref for Located<T> {
    type Target = Spanned<T>;

    fn deref(&self) -> &Spanned<T> {
        &self.0
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Config")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub location: Option<Text>,
    pub defaults: Option<Located<RawEnvironment>>,
    pub environments: Option<Located<Vec<Located<Box<RawEnvironment>>>>>,
    pub alerts: Option<RawAlerts>,
    pub server: Option<RawServer>,
    pub storage: Option<RawStorage>,
    pub telemetry: Option<RawTelemetry>,
}

/// One environment, and also `defaults` (where `name` and `url` are refused by validation, so
/// that both share one key list and cannot drift apart).
// The large sections are boxed: the raw form of every environment is held at once while a
// file is validated (the `size` test below).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Environment")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvironment {
    pub name: Option<Text>,
    pub url: Option<Text>,
    pub schedule: Option<Text>,
    pub jitter: Option<Text>,
    pub timeout: Option<Text>,
    pub retries: Option<Located<u32>>,
    pub degraded_after: Option<Text>,
    pub cert_warn_days: Option<Located<u32>>,
    pub health: Option<Box<Located<RawHealth>>>,
    pub auth: Option<Box<Located<RawAuth>>>,
    pub headers: Option<OrderedMap<Text>>,
    pub subprotocols: Option<Vec<Text>>,
    pub expect_subprotocol: Option<Text>,
    pub tls: Option<Box<RawTls>>,
    pub steps: Option<Vec<Located<RawStep>>>,
    pub keepalive: Option<Vec<Located<RawKeepalive>>>,
    pub protocol: Option<Text>,
    pub protocol_options: Option<Box<Located<RawProtocolOptions>>>,
    pub echo: Option<Box<Located<RawEcho>>>,
    pub version: Option<Box<Located<RawVersion>>>,
    pub alert: Option<Box<RawAlertPolicy>>,
    pub max_message_bytes: Option<Located<u64>>,
    pub max_messages: Option<Located<u64>>,
    /// Environments this one needs: while one of them has an incident open, this one's
    /// failures are shown as caused by it and do not page.
    pub depends_on: Option<Vec<Text>>,
    /// `http://[user:password@]host:port`, or `none` to ignore the proxy variables.
    pub proxy: Option<Text>,
    pub ip_family: Option<Text>,
    /// `"host:port": address`, as curl's `--resolve`.
    pub resolve: Option<OrderedMap<Text>>,
    /// The `Origin` header a browser would send on the upgrade (none by default).
    pub origin: Option<Text>,
    /// Extra cookies on the upgrade, name → value.
    pub cookies: Option<Located<OrderedMap<Text>>>,
    /// `false` stops the W3C `baggage: synthetic_request=true` on the upgrade.
    pub synthetic_baggage: Option<Located<bool>>,
    /// An availability objective over a rolling window: the error budget on the page.
    pub slo: Option<Box<Located<RawSlo>>>,
}

/// `slo:` an availability objective over a rolling window.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Slo")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlo {
    /// Percent of runs outside maintenance that serve, strictly between 0 and 100: `99.9%`
    /// or `99.9`.
    pub objective: Option<Located<PercentText>>,
    /// The rolling window availability is measured over, from 1h to 400d (default 30d).
    pub window: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Health")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub url: Option<Text>,
    pub expect_status: Option<Located<u16>>,
    pub expect_body: Option<Located<RawExpectBody>>,
}

/// `health.expect_body`: what the health answer's body must say.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "ExpectBody")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectBody {
    pub json: Option<Located<OrderedMap<serde_json::Value>>>,
    pub contains: Option<Text>,
    pub equals: Option<Text>,
    pub prefix: Option<Text>,
    pub regex: Option<Text>,
}

/// Every auth kind's keys in one mapping; validation refuses keys the chosen kind does not use.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Auth")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    pub kind: Option<Text>,
    // bearer
    pub token: Option<Text>,
    // jwt
    pub secret: Option<Text>,
    pub key: Option<Text>,
    pub algorithm: Option<Text>,
    pub claims: Option<Located<serde_json::Map<String, serde_json::Value>>>,
    pub ttl: Option<Text>,
    // token_endpoint
    pub url: Option<Text>,
    pub method: Option<Text>,
    pub headers: Option<Located<OrderedMap<String>>>,
    pub body: Option<Located<serde_json::Value>>,
    /// `application/x-www-form-urlencoded` fields, instead of a JSON `body`.
    pub form: Option<Located<OrderedMap<Text>>>,
    pub token_pointer: Option<Text>,
    // session
    pub login: Option<Located<RawLogin>>,
    pub csrf: Option<Located<RawCsrf>>,
}

/// `auth.login` (kind `session`): the request that logs in.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Login")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogin {
    pub url: Option<Text>,
    pub method: Option<Text>,
    pub headers: Option<Located<OrderedMap<String>>>,
    pub form: Option<Located<OrderedMap<Text>>>,
    pub body: Option<Located<serde_json::Value>>,
    /// A JSON pointer to a token in the login's answer (`/token`): it fills `{token}`.
    pub token_pointer: Option<Text>,
}

/// `auth.csrf` (kind `session`): the page that sets the CSRF cookie, and where its value goes
/// back.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Csrf")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCsrf {
    pub url: Option<Text>,
    pub cookie: Option<Text>,
    pub field: Option<Text>,
    pub header: Option<Text>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Tls")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub ca_file: Option<Text>,
    pub insecure_skip_verify: Option<bool>,
    pub client_cert: Option<Text>,
    pub client_key: Option<Text>,
}

/// `- expect: {...}` or `- send: "..."`: exactly one of the two, checked by validation.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Step")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub expect: Option<Located<RawExpect>>,
    pub send: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Expect")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    pub within: Option<Text>,
    pub json: Option<Located<OrderedMap<serde_json::Value>>>,
    pub contains: Option<Text>,
    pub equals: Option<Text>,
    pub prefix: Option<Text>,
    pub regex: Option<Text>,
    /// `any`, or the leading bytes of a binary message in hex (`20 02`).
    pub binary: Option<Text>,
}

/// `- { when: {...}, send: "..." }` or `- { every: 30s, send: "..." }`: one of the two,
/// checked by validation.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Keepalive")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeepalive {
    pub when: Option<Located<RawMatch>>,
    pub every: Option<Text>,
    pub send: Option<Text>,
}

/// A matcher alone (a keepalive's `when`): an `expect` without `within`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Match")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    pub json: Option<Located<OrderedMap<serde_json::Value>>>,
    pub contains: Option<Text>,
    pub equals: Option<Text>,
    pub prefix: Option<Text>,
    pub regex: Option<Text>,
    pub binary: Option<Text>,
}

/// `protocol_options`: every preset's keys in one mapping; validation refuses the keys the
/// chosen `protocol` does not read.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "ProtocolOptions")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProtocolOptions {
    // graphql-transport-ws, graphql-ws
    pub payload: Option<Located<serde_json::Value>>,
    pub subscribe: Option<Located<RawSubscribe>>,
    // socket.io
    pub namespace: Option<Text>,
    pub auth: Option<Located<serde_json::Value>>,
    // stomp
    pub host: Option<Text>,
    pub login: Option<Text>,
    pub passcode: Option<Text>,
    pub destination: Option<Text>,
    pub heart_beat: Option<Text>,
    // mqtt
    pub version: Option<Located<serde_json::Value>>,
    pub client_id: Option<Text>,
    pub username: Option<Text>,
    pub password: Option<Text>,
    pub topic: Option<Text>,
    pub keep_alive: Option<Text>,
    // every preset
    pub within: Option<Text>,
}

/// A GraphQL operation started once the connection is acknowledged.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Subscribe")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSubscribe {
    pub query: Option<Text>,
    pub variables: Option<Located<serde_json::Value>>,
    pub operation_name: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Echo")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEcho {
    pub pointer: Option<Text>,
    pub require: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Version")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVersion {
    pub header: Option<Text>,
    pub pointer: Option<Text>,
}

/// An environment's `alert:` block.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(rename = "AlertPolicy")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlertPolicy {
    pub channels: Option<Vec<Text>>,
    pub failure_threshold: Option<Located<u32>>,
    pub success_threshold: Option<Located<u32>>,
    pub repeat_every: Option<Text>,
    pub send_resolved: Option<bool>,
    pub alert_on_degraded: Option<bool>,
    pub confirm: Option<RawConfirm>,
    pub flapping: Option<RawFlapping>,
}

/// `confirm:` re-probes of a failing result before it counts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(rename = "Confirm")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfirm {
    /// Re-probes after a failing result (0 turns confirmation off).
    pub attempts: Option<Located<u32>>,
    /// Time between re-probes (default 10s).
    pub every: Option<Text>,
}

/// `flapping:` detection of an environment that keeps changing state.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(rename = "Flapping")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlapping {
    pub enabled: Option<bool>,
    /// Results looked at (default 21, at most 32).
    pub window: Option<Located<u32>>,
    /// Percent of state changes that starts flapping (default 50).
    pub high: Option<Located<f64>>,
    /// Percent below which flapping stops (default 25).
    pub low: Option<Located<f64>>,
}

/// `alerts.defaults`: the policy keys only; channels are chosen per environment.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "PolicyDefaults")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicyDefaults {
    pub failure_threshold: Option<Located<u32>>,
    pub success_threshold: Option<Located<u32>>,
    pub repeat_every: Option<Text>,
    pub send_resolved: Option<bool>,
    pub alert_on_degraded: Option<bool>,
    pub confirm: Option<RawConfirm>,
    pub flapping: Option<RawFlapping>,
    /// With a shared store: how many locations must see an environment down to open an
    /// incident (fewer when fewer report).
    pub min_locations: Option<Located<u32>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Alerts")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlerts {
    pub defaults: Option<RawPolicyDefaults>,
    #[schemars(with = "Option<Vec<RawChannel>>")]
    pub channels: Option<Vec<Spanned<RawChannel>>>,
    pub maintenance: Option<Vec<Located<RawMaintenance>>>,
    pub give_up_after: Option<Text>,
    pub heartbeat: Option<Located<RawHeartbeat>>,
    /// Failures that start within `wait` of each other go out as one notification.
    pub grouping: Option<Located<RawGrouping>>,
}

/// `alerts.grouping`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Grouping")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrouping {
    /// How long the first failure of a group waits for others to join (default 30s).
    pub wait: Option<Text>,
    /// Labels whose values split groups: `verdict`, `location`, `environment` (default
    /// none: one group).
    pub by: Option<Vec<Text>>,
}

/// `alerts.heartbeat`: the dead man's switch wsprobe pings.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Heartbeat")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeat {
    pub url: Option<Text>,
    pub every: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Maintenance")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMaintenance {
    pub environments: Option<Vec<Text>>,
    pub schedule: Option<Text>,
    pub duration: Option<Text>,
    pub from: Option<Text>,
    pub until: Option<Text>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Server")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Option<Text>,
    pub public_url: Option<Text>,
    pub admin_token: Option<Text>,
    pub trace_url: Option<Text>,
    /// A read-only status page for people outside on-call: its own `listen`, or a `path`
    /// prefix on `server.listen`.
    pub public: Option<Located<RawPublic>>,
}

/// `server.public`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "PublicPage")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPublic {
    /// An address of its own (`0.0.0.0:8081`): only the public page is served there.
    pub listen: Option<Text>,
    /// Or a path prefix on `server.listen` (`/public`).
    pub path: Option<Text>,
    /// The page's heading; `Status` by default.
    pub title: Option<Text>,
    /// The environments shown; all by default.
    pub environments: Option<Vec<Text>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Storage")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub path: Option<Text>,
    /// `postgres://…`: the store shared by a fleet of instances (then `location` is required).
    pub url: Option<Text>,
    pub retention: Option<Text>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Telemetry")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTelemetry {
    pub otlp: Option<Located<RawOtlp>>,
    pub prometheus: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Otlp")]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOtlp {
    pub endpoint: Option<Text>,
    pub protocol: Option<Text>,
    pub interval: Option<Text>,
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

/// Described to the JSON schema as the mapping it is read from.
impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        BTreeMap::<String, V>::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        BTreeMap::<String, V>::json_schema(generator)
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

/// A percentage as written, `99.9%` (a YAML string) or `99.9` (a number): validation parses it,
/// so both spellings get the same checks and errors.
#[derive(Debug)]
pub(crate) struct PercentText(pub String);

impl<'de> Deserialize<'de> for PercentText {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PercentVisitor;

        impl Visitor<'_> for PercentVisitor {
            type Value = PercentText;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage such as 99.9% or 99.9")
            }

            fn visit_i64<E>(self, v: i64) -> Result<PercentText, E> {
                Ok(PercentText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<PercentText, E> {
                Ok(PercentText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<PercentText, E> {
                Ok(PercentText(v.to_string()))
            }
            fn visit_str<E>(self, v: &str) -> Result<PercentText, E> {
                Ok(PercentText(v.to_owned()))
            }
        }

        deserializer.deserialize_any(PercentVisitor)
    }
}

impl JsonSchema for PercentText {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "description": "A percentage, `99.9%` or `99.9`.",
            "anyOf": [
                { "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100 },
                { "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%?\\s*$" }
            ]
        })
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

#[cfg(test)]
mod size {
    /// Every environment's raw form is held at once while a file is validated: inline, the
    /// sections made it 7 KB, 700 MB for 100,000 environments and twice that while the list
    /// grew. The large sections most environments leave out are boxed to keep it small.
    #[test]
    fn an_environment_is_small_until_it_sets_its_large_sections() {
        let size = std::mem::size_of::<super::RawEnvironment>();
        assert!(size <= 2048, "RawEnvironment is {size} bytes inline");
    }
}
