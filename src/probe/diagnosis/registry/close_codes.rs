//! The IANA WebSocket Close Code registry (RFC 6455 §7.4, and 1012–1015 registered since), its
//! ranges, and the codes of the presets' protocols (graphql-ws), keyed by subprotocol.

use super::Layer::*;
use super::Side::*;
use super::{Entry, row};

const IANA: &str = "IANA";

/// 1000–1015, every code of the registry.
pub static CLOSE_CODES: &[Entry] = &[
    row(
        1000,
        "Normal Closure",
        IANA,
        Application,
        Server,
        "the server chose to end the session, as a normal close",
        "its reason says why; servers also close this way on failed authentication, a dependency not ready, or a client/server protocol mismatch",
    ),
    row(
        1001,
        "Going Away",
        IANA,
        Application,
        Server,
        "the server is going away (shutting down, redeploying, or a browser-like peer leaving the page)",
        "check for a deploy or restart at that time; a second probe should reach a new instance",
    ),
    row(
        1002,
        "Protocol Error",
        IANA,
        Protocol,
        Server,
        "the server says wsprobe's frames broke the WebSocket protocol",
        "a proxy rewriting frames, or a server with a stricter reading of RFC 6455, does this; compare with a direct connection to the backend",
    ),
    row(
        1003,
        "Unsupported Data",
        IANA,
        Protocol,
        Server,
        "the server cannot accept the kind of data it received (text where it takes binary, or the reverse)",
        "match the steps' message type to what the endpoint speaks",
    ),
    row(
        1004,
        "Reserved",
        IANA,
        Protocol,
        Server,
        "the server used 1004, reserved by RFC 6455 and never valid on the wire",
        "the server's WebSocket library is broken; report it to its owners",
    ),
    row(
        1005,
        "No Status Received",
        IANA,
        Application,
        Server,
        "the server sent a close frame without any status code",
        "nothing says why: look in the server's logs at that time",
    ),
    row(
        1006,
        "Abnormal Closure",
        IANA,
        Network,
        Path,
        "the connection was dropped without any close frame",
        "a crashed backend process or a proxy or load balancer cutting the connection (idle or upgrade timeout) does this",
    ),
    row(
        1007,
        "Invalid Frame Payload Data",
        IANA,
        Protocol,
        Server,
        "the server found a message's data inconsistent with its type (not valid UTF-8 in a text message)",
        "check the encoding of what the steps send",
    ),
    row(
        1008,
        "Policy Violation",
        IANA,
        Auth,
        Server,
        "the server refused the session by policy, most often authentication or authorization",
        "check the token, its audience and lifetime, and the access rules for this client",
    ),
    row(
        1009,
        "Message Too Big",
        IANA,
        Protocol,
        Server,
        "the server refused a message as too big for it to process",
        "send smaller messages, or raise the server's message size limit",
    ),
    row(
        1010,
        "Mandatory Extension",
        IANA,
        Protocol,
        Wsprobe,
        "a client requires a WebSocket extension the server did not negotiate",
        "a client sends this, not a server: the server negotiated no extension the client requires",
    ),
    row(
        1011,
        "Internal Error",
        IANA,
        Application,
        Server,
        "the backend hit an internal error while setting up the session or running it",
        "the server's logs at that time hold the exception",
    ),
    row(
        1012,
        "Service Restart",
        IANA,
        Application,
        Server,
        "the server is restarting",
        "reconnect after a randomised 5–30 s delay; frequent restarts point at a crash loop or a deploy",
    ),
    row(
        1013,
        "Try Again Later",
        IANA,
        Application,
        Server,
        "the server is overloaded or temporarily unable and asks clients to try again later",
        "check the server's capacity and connection limits",
    ),
    row(
        1014,
        "Bad Gateway",
        IANA,
        Proxy,
        Intermediary,
        "a gateway in front of the application got an invalid answer from its upstream",
        "check the upstream behind the gateway: down, restarting, or speaking another protocol",
    ),
    row(
        1015,
        "TLS Handshake",
        IANA,
        Tls,
        Server,
        "the server used 1015, which only reports a failed TLS handshake locally and is never valid on the wire",
        "the server's WebSocket library is broken; report it to its owners",
    ),
];

/// What falls outside the table: `(first, last, entry)`, the entry's code being `first`.
pub static CLOSE_RANGES: &[(u16, u16, Entry)] = &[
    (
        0,
        999,
        row(
            0,
            "Unused",
            "RFC 6455",
            Protocol,
            Server,
            "the server used a code below 1000, which RFC 6455 never allows",
            "the server's WebSocket library is broken; report it to its owners",
        ),
    ),
    (
        1016,
        2999,
        row(
            1016,
            "Reserved for extensions",
            "RFC 6455",
            Protocol,
            Server,
            "the server used a code RFC 6455 reserves for future revisions and extensions, not valid on the wire today",
            "the server (or a proxy) speaks a WebSocket extension wsprobe does not know; check what answers this URL",
        ),
    ),
    (
        3000,
        3999,
        row(
            3000,
            "Registered by a library or framework",
            "IANA",
            Application,
            Server,
            "a library or framework on the server closed with its own registered code",
            "look the code up in the IANA registry and the framework's documentation",
        ),
    ),
    (
        4000,
        4999,
        row(
            4000,
            "Private use",
            "RFC 6455",
            Application,
            Server,
            "the application itself chose to close with its own code (4000–4999 are its own)",
            "its reason, or the application's documentation, is the message to act on",
        ),
    ),
    (
        5000,
        u16::MAX,
        row(
            5000,
            "Invalid",
            "RFC 6455",
            Protocol,
            Server,
            "the server used a code above 4999, which RFC 6455 never allows",
            "the server's WebSocket library is broken; report it to its owners",
        ),
    ),
];

/// The `graphql-transport-ws` protocol's own codes (the graphql-ws library).
pub static GRAPHQL_WS: &[Entry] = &[
    row(
        4400,
        "Bad Request",
        "graphql-ws",
        Protocol,
        Server,
        "the GraphQL server refused a message it could not parse or did not expect",
        "compare the steps with the graphql-transport-ws protocol (connection_init first, then subscribe)",
    ),
    row(
        4401,
        "Unauthorized",
        "graphql-ws",
        Auth,
        Server,
        "the GraphQL server got a subscribe before the connection was acknowledged",
        "wait for connection_ack before subscribing; a rejected connection_init payload (the token) ends here too",
    ),
    row(
        4403,
        "Forbidden",
        "graphql-ws",
        Auth,
        Server,
        "the GraphQL server refused the connection_init payload (the credentials in it)",
        "check the token or the payload the server's onConnect expects",
    ),
    row(
        4406,
        "Subprotocol not acceptable",
        "graphql-ws",
        Protocol,
        Server,
        "the GraphQL server does not speak the subprotocol that was offered",
        "offer graphql-transport-ws (the older subscriptions-transport-ws is graphql-ws)",
    ),
    row(
        4408,
        "Connection initialisation timeout",
        "graphql-ws",
        Application,
        Server,
        "no connection_init reached the GraphQL server within its wait",
        "send connection_init right after the upgrade",
    ),
    row(
        4409,
        "Subscriber already exists",
        "graphql-ws",
        Application,
        Server,
        "a subscribe reused the id of a running subscription",
        "give every subscribe a new id",
    ),
    row(
        4429,
        "Too many initialisation requests",
        "graphql-ws",
        Protocol,
        Server,
        "more than one connection_init arrived on one connection",
        "send connection_init once per connection",
    ),
    row(
        4499,
        "Terminated",
        "graphql-ws",
        Application,
        Server,
        "the socket was terminated as frozen (graphql-ws clients close this way when pings go unanswered)",
        "look for a proxy or the server pausing the connection; a second probe should get a fresh one",
    ),
    row(
        4500,
        "Internal server error",
        "graphql-ws",
        Application,
        Server,
        "the GraphQL server failed internally while handling the session",
        "the server's logs at that time hold the exception",
    ),
];

/// The protocols that define close codes of their own, by subprotocol (which is also the
/// preset's name), and their rows.
pub static PROTOCOL_CLOSE_CODES: &[(&str, &[Entry])] = &[("graphql-transport-ws", GRAPHQL_WS)];

/// The entry for any code a server can send. `dialect` says whose 4000–4999 codes these are:
/// the subprotocol the server selected, or else the environment's preset; on any other server
/// 4403 is the application's own.
pub fn close_code(code: u16, dialect: Option<&str>) -> Entry {
    let protocol = PROTOCOL_CLOSE_CODES
        .iter()
        .filter(|(name, _)| dialect == Some(*name))
        .flat_map(|(_, rows)| rows.iter());
    let specific = CLOSE_CODES.iter().chain(protocol).find(|e| e.code == code);
    if let Some(entry) = specific {
        return *entry;
    }
    let (_, _, range) = CLOSE_RANGES
        .iter()
        .find(|(first, last, _)| (*first..=*last).contains(&code))
        .expect("the ranges cover every u16");
    Entry { code, ..*range }
}

/// Whether RFC 6455 §7.4 lets a peer put this code in a close frame.
pub fn valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
