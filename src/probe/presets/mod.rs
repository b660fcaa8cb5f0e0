//! Protocol presets: the handshake, keepalive and close that each protocol's own document
//! defines, built from what every environment has (a subprotocol, steps, keepalives,
//! matchers), and each protocol's refusals read as evidence. One file per protocol; `dialect`
//! and `refusal_reader` are the one list. Their settings are `config::protocols`.

mod graphql_transport_ws;
mod graphql_ws;
pub mod mqtt;
mod socket_io;
mod stomp;

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::diagnosis::registry::Layer;
use super::keepalive;
use super::message::Incoming;
use super::session::Action;
use super::template::Templates;
use crate::config::{Environment, Matcher, Preset, Protocol, Secret};

/// What a preset adds around the environment's steps.
#[derive(Debug, Clone)]
pub struct Dialect {
    /// The protocol's handshake: the ready check.
    pub opening: Vec<Action>,
    pub keepalive: Vec<keepalive::Rule>,
    /// Sent before the client's WebSocket close.
    pub closing: Vec<Message>,
    pub refusal: RefusalReader,
}

/// A protocol's own refusal of the session, read from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// What the message is, in the protocol's terms ("a connect_error (44) for namespace
    /// /chat", "an ERROR frame").
    pub what: String,
    /// What it says, as sent (a server's text: quoted, never trusted).
    pub said: Option<String>,
    /// What it means and what to do, as clauses.
    pub meaning: &'static str,
    pub advice: &'static str,
    /// The layer, when the protocol says (its code's registry row); otherwise the words of
    /// `said` decide between auth and the application.
    pub layer: Option<Layer>,
}

pub type RefusalReader = fn(Incoming<'_>) -> Option<Refusal>;

/// The preset's dialect for one probe, its templates filled.
pub fn dialect(protocol: &Protocol, fill: &Fill) -> Dialect {
    let within = protocol.within;
    match &protocol.preset {
        Preset::GraphqlTransportWs(options) => graphql_transport_ws::dialect(options, within, fill),
        Preset::GraphqlWs(options) => graphql_ws::dialect(options, within, fill),
        Preset::SocketIo(options) => socket_io::dialect(options, within, fill),
        Preset::Stomp(options) => stomp::dialect(options, within, fill),
        Preset::Mqtt(options) => mqtt::dialect(options, within, fill),
    }
}

/// The refusal reader of the preset named `name` (a result's `protocol`).
pub fn refusal_reader(name: &str) -> Option<RefusalReader> {
    Some(match name {
        "graphql-transport-ws" => graphql_transport_ws::refusal,
        "graphql-ws" => graphql_ws::refusal,
        "socket.io" => socket_io::refusal,
        "stomp" => stomp::refusal,
        "mqtt" => mqtt::refusal,
        _ => return None,
    })
}

/// What the handshake waits for, in the protocol's words: for sentences.
pub fn awaited(name: &str) -> Option<&'static str> {
    Some(match name {
        "graphql-transport-ws" | "graphql-ws" => "connection_ack",
        "socket.io" => "the Engine.IO open packet and the namespace's connect (40)",
        "stomp" => "CONNECTED",
        "mqtt" => "CONNACK",
        _ => return None,
    })
}

/// The URL the upgrade goes to (`url`: the environment's, its templates filled): Socket.IO's
/// needs `EIO=4&transport=websocket` in its query.
pub fn upgrade_url(env: &Environment, url: &Url) -> Url {
    match env.protocol.as_ref().map(|p| &p.preset) {
        Some(Preset::SocketIo(_)) => socket_io::url(url),
        _ => url.clone(),
    }
}

/// What [`upgrade_url`] adds to the environment's URL, as written after it (`?EIO=4&…`, or
/// `&EIO=4&…` after a query of its own).
pub fn added_query(env: &Environment) -> Option<String> {
    let upgraded = upgrade_url(env, &env.url);
    let (Some(new), old) = (upgraded.query(), env.url.query().unwrap_or_default()) else {
        return None;
    };
    let added = new.strip_prefix(old).filter(|added| !added.is_empty())?;
    Some(if old.is_empty() {
        format!("?{added}")
    } else {
        added.to_owned()
    })
}

/// What `wsprobe validate` shows of an environment's preset, as (label, value) lines: each
/// handshake action, keepalive and closing message, templates as written and secrets hidden.
pub fn describe(env: &Environment) -> Vec<(String, String)> {
    let Some(protocol) = &env.protocol else {
        return Vec::new();
    };
    let dialect = dialect(protocol, &Fill::described());
    let line = |label: &str, value: String| (label.to_owned(), value);
    let mut lines = vec![line(
        "protocol",
        format!(
            "{}, each answer within {}",
            protocol.preset.name(),
            humantime::format_duration(protocol.within)
        ),
    )];
    for action in &dialect.opening {
        lines.push(match action {
            Action::Send { label, .. } => line("  send", label.clone()),
            Action::Expect { label, .. } => line("  expect", label.clone()),
        });
    }
    for rule in &dialect.keepalive {
        lines.push(line("  keepalive", keepalive_label(rule)));
    }
    if !dialect.closing.is_empty() {
        let closing: Vec<String> = dialect.closing.iter().map(message_label).collect();
        lines.push(line("  close", closing.join(", then ")));
    }
    lines.push(line("  then", "the environment's steps".to_owned()));
    lines
}

fn keepalive_label(rule: &keepalive::Rule) -> String {
    match rule {
        keepalive::Rule::Answer {
            when,
            reply: Some(reply),
        } => format!(
            "answer a message {} with {}",
            when.describe(),
            message_label(reply)
        ),
        keepalive::Rule::Answer { when, reply: None } => {
            format!("ignore a message {}", when.describe())
        }
        keepalive::Rule::Every {
            period: Some(period),
            message,
            ..
        } => format!(
            "send {} every {}",
            message_label(message),
            humantime::format_duration(*period)
        ),
        keepalive::Rule::Every {
            message,
            period_from: Some(_),
            ..
        } => format!(
            "send {} as often as the server's answer negotiates",
            message_label(message)
        ),
        keepalive::Rule::Every { message, .. } => format!("send {}", message_label(message)),
    }
}

/// A text message quoted, a binary one as its bytes.
fn message_label(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("{:?}", text.as_str()),
        other => format!("bytes {}", crate::config::hex(&other.clone().into_data())),
    }
}

/// An expect of the handshake, labelled with what the protocol calls the answer.
fn expect(within: Duration, matcher: Matcher, what: &str) -> Action {
    Action::Expect {
        label: format!("{what}: {}", matcher.phrase()),
        within,
        matcher,
    }
}

fn send_text(text: String) -> Action {
    Action::Send {
        label: format!("{text:?}"),
        message: Message::text(text),
    }
}

/// Templates filled for a probe; for `validate`, written as they are, with secrets hidden.
pub struct Fill<'t> {
    templates: Option<&'t Templates>,
}

impl<'t> Fill<'t> {
    pub(super) fn probe(templates: &'t Templates) -> Self {
        Self {
            templates: Some(templates),
        }
    }

    pub fn described() -> Fill<'static> {
        Fill { templates: None }
    }

    pub fn text(&self, text: &str) -> String {
        match self.templates {
            Some(templates) => templates.fill(text),
            None => text.to_owned(),
        }
    }

    pub fn secret(&self, secret: &Secret) -> String {
        match self.templates {
            Some(templates) => templates.fill(secret.expose()),
            None => super::redact::MARK.to_owned(),
        }
    }

    /// A JSON value with every string filled. For `validate`, a string without a template is
    /// a secret (payloads and auth objects carry keys), shown as `[redacted]`.
    pub fn json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(text) if self.templates.is_none() && !text.contains("{token") => {
                Value::String(super::redact::MARK.to_owned())
            }
            Value::String(text) => Value::String(self.text(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.json(v))).collect())
            }
            other => other.clone(),
        }
    }
}

/// The text of a message, whether it came as text or as UTF-8 in a binary frame (STOMP
/// brokers may send either).
fn text_of<'m>(message: Incoming<'m>) -> Option<std::borrow::Cow<'m, str>> {
    match message {
        Incoming::Text(text) => Some(std::borrow::Cow::Borrowed(text)),
        Incoming::Binary(data) => std::str::from_utf8(data)
            .ok()
            .map(std::borrow::Cow::Borrowed),
    }
}
