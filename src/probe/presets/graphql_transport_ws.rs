//! GraphQL over WebSocket, the `graphql-transport-ws` subprotocol of the graphql-ws library
//! (its PROTOCOL.md): `connection_init` with the payload, `connection_ack`; `ping` answered
//! with `pong`; an optional `subscribe` whose first `next` (or `complete`) is part of the
//! handshake, and `complete` before the close. Refusals: an `error` message for the
//! operation, and the 44xx close codes (the close-code registry reads those).

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::{Dialect, Fill, Refusal, expect, send_text, text_of};
use crate::config::Matcher;
use crate::config::protocols::{GraphqlOperation, GraphqlOptions};
use crate::probe::keepalive::Rule;
use crate::probe::message::Incoming;

/// An `error` for the operation, in either protocol.
pub(super) const OPERATION_REFUSED: &str = "the GraphQL server refused the subscription (its validation, authorization or resolver failed)";
pub(super) const CHECK_OPERATION: &str =
    "check protocol_options.subscribe against the server's schema and the probe's permissions";

/// The id of the one operation the probe runs.
pub(super) const OPERATION_ID: &str = "wsprobe";

pub(super) fn dialect(options: &GraphqlOptions, within: Duration, fill: &Fill) -> Dialect {
    let mut init = json!({ "type": "connection_init" });
    if let Some(payload) = &options.payload {
        init["payload"] = fill.json(payload);
    }
    let mut opening = vec![
        send_text(init.to_string()),
        expect(within, type_is("connection_ack"), "connection_ack"),
    ];
    let mut closing = Vec::new();
    if let Some(operation) = &options.subscribe {
        let subscribe = json!({
            "id": OPERATION_ID,
            "type": "subscribe",
            "payload": operation_payload(operation, fill),
        });
        opening.push(send_text(subscribe.to_string()));
        opening.push(expect(
            within,
            Matcher::AnyOf(vec![result_of("next"), result_of("complete")]),
            "the operation's first result",
        ));
        closing.push(Message::text(
            json!({ "id": OPERATION_ID, "type": "complete" }).to_string(),
        ));
    }
    Dialect {
        opening,
        keepalive: vec![
            Rule::Answer {
                when: type_is("ping"),
                reply: Some(Message::text(r#"{"type":"pong"}"#)),
            },
            // A pong may come unasked, as the server's own heartbeat.
            Rule::Answer {
                when: type_is("pong"),
                reply: None,
            },
        ],
        closing,
        refusal,
    }
}

/// `{query, variables, operationName}`, as both GraphQL-over-WebSocket protocols carry it.
pub(super) fn operation_payload(operation: &GraphqlOperation, fill: &Fill) -> Value {
    let mut payload = json!({ "query": operation.query });
    if let Some(variables) = &operation.variables {
        payload["variables"] = fill.json(variables);
    }
    if let Some(name) = &operation.operation_name {
        payload["operationName"] = Value::String(name.clone());
    }
    payload
}

pub(super) fn type_is(kind: &str) -> Matcher {
    Matcher::Json(vec![("/type".into(), Value::String(kind.into()))])
}

pub(super) fn result_of(kind: &str) -> Matcher {
    Matcher::Json(vec![
        ("/type".into(), Value::String(kind.into())),
        ("/id".into(), Value::String(OPERATION_ID.into())),
    ])
}

/// `{"type":"error","id":…,"payload":[{"message":…}]}`: the operation failed validation or
/// execution.
pub(super) fn refusal(message: Incoming<'_>) -> Option<Refusal> {
    let json: Value = serde_json::from_str(&text_of(message)?).ok()?;
    if json.get("type")?.as_str()? != "error" {
        return None;
    }
    Some(Refusal {
        what: format!(
            "an error for operation {}",
            json.get("id").and_then(Value::as_str).unwrap_or("?")
        ),
        said: graphql_errors(json.get("payload")),
        meaning: OPERATION_REFUSED,
        advice: CHECK_OPERATION,
        layer: None,
    })
}

/// The messages of GraphQL errors: `[{"message":…}, …]`, or one `{"message":…}`.
pub(super) fn graphql_errors(payload: Option<&Value>) -> Option<String> {
    let messages: Vec<&str> = match payload? {
        Value::Array(errors) => errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect(),
        Value::Object(error) => error
            .get("message")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        Value::String(message) => vec![message.as_str()],
        _ => Vec::new(),
    };
    (!messages.is_empty()).then(|| messages.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::protocols::GraphqlOptions;
    use crate::probe::session::Action;

    #[test]
    fn the_handshake_is_connection_init_then_ack_and_the_subscription() {
        let options = GraphqlOptions {
            payload: Some(json!({ "token": "{token}" })),
            subscribe: Some(GraphqlOperation {
                query: "subscription { greetings }".into(),
                variables: None,
                operation_name: None,
            }),
        };
        let dialect = dialect(&options, Duration::from_secs(5), &Fill::described());
        let sent: Vec<String> = dialect
            .opening
            .iter()
            .filter_map(|a| match a {
                Action::Send { message, .. } => Some(message.to_text().unwrap().to_owned()),
                Action::Expect { .. } => None,
            })
            .collect();
        assert_eq!(
            sent,
            [
                r#"{"payload":{"token":"{token}"},"type":"connection_init"}"#,
                r#"{"id":"wsprobe","payload":{"query":"subscription { greetings }"},"type":"subscribe"}"#
            ]
        );
        let Action::Expect { matcher, .. } = &dialect.opening[3] else {
            panic!("an expect")
        };
        assert!(matcher.matches(
            "",
            Some(&json!({"id":"wsprobe","type":"next","payload":{}}))
        ));
        assert!(matcher.matches("", Some(&json!({"id":"wsprobe","type":"complete"}))));
        assert!(!matcher.matches("", Some(&json!({"id":"other","type":"next"}))));
        assert_eq!(
            dialect.closing,
            [Message::text(r#"{"id":"wsprobe","type":"complete"}"#)]
        );
    }

    #[test]
    fn an_error_message_is_the_operations_refusal() {
        let error = r#"{"id":"wsprobe","type":"error","payload":[{"message":"Cannot query field \"nope\""}]}"#;
        assert_eq!(
            refusal(Incoming::Text(error)),
            Some(Refusal {
                what: "an error for operation wsprobe".into(),
                said: Some("Cannot query field \"nope\"".into()),
                meaning: OPERATION_REFUSED,
                advice: CHECK_OPERATION,
                layer: None,
            })
        );
        assert_eq!(refusal(Incoming::Text(r#"{"type":"next"}"#)), None);
        assert_eq!(refusal(Incoming::Text("not json")), None);
    }
}
