//! Socket.IO v4 over Engine.IO 4 on the `websocket` transport (the socket.io-protocol and
//! engine.io-protocol documents): the open packet `0{…}`, the namespace connect `40<ns>,{auth}`
//! answered `40<ns>,{"sid":…}`, the server's ping `2` answered with pong `3`; the environment's
//! steps then speak `42<ns>,[event, …]`. Refusal: `44<ns>,{"message":…}`, the namespace's
//! connect_error (its middleware said no). Close: `41<ns>,` (leave the namespace), `1`.

use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use super::{Dialect, Fill, Refusal, expect, send_text, text_of};
use crate::config::Matcher;
use crate::config::protocols::SocketIoOptions;
use crate::probe::keepalive::Rule;
use crate::probe::message::Incoming;

/// Engine.IO packet types, as the first character of a message.
const OPEN: &str = "0";
const CLOSE: &str = "1";
const PING: &str = "2";
const PONG: &str = "3";
/// A Socket.IO packet inside an Engine.IO message (`4`): connect, disconnect, connect_error.
const CONNECT: &str = "40";
const DISCONNECT: &str = "41";
const CONNECT_ERROR: &str = "44";

pub(super) fn dialect(options: &SocketIoOptions, within: Duration, fill: &Fill) -> Dialect {
    let ns = namespace_prefix(&options.namespace);
    let auth = options
        .auth
        .as_ref()
        .map(|auth| fill.json(auth).to_string())
        .unwrap_or_default();
    Dialect {
        opening: vec![
            expect(
                within,
                Matcher::Prefix {
                    prefix: OPEN.into(),
                    json: Vec::new(),
                },
                "the Engine.IO open packet",
            ),
            send_text(format!("{CONNECT}{ns}{auth}")),
            expect(
                within,
                Matcher::Prefix {
                    prefix: format!("{CONNECT}{ns}"),
                    json: Vec::new(),
                },
                &format!("the connect of namespace {}", options.namespace),
            ),
        ],
        keepalive: vec![Rule::Answer {
            when: Matcher::Equals(PING.into()),
            reply: Some(Message::text(PONG)),
        }],
        closing: vec![
            Message::text(format!("{DISCONNECT}{ns}")),
            Message::text(CLOSE),
        ],
        refusal,
    }
}

/// `/chat,` for a namespace, nothing for the main one (`/`).
fn namespace_prefix(namespace: &str) -> String {
    if namespace == "/" {
        String::new()
    } else {
        format!("{namespace},")
    }
}

/// The URL with what the Engine.IO server needs in its query (`EIO=4`, `transport=websocket`)
/// when the config did not write it.
pub(super) fn url(url: &Url) -> Url {
    let mut url = url.clone();
    let has = |url: &Url, name: &str| url.query_pairs().any(|(k, _)| k == name);
    let missing: Vec<(&str, &str)> = [("EIO", "4"), ("transport", "websocket")]
        .into_iter()
        .filter(|(name, _)| !has(&url, name))
        .collect();
    if !missing.is_empty() {
        url.query_pairs_mut().extend_pairs(missing);
    }
    url
}

/// `44/chat,{"message":"not authorized","data":…}`.
pub(super) fn refusal(message: Incoming<'_>) -> Option<Refusal> {
    let text = text_of(message)?;
    let rest = text.strip_prefix(CONNECT_ERROR)?;
    let (namespace, body) = match rest.strip_prefix('/') {
        Some(_) => rest.split_once(',').unwrap_or((rest, "")),
        None => ("/", rest),
    };
    let said = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|error| match error {
            Value::Object(map) => map
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
            Value::String(message) => Some(message),
            _ => None,
        });
    Some(Refusal {
        what: format!("a connect_error (44) for namespace {namespace}"),
        said,
        meaning: "the namespace's middleware refused the connection (its auth check, most often)",
        advice: "check protocol_options.auth (the token in it) and namespace against what the server's middleware expects",
        layer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::session::Action;
    use serde_json::json;

    #[test]
    fn namespace_connect_carries_the_auth_object() {
        let options = SocketIoOptions {
            namespace: "/chat".into(),
            auth: Some(json!({ "token": "{token}" })),
        };
        let dialect = dialect(&options, Duration::from_secs(5), &Fill::described());
        let Action::Send { message, .. } = &dialect.opening[1] else {
            panic!("a send")
        };
        assert_eq!(message.to_text().unwrap(), r#"40/chat,{"token":"{token}"}"#);
        let Action::Expect { matcher, .. } = &dialect.opening[2] else {
            panic!("an expect")
        };
        assert!(matcher.matches(r#"40/chat,{"sid":"abc"}"#, None));
        assert!(!matcher.matches(r#"44/chat,{"message":"no"}"#, None));
        let main = SocketIoOptions {
            namespace: "/".into(),
            auth: None,
        };
        let Action::Send { message, .. } =
            &super::dialect(&main, Duration::from_secs(5), &Fill::described()).opening[1]
        else {
            panic!("a send")
        };
        assert_eq!(message.to_text().unwrap(), "40");
    }

    #[test]
    fn connect_error_names_its_namespace_and_message() {
        for (packet, what, said) in [
            (
                r#"44/chat,{"message":"not authorized"}"#,
                "a connect_error (44) for namespace /chat",
                Some("not authorized"),
            ),
            (
                r#"44{"message":"Invalid namespace"}"#,
                "a connect_error (44) for namespace /",
                Some("Invalid namespace"),
            ),
            (
                "44/admin,",
                "a connect_error (44) for namespace /admin",
                None,
            ),
        ] {
            let refused = refusal(Incoming::Text(packet)).unwrap();
            assert_eq!(refused.what, what, "{packet}");
            assert_eq!(refused.said.as_deref(), said, "{packet}");
        }
        assert_eq!(refusal(Incoming::Text(r#"42["welcome"]"#)), None);
        assert_eq!(refusal(Incoming::Text("2")), None);
    }

    #[test]
    fn the_engine_io_query_is_added_when_missing() {
        let plain = Url::parse("wss://chat.example.com/socket.io/").unwrap();
        assert_eq!(
            url(&plain).as_str(),
            "wss://chat.example.com/socket.io/?EIO=4&transport=websocket"
        );
        let written = Url::parse("wss://h/socket.io/?EIO=4&transport=websocket&token=x").unwrap();
        assert_eq!(url(&written), written);
        let partial = Url::parse("ws://h/io/?token=x").unwrap();
        assert_eq!(
            url(&partial).as_str(),
            "ws://h/io/?token=x&EIO=4&transport=websocket"
        );
    }
}
