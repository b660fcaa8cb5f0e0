//! The legacy GraphQL over WebSocket protocol of subscriptions-transport-ws (its PROTOCOL.md),
//! subprotocol `graphql-ws`: `connection_init` → `connection_ack`, `ka` keep-alives to ignore,
//! an optional `start` whose first `data` (or `complete`) is part of the handshake, `stop` and
//! `connection_terminate` before the close. Refusals: `connection_error` (the server's
//! onConnect said no) and `error` for the operation.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::graphql_transport_ws::{
    CHECK_OPERATION, OPERATION_ID, OPERATION_REFUSED, graphql_errors, operation_payload, result_of,
    type_is,
};
use super::{Dialect, Fill, Refusal, expect, send_text, text_of};
use crate::config::Matcher;
use crate::config::protocols::GraphqlOptions;
use crate::probe::keepalive::Rule;
use crate::probe::message::Incoming;

pub(super) fn dialect(options: &GraphqlOptions, within: Duration, fill: &Fill) -> Dialect {
    let payload = options
        .payload
        .as_ref()
        .map_or_else(|| json!({}), |payload| fill.json(payload));
    let init = json!({ "type": "connection_init", "payload": payload });
    let mut opening = vec![
        send_text(init.to_string()),
        expect(within, type_is("connection_ack"), "connection_ack"),
    ];
    let mut closing = Vec::new();
    if let Some(operation) = &options.subscribe {
        let start = json!({
            "id": OPERATION_ID,
            "type": "start",
            "payload": operation_payload(operation, fill),
        });
        opening.push(send_text(start.to_string()));
        opening.push(expect(
            within,
            Matcher::AnyOf(vec![result_of("data"), result_of("complete")]),
            "the operation's first result",
        ));
        closing.push(Message::text(
            json!({ "id": OPERATION_ID, "type": "stop" }).to_string(),
        ));
    }
    closing.push(Message::text(r#"{"type":"connection_terminate"}"#));
    Dialect {
        opening,
        keepalive: vec![Rule::Answer {
            when: type_is("ka"),
            reply: None,
        }],
        closing,
        refusal,
    }
}

/// `{"type":"connection_error","payload":{"message":…}}`, or `error` for the operation.
pub(super) fn refusal(message: Incoming<'_>) -> Option<Refusal> {
    let json: Value = serde_json::from_str(&text_of(message)?).ok()?;
    let (what, meaning, advice) = match json.get("type")?.as_str()? {
        "connection_error" => (
            "a connection_error".to_owned(),
            "the GraphQL server's onConnect refused connection_init's payload",
            "check protocol_options.payload (the token in it) against what the server's onConnect expects",
        ),
        "error" => (
            format!(
                "an error for operation {}",
                json.get("id").and_then(Value::as_str).unwrap_or("?")
            ),
            OPERATION_REFUSED,
            CHECK_OPERATION,
        ),
        _ => return None,
    };
    Some(Refusal {
        what,
        said: graphql_errors(json.get("payload")),
        meaning,
        advice,
        layer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_error_and_error_are_refusals_ka_is_not() {
        let refused = refusal(Incoming::Text(
            r#"{"type":"connection_error","payload":{"message":"not authorized"}}"#,
        ))
        .unwrap();
        assert_eq!(refused.what, "a connection_error");
        assert_eq!(refused.said.as_deref(), Some("not authorized"));
        let error = refusal(Incoming::Text(
            r#"{"id":"wsprobe","type":"error","payload":{"message":"bad query"}}"#,
        ))
        .unwrap();
        assert_eq!(error.what, "an error for operation wsprobe");
        assert_eq!(refusal(Incoming::Text(r#"{"type":"ka"}"#)), None);
    }

    #[test]
    fn the_payload_defaults_to_an_empty_object_and_the_session_ends_with_terminate() {
        let dialect = dialect(
            &GraphqlOptions {
                payload: None,
                subscribe: None,
            },
            Duration::from_secs(5),
            &Fill::described(),
        );
        assert!(matches!(
            &dialect.opening[0],
            crate::probe::session::Action::Send { message, .. }
                if message.to_text().unwrap() == r#"{"payload":{},"type":"connection_init"}"#
        ));
        assert_eq!(
            dialect.closing,
            [Message::text(r#"{"type":"connection_terminate"}"#)]
        );
    }
}
