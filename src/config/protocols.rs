//! Protocol presets as probes.yaml writes them: `protocol:` names one, `protocol_options:`
//! holds its settings. What a preset sends and how it reads the answers lives with the probe
//! (`probe/presets/<name>.rs`): config is a leaf, as with channels.

use std::time::Duration;

use super::model::Secret;

/// An environment's `protocol` (none when absent or `none`) and its options, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    pub preset: Preset,
    /// How long each answer of the protocol's handshake may take (`protocol_options.within`).
    pub within: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Preset {
    /// The `graphql-ws` library's protocol, subprotocol `graphql-transport-ws`.
    GraphqlTransportWs(GraphqlOptions),
    /// The legacy subscriptions-transport-ws protocol, subprotocol `graphql-ws`.
    GraphqlWs(GraphqlOptions),
    /// Socket.IO v4 over Engine.IO 4.
    SocketIo(SocketIoOptions),
    /// STOMP 1.2 over the `v12.stomp` subprotocol.
    Stomp(StompOptions),
    /// MQTT 3.1.1 or 5 over the `mqtt` subprotocol.
    Mqtt(MqttOptions),
}

/// Every `protocol:` value and the `protocol_options` keys it reads (`within` besides).
pub const PROTOCOLS: &[(&str, &[&str])] = &[
    ("graphql-transport-ws", &["payload", "subscribe"]),
    ("graphql-ws", &["payload", "subscribe"]),
    ("socket.io", &["namespace", "auth"]),
    (
        "stomp",
        &["host", "login", "passcode", "destination", "heart_beat"],
    ),
    (
        "mqtt",
        &[
            "version",
            "client_id",
            "username",
            "password",
            "topic",
            "keep_alive",
        ],
    ),
    ("none", &[]),
];

impl Preset {
    /// The `protocol:` value.
    pub fn name(&self) -> &'static str {
        match self {
            Preset::GraphqlTransportWs(_) => "graphql-transport-ws",
            Preset::GraphqlWs(_) => "graphql-ws",
            Preset::SocketIo(_) => "socket.io",
            Preset::Stomp(_) => "stomp",
            Preset::Mqtt(_) => "mqtt",
        }
    }

    /// The subprotocol the protocol's document names (offered before the config's own).
    pub fn subprotocol(&self) -> Option<&'static str> {
        match self {
            Preset::GraphqlTransportWs(_) => Some("graphql-transport-ws"),
            Preset::GraphqlWs(_) => Some("graphql-ws"),
            Preset::SocketIo(_) => None,
            Preset::Stomp(_) => Some("v12.stomp"),
            Preset::Mqtt(_) => Some("mqtt"),
        }
    }
}

impl Protocol {
    /// Values never to be shown: passwords, and every string of a payload or an auth object
    /// (they carry tokens and keys), templates aside.
    pub(crate) fn collect_secrets(&self, into: &mut Vec<String>) {
        let json = |value: &Option<serde_json::Value>, into: &mut Vec<String>| {
            if let Some(value) = value {
                json_strings(value, into);
            }
        };
        match &self.preset {
            Preset::GraphqlTransportWs(options) | Preset::GraphqlWs(options) => {
                json(&options.payload, into);
            }
            Preset::SocketIo(options) => json(&options.auth, into),
            Preset::Stomp(options) => into.extend(options.passcode.iter().map(expose)),
            Preset::Mqtt(options) => into.extend(options.password.iter().map(expose)),
        }
    }
}

fn expose(secret: &Secret) -> String {
    secret.expose().to_owned()
}

fn json_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) if !is_template_only(text) => into.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| json_strings(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| json_strings(v, into)),
        _ => {}
    }
}

/// `{token}`, `Bearer {token}`: a string with a template shows where the token goes, and the
/// token itself is redacted once the probe has it.
fn is_template_only(text: &str) -> bool {
    text.contains("{token}") || text.contains("{token_base64url}")
}

#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlOptions {
    /// `connection_init`'s payload (the server's `connectionParams`), templates in its strings.
    pub payload: Option<serde_json::Value>,
    pub subscribe: Option<GraphqlOperation>,
}

/// A GraphQL operation run once the connection is acknowledged: its first result (or its
/// completion) is part of the handshake.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlOperation {
    pub query: String,
    pub variables: Option<serde_json::Value>,
    pub operation_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SocketIoOptions {
    /// `/` or `/chat`.
    pub namespace: String,
    /// The namespace connect's `auth` object (`socket.handshake.auth` on the server).
    pub auth: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StompOptions {
    /// The `host` header: the virtual host (RabbitMQ reads it as its vhost). Default: the URL's
    /// host, as STOMP 1.2 recommends.
    pub host: String,
    pub login: Option<String>,
    pub passcode: Option<Secret>,
    /// SUBSCRIBE to it (with a receipt) once connected.
    pub destination: Option<String>,
    /// The heart-beat wsprobe offers both ways; zero offers none.
    pub heart_beat: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    V311,
    V5,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MqttOptions {
    pub version: MqttVersion,
    /// None: a fresh one per probe, so that probes from several places never take over each
    /// other's session.
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// SUBSCRIBE to it (QoS 0) once connected.
    pub topic: Option<String>,
    /// The Keep Alive declared in CONNECT; a PINGREQ goes out that often.
    pub keep_alive: Duration,
}
