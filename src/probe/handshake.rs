//! The opening handshake of RFC 6455 §4.1, written by hand rather than through tungstenite's
//! client: we need the status, headers and body of a refused upgrade, and a server that selects
//! no subprotocol must be recorded, not aborted on.

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout_at;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use url::Url;

/// Larger response heads are not something a WebSocket server sends; stop reading there.
const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_REJECTED_BODY_BYTES: usize = 4 * 1024;
const MAX_HEADERS: usize = 64;

pub struct UpgradeRequest {
    pub bytes: Vec<u8>,
    /// Every header as sent, in order (unredacted: the caller redacts before keeping them).
    pub headers: Vec<(String, String)>,
}

/// Headers the handshake itself owns; user headers of these names would break it.
const RESERVED: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

pub fn build_request(
    url: &Url,
    key: &str,
    subprotocols: &[String],
    extra_headers: &[(String, String)],
) -> UpgradeRequest {
    let mut path = url.path().to_owned();
    if path.is_empty() {
        path.push('/');
    }
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    };
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), host),
        ("Upgrade".into(), "websocket".into()),
        ("Connection".into(), "Upgrade".into()),
        ("Sec-WebSocket-Key".into(), key.into()),
        ("Sec-WebSocket-Version".into(), "13".into()),
    ];
    if !subprotocols.is_empty() {
        headers.push(("Sec-WebSocket-Protocol".into(), subprotocols.join(", ")));
    }
    let user_sets_agent = extra_headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("user-agent"));
    if !user_sets_agent {
        headers.push((
            "User-Agent".into(),
            concat!("wsprobe/", env!("CARGO_PKG_VERSION")).into(),
        ));
    }
    for (name, value) in extra_headers {
        if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            headers.push((name.clone(), sanitize_header_value(value)));
        }
    }
    let mut bytes = format!("GET {path} HTTP/1.1\r\n").into_bytes();
    for (name, value) in &headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    UpgradeRequest { bytes, headers }
}

/// A value with CR/LF would let a templated token split the request: drop them.
fn sanitize_header_value(value: &str) -> String {
    value.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// `1` for HTTP/1.1; an HTTP/1.0 server cannot switch protocols (RFC 6455 §4.1).
    pub http_minor: u8,
    /// Lowercase names, values as received (lossy UTF-8), in order.
    pub headers: Vec<(String, String)>,
    /// Bytes after the head: the first frames of an accepted socket, or a refused one's body.
    pub rest: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, PartialEq)]
pub enum ReadError {
    /// Nothing (or not a whole head) arrived before the deadline.
    Timeout,
    /// The peer closed or reset before a whole head arrived.
    Closed(String),
    /// What arrived is not an HTTP response.
    Malformed(String),
}

pub async fn send_request<S: AsyncWrite + Unpin>(
    stream: &mut S,
    request: &UpgradeRequest,
    deadline: Instant,
) -> Result<(), ReadError> {
    let write = async {
        stream.write_all(&request.bytes).await?;
        stream.flush().await
    };
    match timeout_at(deadline.into(), write).await {
        Err(_) => Err(ReadError::Timeout),
        Ok(Err(err)) => Err(ReadError::Closed(format!(
            "writing the upgrade request failed: {err}"
        ))),
        Ok(Ok(())) => Ok(()),
    }
}

pub async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Instant,
) -> Result<Response, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match timeout_at(deadline.into(), stream.read(&mut chunk)).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Err(err)) => {
                return Err(ReadError::Closed(format!(
                    "reading the upgrade response failed: {err}"
                )));
            }
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            let detail = if buf.is_empty() {
                "the server closed the connection without answering the upgrade".to_owned()
            } else {
                format!(
                    "the server closed the connection after {} bytes of an incomplete response",
                    buf.len()
                )
            };
            return Err(ReadError::Closed(detail));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(response) = parse_head(&buf)? {
            return Ok(response);
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(ReadError::Malformed(format!(
                "response head larger than {MAX_HEAD_BYTES} bytes"
            )));
        }
    }
}

fn parse_head(buf: &[u8]) -> Result<Option<Response>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    match parsed.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => Ok(Some(Response {
            status: parsed.code.unwrap_or(0),
            http_minor: parsed.version.unwrap_or(1),
            headers: parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
            rest: buf[len..].to_vec(),
        })),
        Err(err) => Err(ReadError::Malformed(format!(
            "not an HTTP response ({err}): {}",
            crate::text::excerpt(&String::from_utf8_lossy(&buf[..buf.len().min(64)]), 64)
        ))),
    }
}

/// After a refusal the body usually says why ("Invalid token"): read a bounded excerpt of it,
/// never waiting past `deadline`.
pub async fn read_rejected_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    response: &mut Response,
    deadline: Instant,
) {
    let expected = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(MAX_REJECTED_BODY_BYTES)
        .min(MAX_REJECTED_BODY_BYTES);
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut chunk = [0u8; 2048];
    while response.rest.len() < expected
        && !(chunked && super::body::chunked_complete(&response.rest))
    {
        match timeout_at(deadline.into(), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => response.rest.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    response.rest.truncate(MAX_REJECTED_BODY_BYTES);
}

/// Check an answered upgrade per RFC 6455 §4.1: returns the selected subprotocol, or what is
/// wrong with the handshake.
pub fn validate_accept(
    response: &Response,
    key: &str,
    offered: &[String],
) -> Result<Option<String>, String> {
    if response.http_minor == 0 {
        return Err(
            "101 over HTTP/1.0, which cannot switch protocols: the upgrade needs HTTP/1.1"
                .to_owned(),
        );
    }
    let upgrade_ok = response
        .header("upgrade")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade_ok {
        return Err(format!(
            "101 response without \"Upgrade: websocket\" (got {:?})",
            response.header("upgrade").unwrap_or("nothing")
        ));
    }
    let connection_ok = response.header("connection").is_some_and(|v| {
        v.split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !connection_ok {
        return Err("101 response without \"Connection: Upgrade\"".to_owned());
    }
    let expected = derive_accept_key(key.as_bytes());
    match response.header("sec-websocket-accept") {
        Some(accept) if accept.trim() == expected => {}
        Some(accept) => {
            return Err(format!(
                "Sec-WebSocket-Accept {:?} does not match the key sent (expected {expected:?})",
                accept.trim()
            ));
        }
        None => return Err("101 response without Sec-WebSocket-Accept".to_owned()),
    }
    if let Some(extensions) = response.header("sec-websocket-extensions")
        && !extensions.trim().is_empty()
    {
        return Err(format!(
            "server selected extension {:?} that was not offered",
            extensions.trim()
        ));
    }
    match response.header("sec-websocket-protocol").map(str::trim) {
        None | Some("") => Ok(None),
        Some(selected) if offered.iter().any(|p| p == selected) => Ok(Some(selected.to_owned())),
        Some(selected) => Err(format!(
            "server selected subprotocol {selected:?} that was not offered"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 101,
            http_minor: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            rest: Vec::new(),
        }
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn accept_checks_follow_rfc_6455() {
        // The RFC's own example: this key must yield this accept value.
        let good = [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ];
        let offered = vec!["jwt-auth".to_owned()];
        assert_eq!(validate_accept(&response(&good), KEY, &offered), Ok(None));

        let mut with_proto = good.to_vec();
        with_proto.push(("sec-websocket-protocol", "jwt-auth"));
        assert_eq!(
            validate_accept(&response(&with_proto), KEY, &offered),
            Ok(Some("jwt-auth".into()))
        );

        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![good[0], good[1], ("sec-websocket-accept", "wrong=")],
                "does not match",
            ),
            (vec![good[1], good[2]], "Upgrade: websocket"),
            (vec![good[0], good[2]], "Connection: Upgrade"),
            (
                [good.to_vec(), vec![("sec-websocket-protocol", "other")]].concat(),
                "not offered",
            ),
            (
                [
                    good.to_vec(),
                    vec![("sec-websocket-extensions", "permessage-deflate")],
                ]
                .concat(),
                "extension",
            ),
        ];
        for (headers, want) in cases {
            let err = validate_accept(&response(&headers), KEY, &offered).unwrap_err();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }

    #[test]
    fn request_carries_handshake_and_user_headers_without_crlf_injection() {
        let url = Url::parse("ws://example.test:8080/ws?x=1").unwrap();
        let req = build_request(
            &url,
            KEY,
            &["jwt-auth".into(), "jwt.abc".into()],
            &[
                ("Authorization".into(), "Bearer a\r\nX-Evil: 1".into()),
                ("Host".into(), "ignored".into()),
            ],
        );
        let text = String::from_utf8(req.bytes).unwrap();
        assert!(text.starts_with("GET /ws?x=1 HTTP/1.1\r\nHost: example.test:8080\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: jwt-auth, jwt.abc\r\n"));
        assert!(text.contains("Authorization: Bearer aX-Evil: 1\r\n"));
        assert!(!text.contains("ignored"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn an_http_1_0_upgrade_is_refused() {
        let accept = derive_accept_key(KEY.as_bytes());
        let mut answer = response(&[
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", &accept),
        ]);
        assert_eq!(validate_accept(&answer, KEY, &[]), Ok(None));
        answer.http_minor = 0;
        let refused = validate_accept(&answer, KEY, &[]).unwrap_err();
        assert!(refused.contains("HTTP/1.0"), "{refused}");
    }

    #[test]
    fn head_parsing_keeps_bytes_after_the_head() {
        let raw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi";
        let parsed = parse_head(raw).unwrap().unwrap();
        assert_eq!(parsed.status, 101);
        assert_eq!(parsed.header("upgrade"), Some("websocket"));
        assert_eq!(parsed.rest, b"\x81\x02hi");
        assert!(parse_head(b"HTTP/1.1 101 Swi").unwrap().is_none());
        assert!(matches!(
            parse_head(b"\x16\x03\x01garbage\r\n\r\n"),
            Err(ReadError::Malformed(_))
        ));
    }
}
