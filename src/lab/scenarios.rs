//! One function per failure scenario. Each owns its connection from the request head onwards.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::Shared;
use super::catalogue::Scenario;
use super::dialect;
use super::http::{self, Head};
use super::keepalive::Needs;
use super::proxy;
use super::upgrade::{self, Subprotocol, Ws};

/// A backend session with no client traffic for this long is closed 1000 "idle".
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// How long hostile scenarios keep a broken socket open, so the client sees the garbage rather
/// than a close.
const HOSTILE_HOLD: Duration = Duration::from_secs(10);
/// The pause between the error message and the 1008 close in `error-message`.
const ERROR_MESSAGE_CLOSE_DELAY: Duration = Duration::from_millis(50);
/// The `huge` message: over every sane client limit, streamed so the lab never holds it.
const HUGE_LEN: u64 = 50 * 1024 * 1024;
const HUGE_CHUNK: usize = 64 * 1024;
/// Not a frame: FIN clear, opcode 0xF (reserved), then junk.
const GARBAGE: &[u8] = b"\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xffNOT A FRAME";
/// The headers the backend reports back, so a probe can see what survived the path to it.
const ECHOED_HEADERS: [&str; 7] = [
    "authorization",
    "sec-websocket-protocol",
    "x-e2e-test",
    "user-agent",
    "origin",
    "traceparent",
    "baggage",
];

/// Serve `/ws/{scenario}` on a connection whose head has been read.
pub async fn serve(
    scenario: Scenario,
    mut stream: TcpStream,
    mut head: Head,
    peer: SocketAddr,
    shared: &Shared,
) -> std::io::Result<()> {
    // These three answer before (or instead of) judging the upgrade, as their real
    // counterparts do: an auth layer, a wedged server, a proxy that leaves that to the backend.
    match scenario {
        Scenario::Reject401 => {
            return http::respond_json(&mut stream, 401, &http::detail("Not authenticated")).await;
        }
        Scenario::HangUpgrade => return hold(&mut stream, None).await,
        Scenario::StripAuth => {
            return proxy::forward(stream, head, peer, shared.backend, proxy::STRIP_AUTH).await;
        }
        Scenario::StripTrace => {
            return proxy::forward(stream, head, peer, shared.backend, proxy::STRIP_TRACE).await;
        }
        _ => {}
    }
    // An auth or origin check in front of the socket, as a framework's middleware does.
    let refusal = match scenario {
        Scenario::QueryToken => dialect::query_token_refusal(&head, &shared.issued),
        Scenario::Origin => dialect::origin_refusal(&head),
        _ => None,
    };
    if let Some((status, why)) = refusal {
        return http::respond_json(&mut stream, status, &http::detail(why)).await;
    }
    let upgrade = match upgrade::validate(&head) {
        Ok(u) => u,
        Err(why) => return http::respond_json(&mut stream, 400, &http::detail(why)).await,
    };
    let received = headers_received(&head);

    if serve_below_websocket(scenario, &mut stream, &upgrade).await? {
        return Ok(());
    }

    let subprotocol = match scenario {
        Scenario::NoSubprotocol => Subprotocol::Never,
        _ => Subprotocol::Negotiate,
    };
    let leftover = std::mem::take(&mut head.leftover);
    let ws = upgrade::accept(stream, leftover, &upgrade, subprotocol).await?;
    serve_websocket(scenario, ws, received, shared).await;
    Ok(())
}

/// The scenarios that misbehave below the WebSocket layer, so they keep the raw socket: `false`
/// for the others, left to serve.
async fn serve_below_websocket(
    scenario: Scenario,
    stream: &mut TcpStream,
    upgrade: &upgrade::Upgrade,
) -> std::io::Result<bool> {
    match scenario {
        Scenario::Garbage => {
            upgrade::accept_raw(stream, upgrade, Subprotocol::Negotiate).await?;
            stream.write_all(GARBAGE).await?;
        }
        Scenario::Huge => {
            upgrade::accept_raw(stream, upgrade, Subprotocol::Negotiate).await?;
            huge(stream).await?;
        }
        Scenario::BadAccept => {
            // A real accept value, for the wrong key: well-formed but not ours.
            let wrong = derive_accept_key(format!("{}x", upgrade.key).as_bytes());
            let selected = upgrade.offered_subprotocol.then_some(upgrade::SUBPROTOCOL);
            let head = upgrade::switching_protocols(&wrong, selected);
            stream.write_all(head.as_bytes()).await?;
        }
        _ => return Ok(false),
    }
    hold(stream, Some(HOSTILE_HOLD)).await?;
    Ok(true)
}

/// The scenarios that upgrade, then behave (or misbehave) over the WebSocket.
async fn serve_websocket(scenario: Scenario, mut ws: Ws, received: Value, shared: &Shared) {
    let options = &shared.options;
    match scenario {
        Scenario::Healthy | Scenario::NoSubprotocol | Scenario::QueryToken | Scenario::Origin => {
            serve_app(ws, received).await
        }
        Scenario::InternalError => internal_error(ws, options.internal_error_delay).await,
        Scenario::CleanClose => upgrade::close(&mut ws, 1000, "main cleanup").await,
        Scenario::AuthBackend => auth_backend(ws, received).await,
        Scenario::NoWelcome => no_welcome(ws).await,
        Scenario::SlowWelcome => {
            tokio::time::sleep(options.slow_welcome_delay).await;
            serve_app(ws, received).await;
        }
        Scenario::Startup => {
            if shared.started.elapsed() < options.startup_duration {
                upgrade::close(&mut ws, 1011, "Service startup incomplete").await;
            } else {
                serve_app(ws, received).await;
            }
        }
        Scenario::Flaky => {
            let nth = shared.flaky_connections.fetch_add(1, Ordering::Relaxed) + 1;
            if flaky_is_healthy(nth) {
                serve_app(ws, received).await;
            } else {
                internal_error(ws, options.internal_error_delay).await;
            }
        }
        Scenario::ErrorMessage => error_message(ws).await,
        Scenario::HtmlClose => upgrade::close(&mut ws, 1011, "<script>alert(1)</script>").await,
        Scenario::TokenExpired => upgrade::close(&mut ws, 4401, "token expired").await,
        Scenario::BinaryWelcome => {
            let frame = Message::binary(vec![0x82, 0x00, 0x01, 0x02, 0xff, 0xfe]);
            send_then_close(ws, frame).await;
        }
        Scenario::NoPong => no_pong(ws, received).await,
        Scenario::Frozen => {
            if welcome(&mut ws, received).await {
                // Not reading means not answering anything, the close included.
                tokio::time::sleep(HOSTILE_HOLD).await;
            }
        }
        Scenario::OtherEvent => {
            let hello = json!({ "type": "hello", "protocol": 2 }).to_string();
            send_then_close(ws, Message::text(hello)).await;
        }
        Scenario::Heartbeat => super::keepalive::serve(ws, received, Needs::Answers).await,
        Scenario::IdleTimeout => super::keepalive::serve(ws, received, Needs::Activity).await,
        Scenario::Reject401
        | Scenario::HangUpgrade
        | Scenario::StripAuth
        | Scenario::StripTrace
        | Scenario::Garbage
        | Scenario::Huge
        | Scenario::BadAccept => unreachable!("served above without a WebSocket"),
    }
}

/// The `headers_received` object the backend puts in its welcome and error messages.
pub fn headers_received(head: &Head) -> Value {
    ECHOED_HEADERS
        .iter()
        .map(|name| {
            let value = head.header(name).unwrap_or_else(|| "[MISSING]".to_owned());
            ((*name).to_owned(), Value::String(value))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The answer of the backend to one client text message.
pub fn reply_to(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(msg) if msg.get("type").and_then(Value::as_str) == Some("ping") => {
            let mut pong = json!({ "type": "pong" });
            if let Some(id) = msg.get("id") {
                pong["id"] = id.clone();
            }
            pong.to_string()
        }
        _ => json!({ "type": "echo", "data": text }).to_string(),
    }
}

/// Odd-numbered connections (1st, 3rd, …) to `flaky` succeed, so tests can count on the order.
pub fn flaky_is_healthy(nth: u64) -> bool {
    nth % 2 == 1
}

/// What the real backend does once a socket is up: welcome, then answer until the client leaves.
/// The welcome every well-behaved session starts with; false when the client is gone.
pub(super) async fn welcome(ws: &mut Ws, received: Value) -> bool {
    let welcome = json!({
        "type": "system_message",
        "data": { "event": "connection_established", "headers_received": received },
    });
    ws.send(Message::text(welcome.to_string())).await.is_ok()
}

/// Reads (so pings and the close are answered by the library) and never replies.
async fn no_pong(mut ws: Ws, received: Value) {
    if welcome(&mut ws, received).await {
        let _ = tokio::time::timeout(IDLE_LIMIT, upgrade::drain(&mut ws)).await;
    }
}

async fn serve_app(mut ws: Ws, received: Value) {
    if !welcome(&mut ws, received).await {
        return;
    }
    loop {
        let msg = match tokio::time::timeout(IDLE_LIMIT, ws.next()).await {
            Err(_) => return upgrade::close(&mut ws, 1000, "idle").await,
            Ok(None | Some(Err(_))) => return,
            Ok(Some(Ok(msg))) => msg,
        };
        // Binary is ignored; ping and Close are answered by the library on the next read.
        if let Message::Text(text) = msg
            && ws
                .send(Message::text(reply_to(text.as_str())))
                .await
                .is_err()
        {
            return;
        }
    }
}

/// The production outage: accepted, then 1011 a few tens of milliseconds later.
async fn internal_error(mut ws: Ws, delay: Duration) {
    tokio::time::sleep(delay).await;
    upgrade::close(&mut ws, 1011, "Internal error").await;
}

/// The backend behind `strip-auth`: fine with credentials, an auth failure without.
async fn auth_backend(mut ws: Ws, received: Value) {
    if received["authorization"] != "[MISSING]" {
        return serve_app(ws, received).await;
    }
    let error = json!({
        "type": "error",
        "data": {
            "message": "authentication failed: no credentials",
            "headers_received": received,
        },
    });
    if ws.send(Message::text(error.to_string())).await.is_ok() {
        upgrade::close(&mut ws, 1011, "Internal error").await;
    }
}

async fn no_welcome(mut ws: Ws) {
    if tokio::time::timeout(IDLE_LIMIT, upgrade::drain(&mut ws))
        .await
        .is_err()
    {
        upgrade::close(&mut ws, 1000, "idle").await;
    }
}

/// One message where the welcome should be, then a normal close: a server of another
/// protocol or version saying its own hello.
async fn send_then_close(mut ws: Ws, message: Message) {
    if ws.send(message).await.is_ok() {
        tokio::time::sleep(ERROR_MESSAGE_CLOSE_DELAY).await;
        upgrade::close(&mut ws, 1000, "").await;
    }
}

async fn error_message(mut ws: Ws) {
    let error = json!({ "type": "error", "data": { "message": "unsupported protocol version" } });
    if ws.send(Message::text(error.to_string())).await.is_ok() {
        tokio::time::sleep(ERROR_MESSAGE_CLOSE_DELAY).await;
        upgrade::close(&mut ws, 1008, "Policy Violation").await;
    }
}

/// One unmasked text frame of [`HUGE_LEN`] bytes, header written by hand, payload streamed.
async fn huge(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut header = vec![0x81, 127];
    header.extend_from_slice(&HUGE_LEN.to_be_bytes());
    stream.write_all(&header).await?;
    let chunk = vec![b'a'; HUGE_CHUNK];
    let mut left = HUGE_LEN;
    while left > 0 {
        let n = left.min(HUGE_CHUNK as u64) as usize;
        // A write error means the client gave up, which is the expected ending.
        stream.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    stream.flush().await
}

/// Keep a socket open without answering: read and discard until the client leaves, `limit`
/// passes (if any) or the task is cancelled. Reading, not sleeping, so a departed client frees
/// the task at once.
async fn hold(stream: &mut TcpStream, limit: Option<Duration>) -> std::io::Result<()> {
    let drain = async {
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok(())
    };
    match limit {
        Some(limit) => tokio::time::timeout(limit, drain).await.unwrap_or(Ok(())),
        None => drain.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_gets_pong_with_its_id_and_anything_else_is_echoed() {
        assert_eq!(
            reply_to(r#"{"type":"ping","id":7}"#),
            r#"{"id":7,"type":"pong"}"#
        );
        assert_eq!(reply_to(r#"{"type":"ping"}"#), r#"{"type":"pong"}"#);
        assert_eq!(reply_to("hello"), r#"{"data":"hello","type":"echo"}"#);
        assert_eq!(
            reply_to(r#"{"type":"hi"}"#),
            r#"{"data":"{\"type\":\"hi\"}","type":"echo"}"#
        );
    }

    #[test]
    fn headers_received_marks_absent_headers_missing() {
        let raw = b"GET / HTTP/1.1\r\nAuthorization: Bearer x\r\nUser-Agent: t\r\n\
                    traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
        let head = http::parse_head(raw).unwrap().unwrap();
        assert_eq!(
            headers_received(&head),
            json!({
                "authorization": "Bearer x",
                "sec-websocket-protocol": "[MISSING]",
                "x-e2e-test": "[MISSING]",
                "user-agent": "t",
                "origin": "[MISSING]",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "baggage": "[MISSING]",
            })
        );
    }

    #[test]
    fn flaky_alternates_starting_healthy() {
        let pattern: Vec<bool> = (1..=4).map(flaky_is_healthy).collect();
        assert_eq!(pattern, [true, false, true, false]);
    }
}
