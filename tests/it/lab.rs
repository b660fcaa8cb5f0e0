//! The failure lab over real sockets: a lab on 127.0.0.1:0 per test, clients written here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{WebSocketStream, client_async};
use wsprobe::lab::{E2E_BYPASS_KEY, Lab, LabOptions};

/// Far above anything the lab should take; only a broken lab waits this long.
const WAIT: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<TcpStream>;

use crate::helpers::{spawn_lab, spawn_lab_with};

struct HttpAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_response(raw: &[u8]) -> Option<(HttpAnswer, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut res = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = res.parse(raw).unwrap() else {
        return None;
    };
    let answer = HttpAnswer {
        status: res.code.unwrap(),
        headers: res
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8(h.value.to_vec()).unwrap();
                (h.name.to_owned(), value)
            })
            .collect(),
        body: String::new(),
    };
    Some((answer, len))
}

/// Send a raw request and read the whole answer (the lab closes after plain HTTP answers).
async fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpAnswer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("lab answered in time")
        .unwrap();
    let (mut answer, len) = parse_response(&raw).expect("a complete response head");
    answer.body = String::from_utf8(raw[len..].to_vec()).unwrap();
    answer
}

async fn post_token(lab: &Lab, extra_headers: &str, body: &str) -> HttpAnswer {
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: lab\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http_raw(lab.addr(), request.as_bytes()).await
}

/// A 101 (or not) read by hand, for the endpoints a strict client library would refuse.
struct RawUpgrade {
    answer: HttpAnswer,
    key: String,
    /// Bytes after the response head, already read.
    leftover: Vec<u8>,
    stream: TcpStream,
}

async fn send_upgrade(
    addr: SocketAddr,
    path: &str,
    extra_headers: &[(&str, &str)],
) -> (TcpStream, String) {
    let key = generate_key();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
    );
    for (name, value) in extra_headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    (stream, key)
}

async fn raw_upgrade(lab: &Lab, endpoint: &str, extra_headers: &[(&str, &str)]) -> RawUpgrade {
    let (mut stream, key) =
        send_upgrade(lab.addr(), &format!("/ws/{endpoint}"), extra_headers).await;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((answer, len)) = parse_response(&raw) {
            let leftover = raw[len..].to_vec();
            return RawUpgrade {
                answer,
                key,
                leftover,
                stream,
            };
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("upgrade answered in time")
            .unwrap();
        assert!(n > 0, "lab closed before answering the upgrade");
        raw.extend_from_slice(&chunk[..n]);
    }
}

async fn into_ws(raw: RawUpgrade) -> Ws {
    assert_eq!(raw.answer.status, 101);
    WebSocketStream::from_partially_read(raw.stream, raw.leftover, Role::Client, None).await
}

/// Connect with tokio-tungstenite's own client, which checks the 101 the way real clients do.
async fn client(
    lab: &Lab,
    endpoint: &str,
    headers: &[(&str, &str)],
) -> (Ws, http::Response<Option<Vec<u8>>>) {
    let mut request = lab.ws_url(endpoint).into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let tcp = TcpStream::connect(lab.addr()).await.unwrap();
    tokio::time::timeout(WAIT, client_async(request, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake accepted by the client library")
}

async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a message in time")
        .expect("stream still open")
        .expect("a valid frame")
}

async fn next_json(ws: &mut Ws) -> Value {
    match next(ws).await {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn next_close(ws: &mut Ws) -> (u16, String) {
    match next(ws).await {
        Message::Close(Some(frame)) => (frame.code.into(), frame.reason.as_str().to_owned()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

fn assert_welcome(msg: &Value) {
    assert_eq!(msg["type"], "system_message", "{msg}");
    assert_eq!(msg["data"]["event"], "connection_established", "{msg}");
}

#[tokio::test]
async fn health_is_200_healthy() {
    let lab = spawn_lab().await;
    let answer = http_raw(lab.addr(), b"GET /health HTTP/1.1\r\nHost: lab\r\n\r\n").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body, r#"{"status":"healthy"}"#);
}

#[tokio::test]
async fn token_with_the_right_key_in_header_or_body_is_minted() {
    let lab = spawn_lab().await;
    let by_header = post_token(
        &lab,
        &format!("X-E2E-Bypass-Key: {E2E_BYPASS_KEY}\r\n"),
        "{}",
    )
    .await;
    let by_body = post_token(&lab, "", &json!({ "key": E2E_BYPASS_KEY }).to_string()).await;
    for answer in [by_header, by_body] {
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
    }
}

#[tokio::test]
async fn token_with_a_wrong_or_missing_key_is_401() {
    let lab = spawn_lab().await;
    let wrong = post_token(&lab, "X-E2E-Bypass-Key: nope\r\n", r#"{"key":"nope"}"#).await;
    let missing = post_token(&lab, "", "").await;
    for answer in [wrong, missing] {
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body, r#"{"detail":"Invalid E2E bypass key"}"#);
    }
}

/// The W3C recommendation's own example.
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn healthy_welcomes_with_received_headers_and_answers_pings() {
    let lab = spawn_lab().await;
    let (mut ws, response) = client(
        &lab,
        "healthy",
        &[
            ("Authorization", "Bearer t0ken"),
            ("Sec-WebSocket-Protocol", "jwt-auth"),
            ("User-Agent", "lab-test/1"),
            ("X-E2E-Test", "true"),
            ("traceparent", TRACEPARENT),
        ],
    )
    .await;
    assert_eq!(response.headers()["sec-websocket-protocol"], "jwt-auth");
    assert_eq!(response.headers()["x-revision"], "lab-rev-1");

    let welcome = next_json(&mut ws).await;
    assert_welcome(&welcome);
    assert_eq!(
        welcome["data"]["headers_received"],
        json!({
            "authorization": "Bearer t0ken",
            "sec-websocket-protocol": "jwt-auth",
            "x-e2e-test": "true",
            "user-agent": "lab-test/1",
            "origin": "[MISSING]",
            "traceparent": TRACEPARENT,
            "baggage": "[MISSING]",
        })
    );
    assert_eq!(
        lab.traceparents(),
        vec![wsprobe::lab::ReceivedTrace {
            path: "/ws/healthy".into(),
            traceparent: TRACEPARENT.into(),
        }]
    );

    ws.send(Message::text(r#"{"type":"ping","id":"p1"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "type": "pong", "id": "p1" })
    );
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "type": "echo", "data": "hello" })
    );

    // A WebSocket-level ping is answered by the protocol layer.
    ws.send(Message::Ping(b"hb".to_vec().into())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::Pong(b"hb".to_vec().into()));

    ws.close(None).await.unwrap();
    assert!(matches!(next(&mut ws).await, Message::Close(_)));
}

#[tokio::test]
async fn healthy_selects_no_subprotocol_when_none_is_offered() {
    let lab = spawn_lab().await;
    let (mut ws, response) = client(&lab, "healthy", &[]).await;
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    let welcome = next_json(&mut ws).await;
    assert_eq!(
        welcome["data"]["headers_received"]["authorization"],
        "[MISSING]"
    );
}

#[tokio::test]
async fn internal_error_closes_1011_before_any_welcome() {
    let lab = spawn_lab().await;
    let started = Instant::now();
    let (mut ws, _) = client(
        &lab,
        "internal-error",
        &[("Sec-WebSocket-Protocol", "jwt-auth")],
    )
    .await;
    assert_eq!(
        next_close(&mut ws).await,
        (1011, "Internal error".to_owned())
    );
    assert!(started.elapsed() >= LabOptions::default().internal_error_delay);
}

#[tokio::test]
async fn clean_close_is_1000_main_cleanup() {
    let lab = spawn_lab().await;
    let (mut ws, _) = client(&lab, "clean-close", &[]).await;
    assert_eq!(next_close(&mut ws).await, (1000, "main cleanup".to_owned()));
}

#[tokio::test]
async fn strip_auth_backend_never_sees_the_credentials() {
    let lab = spawn_lab().await;
    let raw = raw_upgrade(
        &lab,
        "strip-auth",
        &[
            ("Authorization", "Bearer t0ken"),
            ("Sec-WebSocket-Protocol", "jwt-auth"),
        ],
    )
    .await;
    // The protocol header went missing on the way, so the backend selected none.
    assert_eq!(raw.answer.header("sec-websocket-protocol"), None);
    assert_eq!(raw.answer.header("x-revision"), Some("lab-rev-1"));
    let mut ws = into_ws(raw).await;

    let error = next_json(&mut ws).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(
        error["data"]["message"],
        "authentication failed: no credentials"
    );
    assert_eq!(
        error["data"]["headers_received"]["authorization"],
        "[MISSING]"
    );
    assert_eq!(
        error["data"]["headers_received"]["sec-websocket-protocol"],
        "[MISSING]"
    );
    assert_eq!(
        next_close(&mut ws).await,
        (1011, "Internal error".to_owned())
    );
}

#[tokio::test]
async fn auth_backend_reached_directly_with_credentials_welcomes() {
    let lab = spawn_lab().await;
    let (mut ws, _) = client(&lab, "auth-backend", &[("Authorization", "Bearer t0ken")]).await;
    let welcome = next_json(&mut ws).await;
    assert_welcome(&welcome);
    assert_eq!(
        welcome["data"]["headers_received"]["authorization"],
        "Bearer t0ken"
    );
}

#[tokio::test]
async fn reject_401_answers_the_upgrade_with_401() {
    let lab = spawn_lab().await;
    let (mut stream, _) = send_upgrade(lab.addr(), "/ws/reject-401", &[]).await;
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let (answer, len) = parse_response(&raw).unwrap();
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(&raw[len..], br#"{"detail":"Not authenticated"}"#);
}

#[tokio::test]
async fn no_subprotocol_never_selects_one_but_still_welcomes() {
    let lab = spawn_lab().await;
    let raw = raw_upgrade(
        &lab,
        "no-subprotocol",
        &[("Sec-WebSocket-Protocol", "jwt-auth")],
    )
    .await;
    assert_eq!(raw.answer.header("sec-websocket-protocol"), None);
    let mut ws = into_ws(raw).await;
    assert_welcome(&next_json(&mut ws).await);
}

#[tokio::test]
async fn no_welcome_stays_silent_and_answers_close() {
    let lab = spawn_lab().await;
    let (mut ws, _) = client(&lab, "no-welcome", &[]).await;
    let silence = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
    assert!(silence.is_err(), "expected silence, got {silence:?}");
    ws.close(None).await.unwrap();
    assert!(matches!(next(&mut ws).await, Message::Close(_)));
}

#[tokio::test]
async fn slow_welcome_waits_before_welcoming() {
    let delay = Duration::from_millis(300);
    let lab = spawn_lab_with(LabOptions {
        slow_welcome_delay: delay,
        ..LabOptions::default()
    })
    .await;
    let (mut ws, _) = client(&lab, "slow-welcome", &[]).await;
    let upgraded = Instant::now();
    assert_welcome(&next_json(&mut ws).await);
    assert!(upgraded.elapsed() >= delay - Duration::from_millis(50));
}

#[tokio::test]
async fn startup_fails_during_the_window_and_is_healthy_after() {
    let starting = spawn_lab_with(LabOptions {
        startup_duration: Duration::from_secs(3600),
        ..LabOptions::default()
    })
    .await;
    let (mut ws, _) = client(&starting, "startup", &[]).await;
    assert_eq!(
        next_close(&mut ws).await,
        (1011, "Service startup incomplete".to_owned())
    );

    let started = spawn_lab_with(LabOptions {
        startup_duration: Duration::ZERO,
        ..LabOptions::default()
    })
    .await;
    let (mut ws, _) = client(&started, "startup", &[]).await;
    assert_welcome(&next_json(&mut ws).await);
}

#[tokio::test]
async fn flaky_alternates_healthy_and_1011() {
    let lab = spawn_lab().await;
    let (mut first, _) = client(&lab, "flaky", &[]).await;
    assert_welcome(&next_json(&mut first).await);
    let (mut second, _) = client(&lab, "flaky", &[]).await;
    assert_eq!(
        next_close(&mut second).await,
        (1011, "Internal error".to_owned())
    );
    let (mut third, _) = client(&lab, "flaky", &[]).await;
    assert_welcome(&next_json(&mut third).await);
}

#[tokio::test]
async fn error_message_then_1008() {
    let lab = spawn_lab().await;
    let (mut ws, _) = client(&lab, "error-message", &[]).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!({ "type": "error", "data": { "message": "unsupported protocol version" } })
    );
    assert_eq!(
        next_close(&mut ws).await,
        (1008, "Policy Violation".to_owned())
    );
}

#[tokio::test]
async fn html_close_reason_is_sent_verbatim() {
    let lab = spawn_lab().await;
    let (mut ws, _) = client(&lab, "html-close", &[]).await;
    assert_eq!(
        next_close(&mut ws).await,
        (1011, "<script>alert(1)</script>".to_owned())
    );
}

#[tokio::test]
async fn hang_upgrade_never_answers() {
    let lab = spawn_lab().await;
    let (mut stream, _) = send_upgrade(lab.addr(), "/ws/hang-upgrade", &[]).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
    assert!(read.is_err(), "expected no answer, got {read:?}");
}

#[tokio::test]
async fn bad_accept_sends_an_accept_for_another_key() {
    let lab = spawn_lab().await;
    let raw = raw_upgrade(&lab, "bad-accept", &[]).await;
    assert_eq!(raw.answer.status, 101);
    let accept = raw.answer.header("sec-websocket-accept").unwrap();
    assert_ne!(accept, derive_accept_key(raw.key.as_bytes()));

    let request = lab.ws_url("bad-accept").into_client_request().unwrap();
    let tcp = TcpStream::connect(lab.addr()).await.unwrap();
    let refused = tokio::time::timeout(WAIT, client_async(request, tcp))
        .await
        .unwrap();
    assert!(
        refused.is_err(),
        "the client library must refuse a wrong accept"
    );
}

#[tokio::test]
async fn garbage_after_101_is_not_a_frame() {
    let lab = spawn_lab().await;
    let mut raw = raw_upgrade(&lab, "garbage", &[]).await;
    while raw.leftover.len() < 2 {
        let mut chunk = [0u8; 64];
        let n = tokio::time::timeout(WAIT, raw.stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        raw.leftover.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&raw.leftover[..2], b"\x0f\xff");

    let (mut ws, _) = client(&lab, "garbage", &[]).await;
    let read = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert!(
        matches!(read, Some(Err(_))),
        "expected a protocol error, got {read:?}"
    );
}

#[tokio::test]
async fn huge_announces_a_50_mib_text_frame() {
    let lab = spawn_lab().await;
    let mut raw = raw_upgrade(&lab, "huge", &[]).await;
    while raw.leftover.len() < 10 {
        let mut chunk = [0u8; 64];
        let n = tokio::time::timeout(WAIT, raw.stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        raw.leftover.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(raw.leftover[0], 0x81, "FIN + text");
    assert_eq!(raw.leftover[1], 127, "unmasked, 64-bit length");
    let len = u64::from_be_bytes(raw.leftover[2..10].try_into().unwrap());
    assert_eq!(len, 52_428_800);
}

#[tokio::test]
async fn bad_requests_get_400_431_and_404() {
    let lab = spawn_lab().await;
    let no_key = http_raw(
        lab.addr(),
        b"GET /ws/healthy HTTP/1.1\r\nHost: lab\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert_eq!(no_key.status, 400);

    let malformed = http_raw(lab.addr(), b"GET /\0 HTTP/1.1\r\n\r\n").await;
    assert_eq!(malformed.status, 400);

    let mut big = b"GET /health HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(20 * 1024, b'a');
    let too_large = http_raw(lab.addr(), &big).await;
    assert_eq!(too_large.status, 431);

    let unknown = http_raw(
        lab.addr(),
        b"GET /ws/nope?x=1 HTTP/1.1\r\nHost: lab\r\n\r\n",
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, r#"{"detail":"not found"}"#);
}

#[tokio::test]
async fn stuck_clients_do_not_stall_the_listener() {
    let lab = spawn_lab().await;
    let _silent = TcpStream::connect(lab.addr()).await.unwrap();
    let _hung = send_upgrade(lab.addr(), "/ws/hang-upgrade", &[]).await;
    let _half = {
        let mut s = TcpStream::connect(lab.addr()).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHo").await.unwrap();
        s
    };
    let answer = http_raw(lab.addr(), b"GET /health HTTP/1.1\r\nHost: lab\r\n\r\n").await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn endpoints_list_every_scenario_with_its_verdict() {
    let lab = spawn_lab().await;
    let endpoints = lab.endpoints();
    let find = |name: &str| endpoints.iter().find(|e| e.name == name).unwrap();
    assert_eq!(find("healthy").url, lab.ws_url("healthy"));
    assert_eq!(find("healthy").expect, "ok");
    assert_eq!(find("strip-auth").expect, "headers_stripped");
    assert_eq!(find("hang-upgrade").expect, "upgrade_timeout");
    assert_eq!(find("health").url, lab.http_url("/health"));
    assert_eq!(find("token").expect, "-");
    assert_eq!(
        lab.ws_url("healthy"),
        format!("ws://127.0.0.1:{}/ws/healthy", lab.addr().port())
    );
    assert_eq!(find("strip-trace").expect, "headers_stripped");
    assert_eq!(find("oauth-token").url, lab.http_url("/oauth/token"));
    assert_eq!(find("query-token").expect, "ok");
    assert_eq!(find("heartbeat").expect, "ok (with keepalive)");
    assert_eq!(endpoints.len(), 29);
    assert_eq!(find("token-expired").expect, "closed_before_ready");
}

#[tokio::test]
async fn shutdown_ends_open_sockets_and_the_listener() {
    let lab = spawn_lab().await;
    let (mut ws, _) = client(&lab, "no-welcome", &[]).await;
    lab.shutdown.cancel();
    tokio::time::timeout(WAIT, lab.stopped())
        .await
        .expect("lab drained in time");
    let after = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert!(!matches!(after, Some(Ok(Message::Text(_)))), "{after:?}");
    assert!(TcpStream::connect(lab.addr()).await.is_err());
}

/// Read from a raw upgrade until `len` bytes past the head are there.
async fn leftover_at_least(raw: &mut RawUpgrade, len: usize) -> Vec<u8> {
    let mut chunk = [0u8; 1024];
    while raw.leftover.len() < len {
        let n = tokio::time::timeout(WAIT, raw.stream.read(&mut chunk))
            .await
            .expect("lab sent in time")
            .unwrap();
        assert!(n > 0, "lab closed early");
        raw.leftover.extend_from_slice(&chunk[..n]);
    }
    raw.leftover.clone()
}

#[tokio::test]
async fn close_endpoint_sends_any_code_even_the_forbidden_ones() {
    let lab = spawn_lab().await;
    for code in [1014u16, 4401, 999, 5000] {
        let mut raw = raw_upgrade(&lab, &format!("close/{code}"), &[]).await;
        assert_eq!(raw.answer.status, 101, "{code}");
        let reason = format!("lab close {code}");
        let frame = leftover_at_least(&mut raw, 4 + reason.len()).await;
        assert_eq!(frame[0], 0x88, "{code}: a final close frame");
        assert_eq!(usize::from(frame[1]), 2 + reason.len(), "{code}");
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), code);
        assert_eq!(&frame[4..4 + reason.len()], reason.as_bytes());
    }
    // `?say` first, then a close without a reason.
    let mut raw = raw_upgrade(&lab, "close/4000?reason=&say", &[]).await;
    let said = "the room is closed for maintenance";
    let bytes = leftover_at_least(&mut raw, 2 + said.len() + 4).await;
    assert_eq!(&bytes[..2], &[0x81, said.len() as u8]);
    assert_eq!(&bytes[2..2 + said.len()], said.as_bytes());
    assert_eq!(&bytes[2 + said.len()..], &[0x88, 2, 0x0F, 0xA0]);
}

#[tokio::test]
async fn status_endpoint_answers_with_the_status_its_cause_header_and_a_chunked_body() {
    let lab = spawn_lab().await;
    let cases = [
        (
            407,
            Some(("proxy-authenticate", "Basic realm=\"lab proxy\"")),
        ),
        (429, Some(("retry-after", "30"))),
        (301, Some(("location", "wss://elsewhere.example/ws"))),
        (520, None),
    ];
    for (status, header) in cases {
        let mut raw = raw_upgrade(&lab, &format!("status/{status}"), &[]).await;
        assert_eq!(raw.answer.status, status);
        assert_eq!(raw.answer.header("transfer-encoding"), Some("chunked"));
        if let Some((name, value)) = header {
            assert_eq!(raw.answer.header(name), Some(value), "{status}");
        }
        let _ = tokio::time::timeout(WAIT, raw.stream.read_to_end(&mut raw.leftover)).await;
        let body = String::from_utf8(raw.leftover).unwrap();
        assert!(body.ends_with("\r\n0\r\n\r\n"), "{status}: {body:?}");
        // Two chunks, the text split across them: a summary that skips decoding shows it.
        assert!(
            body.contains(&format!("status {status}\"}}\r\n0")),
            "{status}: {body:?}"
        );
        assert!(!body.contains("lab status"), "{status}: {body:?}");
    }
}
