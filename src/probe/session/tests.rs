//! The session over an in-memory pipe, the server side scripted.
use super::*;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

fn welcome_check() -> Step {
    Step::Expect {
        within: Duration::from_secs(5),
        matcher: Matcher::Json(vec![("/type".into(), "system_message".into())]),
    }
}

/// A real framed WebSocket pair over an in-memory pipe: the server side is scripted.
async fn pair() -> (
    WebSocketStream<tokio::io::DuplexStream>,
    WebSocketStream<tokio::io::DuplexStream>,
) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    (
        WebSocketStream::from_raw_socket(client, Role::Client, None).await,
        WebSocketStream::from_raw_socket(server, Role::Server, None).await,
    )
}

fn plan(steps: &[Step]) -> Plan<'_> {
    Plan {
        steps,
        send_texts: steps
            .iter()
            .filter_map(|s| match s {
                Step::Send { text } => Some(text.clone()),
                _ => None,
            })
            .collect(),
        echo: None,
        version_pointer: None,
        limits: MessageLimits::default(),
        accepted_at: Instant::now(),
        deadline: Instant::now() + Duration::from_secs(10),
        close_witness: None,
        keepalive: Vec::new(),
        opening: Vec::new(),
        closing: Vec::new(),
        refusal: None,
    }
}

#[tokio::test]
async fn welcome_ping_pong_and_client_close() {
    let steps = vec![
        welcome_check(),
        Step::Send {
            text: r#"{"type":"ping"}"#.into(),
        },
        Step::Expect {
            within: Duration::from_secs(5),
            matcher: Matcher::Json(vec![("/type".into(), "pong".into())]),
        },
    ];
    let (client, mut server) = pair().await;
    let server_task = tokio::spawn(async move {
        server
            .send(Message::text(r#"{"type":"system_message"}"#))
            .await
            .unwrap();
        let ping = server.next().await.unwrap().unwrap();
        assert_eq!(ping.to_text().unwrap(), r#"{"type":"ping"}"#);
        server
            .send(Message::text(r#"{"type":"pong"}"#))
            .await
            .unwrap();
        match server.next().await.unwrap().unwrap() {
            Message::Close(Some(frame)) => u16::from(frame.code),
            other => panic!("expected close, got {other:?}"),
        }
    });
    let outcome = run(client, &plan(&steps)).await;
    assert_eq!(server_task.await.unwrap(), 1000);
    assert_eq!(outcome.ready, Ready::Passed);
    assert!(outcome.ready_ms.is_some() && outcome.exchange_ms.is_some());
    assert_eq!(outcome.failed_step, None);
    assert_eq!(outcome.server_close, None);
    assert_eq!(outcome.messages.len(), 2);
}

#[tokio::test]
async fn close_before_welcome_is_recorded_with_code_and_reason() {
    let steps = vec![welcome_check()];
    let (client, mut server) = pair().await;
    tokio::spawn(async move {
        let frame = CloseFrame {
            code: CloseCode::Error,
            reason: "Internal error".into(),
        };
        server.send(Message::Close(Some(frame))).await.unwrap();
        while server.next().await.is_some() {}
    });
    let outcome = run(client, &plan(&steps)).await;
    assert_eq!(outcome.ready, Ready::Closed);
    let close = outcome.server_close.unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (1011, "Internal error")
    );
}

/// The server closes with `code`; the client reads through the close tap as a probe does.
async fn closed_with(code: u16) -> SessionOutcome {
    let steps = vec![welcome_check()];
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (client, witness) = crate::probe::close_tap::CloseTap::new(client, &[]);
    let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    let mut server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
    tokio::spawn(async move {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "why".into(),
        };
        server.send(Message::Close(Some(frame))).await.unwrap();
        while server.next().await.is_some() {}
    });
    let plan = Plan {
        close_witness: Some(witness),
        ..plan(&steps)
    };
    run(client, &plan).await
}

#[tokio::test]
async fn every_registered_code_is_the_servers_and_only_wsprobes_reply_is_its_own() {
    // tungstenite answers 1014 with its own 1002: that reply is wsprobe's close.
    let bad_gateway = closed_with(1014).await;
    let close = bad_gateway.server_close.unwrap();
    assert_eq!((close.code, close.reason.as_str()), (1014, "why"));
    assert_eq!(bad_gateway.client_close.map(|c| c.code), Some(1002));
    assert_eq!(bad_gateway.protocol_error, None);
    for code in [
        1000, 1001, 1003, 1008, 1011, 1012, 1013, 3000, 3999, 4000, 4401, 4999,
    ] {
        let outcome = closed_with(code).await;
        assert_eq!(outcome.server_close.map(|c| c.code), Some(code));
        assert_eq!(outcome.client_close, None, "{code}");
        assert_eq!(outcome.protocol_error, None, "{code}");
    }
    // A code RFC 6455 never allows is still the server's, and a protocol error.
    for code in [999, 1004, 1005, 1006, 1015, 2999, 5000] {
        let outcome = closed_with(code).await;
        assert_eq!(outcome.server_close.map(|c| c.code), Some(code));
        assert_eq!(outcome.client_close.map(|c| c.code), Some(1002), "{code}");
        assert!(
            outcome.protocol_error.unwrap().contains(&code.to_string()),
            "{code}"
        );
    }
}

#[tokio::test]
async fn drop_without_close_frame_is_1006() {
    let steps = vec![welcome_check()];
    let (client, server) = pair().await;
    drop(server);
    let outcome = run(client, &plan(&steps)).await;
    assert_eq!(outcome.ready, Ready::Closed);
    assert_eq!(outcome.server_close.unwrap().code, 1006);
}

#[tokio::test]
async fn error_message_instead_of_welcome_is_a_mismatch_and_keeps_the_close() {
    let steps = vec![welcome_check()];
    let (client, mut server) = pair().await;
    tokio::spawn(async move {
        server
            .send(Message::text(
                r#"{"type":"error","data":{"message":"nope"}}"#,
            ))
            .await
            .unwrap();
        let frame = CloseFrame {
            code: CloseCode::Policy,
            reason: "Policy Violation".into(),
        };
        server.send(Message::Close(Some(frame))).await.unwrap();
        while server.next().await.is_some() {}
    });
    let outcome = run(client, &plan(&steps)).await;
    assert!(matches!(outcome.ready, Ready::Mismatch { ref message } if message.contains("nope")));
    assert_eq!(outcome.server_close.unwrap().code, 1008);
}

#[tokio::test]
async fn silent_server_times_out_at_the_step_deadline() {
    let steps = vec![Step::Expect {
        within: Duration::from_millis(200),
        matcher: Matcher::Any,
    }];
    let (client, _server) = pair().await;
    let outcome = run(client, &plan(&steps)).await;
    assert_eq!(outcome.ready, Ready::TimedOut { other_messages: 0 });
}

#[test]
fn missing_headers_need_to_have_been_sent() {
    let echoed = vec![
        ("authorization".to_owned(), "[MISSING]".to_owned()),
        ("x-e2e-test".to_owned(), "true".to_owned()),
    ];
    let sent = vec![
        ("Authorization".to_owned(), "Bearer x".to_owned()),
        ("X-E2E-Test".to_owned(), "true".to_owned()),
        ("Sec-WebSocket-Protocol".to_owned(), "jwt-auth".to_owned()),
    ];
    let require = vec![
        "authorization".to_owned(),
        "x-e2e-test".to_owned(),
        "sec-websocket-protocol".to_owned(),
        "origin".to_owned(),
    ];
    assert_eq!(
        missing_headers(&echoed, &require, &sent),
        vec!["authorization", "sec-websocket-protocol"]
    );
}

/// Socket.IO's shape: the server pings `2` between the steps' messages; the keepalive answers
/// `3` at once, the steps never see a `2`, and a timer's message goes out while a step waits.
#[tokio::test]
async fn keepalives_answer_heartbeats_and_send_on_their_timer_between_steps() {
    let steps = vec![
        Step::Expect {
            within: Duration::from_secs(5),
            matcher: Matcher::Any,
        },
        Step::Expect {
            within: Duration::from_secs(5),
            matcher: Matcher::Any,
        },
    ];
    let (client, mut server) = pair().await;
    let server_task = tokio::spawn(async move {
        let mut seen = Vec::new();
        server.send(Message::text("2")).await.unwrap();
        server.send(Message::text("welcome")).await.unwrap();
        server.send(Message::text("2")).await.unwrap();
        // The timer's message comes while the second step waits.
        while !seen.contains(&Message::text("tick")) {
            seen.push(server.next().await.unwrap().unwrap());
        }
        server.send(Message::text("second")).await.unwrap();
        while let Some(Ok(message)) = server.next().await {
            if message.is_close() {
                break;
            }
        }
        seen
    });
    let plan = Plan {
        keepalive: vec![
            keepalive::Rule::Answer {
                when: Matcher::Equals("2".into()),
                reply: Some(Message::text("3")),
            },
            keepalive::Rule::Every {
                period: Some(Duration::from_secs(1)),
                message: Message::text("tick"),
                period_from: None,
            },
        ],
        ..plan(&steps)
    };
    let outcome = run(client, &plan).await;
    let seen = server_task.await.unwrap();
    let answers = seen.iter().filter(|m| **m == Message::text("3")).count();
    assert_eq!(answers, 2, "{seen:?}");
    assert_eq!(outcome.ready, Ready::Passed);
    assert_eq!(outcome.failed_step, None);
    assert_eq!(outcome.messages, ["2", "welcome", "2", "second"]);
    assert_eq!(outcome.keepalive.answered, 2);
    assert!(outcome.keepalive.sent >= 1);
}
