//! MQTT's own refusals: the CONNACK return codes of MQTT 3.1.1 (§3.2.2.3) and the reason
//! codes of MQTT 5.0 (§2.4) that mean failure (0x80 and above), which CONNACK, SUBACK and a
//! server's DISCONNECT carry.

use super::Layer::*;
use super::Side::*;
use super::{Entry, row};

const V311: &str = "MQTT 3.1.1";
const V5: &str = "MQTT 5.0";

/// CONNACK return codes 1–5 (0 is "Connection Accepted").
pub static MQTT311_CONNACK: &[Entry] = &[
    row(
        1,
        "Connection Refused, unacceptable protocol version",
        V311,
        Protocol,
        Server,
        "the broker does not support the MQTT protocol level wsprobe asked for",
        "set protocol_options.version to what the broker speaks (3.1.1 or 5)",
    ),
    row(
        2,
        "Connection Refused, identifier rejected",
        V311,
        Protocol,
        Server,
        "the broker refused the client identifier",
        "set protocol_options.client_id to one the broker accepts (1 to 23 letters and digits always are)",
    ),
    row(
        3,
        "Connection Refused, Server unavailable",
        V311,
        Application,
        Server,
        "the network connection was made but the MQTT service is unavailable",
        "the broker's logs at that time say why (starting, overloaded, a backend store down)",
    ),
    row(
        4,
        "Connection Refused, bad user name or password",
        V311,
        Auth,
        Server,
        "the broker refused the user name or password",
        "check protocol_options.username and password against the broker's password file or auth plugin",
    ),
    row(
        5,
        "Connection Refused, not authorized",
        V311,
        Auth,
        Server,
        "the broker did not authorize this client to connect",
        "check the credentials and the broker's access rules (ACL) for this client",
    ),
];

/// SUBACK's one failure code in MQTT 3.1.1.
pub static MQTT311_SUBACK_FAILURE: Entry = row(
    0x80,
    "Failure",
    V311,
    Auth,
    Server,
    "the broker refused the subscription",
    "check the topic filter and the broker's access rules (ACL) for this client",
);

/// MQTT 5.0 reason codes 0x80–0xA2.
#[rustfmt::skip]
pub static MQTT5_REASONS: &[Entry] = &[
    row(0x80, "Unspecified error", V5, Application, Server, "the broker failed the request without saying why", "the broker's logs at that time say why"),
    row(0x81, "Malformed Packet", V5, Protocol, Server, "the broker could not parse a packet wsprobe sent", "a proxy rewriting WebSocket frames, or a broker reading another MQTT version, does this; check protocol_options.version"),
    row(0x82, "Protocol Error", V5, Protocol, Server, "a packet broke the MQTT protocol as the broker reads it", "check protocol_options.version against what the broker speaks"),
    row(0x83, "Implementation specific error", V5, Application, Server, "the broker refused the request for a reason of its own implementation", "the broker's documentation and logs say which"),
    row(0x84, "Unsupported Protocol Version", V5, Protocol, Server, "the broker does not support MQTT 5", "set protocol_options.version: \"3.1.1\""),
    row(0x85, "Client Identifier not valid", V5, Protocol, Server, "the broker refused the client identifier as not valid", "set protocol_options.client_id to one the broker accepts"),
    row(0x86, "Bad User Name or Password", V5, Auth, Server, "the broker refused the user name or password it was given", "check protocol_options.username and password against the broker's users"),
    row(0x87, "Not authorized", V5, Auth, Server, "the broker does not authorize the client for this request", "check the credentials and the broker's access rules (ACL) for this client and topic"),
    row(0x88, "Server unavailable", V5, Application, Server, "the MQTT service is unavailable", "the broker's logs at that time say why"),
    row(0x89, "Server busy", V5, Application, Server, "the broker is busy and asks the client to try later", "check the broker's load and connection limits"),
    row(0x8A, "Banned", V5, Auth, Server, "the broker has banned this client", "the broker's administrators lift bans; check why it was banned"),
    row(0x8B, "Server shutting down", V5, Application, Server, "the broker is shutting down", "check for a deploy or restart of the broker at that time"),
    row(0x8C, "Bad authentication method", V5, Auth, Server, "the broker does not support the authentication method asked for", "use an authentication the broker supports"),
    row(0x8D, "Keep Alive timeout", V5, Protocol, Server, "the broker heard nothing from the client within 1.5 times its Keep Alive", "lower protocol_options.keep_alive, or look for a path that delays frames"),
    row(0x8E, "Session taken over", V5, Application, Server, "another connection with the same client identifier took over the session", "give each probe its own client_id (leave it unset: wsprobe makes one per probe)"),
    row(0x8F, "Topic Filter invalid", V5, Protocol, Server, "the topic filter is well formed but the broker does not accept it", "check protocol_options.topic"),
    row(0x90, "Topic Name invalid", V5, Protocol, Server, "the topic name is not accepted by the broker", "check the topic the steps use"),
    row(0x91, "Packet Identifier in use", V5, Protocol, Server, "the packet identifier is already in use", "a second connection with the same session can cause this; give each probe its own client_id"),
    row(0x92, "Packet Identifier not found", V5, Protocol, Server, "the broker knows no packet with that identifier", "a session resumed from elsewhere causes this; give each probe its own client_id"),
    row(0x93, "Receive Maximum exceeded", V5, Protocol, Server, "more QoS 1 and 2 publications were in flight than the broker allows", "publish fewer at a time"),
    row(0x94, "Topic Alias invalid", V5, Protocol, Server, "a topic alias was out of the range the broker allows", "do not use topic aliases with this broker"),
    row(0x95, "Packet too large", V5, Protocol, Server, "a packet was larger than the broker's maximum packet size", "send smaller packets"),
    row(0x96, "Message rate too high", V5, Application, Server, "the client publishes faster than the broker allows", "publish less often"),
    row(0x97, "Quota exceeded", V5, Application, Server, "an administrative quota of the broker was exceeded", "the broker's administrators set quotas; check which one"),
    row(0x98, "Administrative action", V5, Application, Server, "the connection was closed by an administrator's action", "ask the broker's administrators"),
    row(0x99, "Payload format invalid", V5, Protocol, Server, "the payload does not match its declared format", "send UTF-8 when the payload is declared as such"),
    row(0x9A, "Retain not supported", V5, Protocol, Server, "the broker does not support retained messages", "publish without the retain flag"),
    row(0x9B, "QoS not supported", V5, Protocol, Server, "the broker does not support the QoS asked for", "use a QoS the broker supports"),
    row(0x9C, "Use another server", V5, Application, Server, "the broker asks the client to use another server for now", "point the probe at the server it names"),
    row(0x9D, "Server moved", V5, Application, Server, "the broker has moved to another server for good", "point the probe at the new server"),
    row(0x9E, "Shared Subscriptions not supported", V5, Protocol, Server, "the broker does not support shared subscriptions", "subscribe without $share/"),
    row(0x9F, "Connection rate exceeded", V5, Application, Server, "new connections come faster than the broker allows", "probe less often, or raise the broker's connection rate limit"),
    row(0xA0, "Maximum connect time", V5, Application, Server, "the connection reached the longest time the broker allows", "nothing to fix for a probe; expect reconnects"),
    row(0xA1, "Subscription Identifiers not supported", V5, Protocol, Server, "the broker does not support subscription identifiers", "subscribe without them"),
    row(0xA2, "Wildcard Subscriptions not supported", V5, Protocol, Server, "the broker does not support wildcard subscriptions", "subscribe to a topic without + or #"),
];

/// A CONNACK's code: 1–5 read as MQTT 3.1.1's return codes, 0x80 and above as MQTT 5.0's
/// reason codes (neither version uses the other's range).
pub fn connack(code: u8) -> Option<Entry> {
    match code {
        1..=5 => MQTT311_CONNACK.get(usize::from(code) - 1).copied(),
        _ => reason(code),
    }
}

/// An MQTT 5.0 failure reason code.
pub fn reason(code: u8) -> Option<Entry> {
    MQTT5_REASONS
        .iter()
        .find(|e| e.code == u16::from(code))
        .copied()
}
