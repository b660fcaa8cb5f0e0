//! The plain HTTP side of the lab: the health check that stays green while sockets fail, and the
//! E2E token endpoint.

use std::fmt::Write as _;

use serde_json::{Value, json};
use tokio::net::TcpStream;

use super::E2E_BYPASS_KEY;
use super::http::{self, Head};

/// Token requests are a small JSON object; anything bigger is refused with 413.
const MAX_TOKEN_BODY: usize = 64 * 1024;

/// `GET /health`: always healthy, which is exactly what misled the on-call engineers.
pub async fn health(stream: &mut TcpStream, head: &Head) -> std::io::Result<()> {
    if head.method != "GET" {
        return http::respond_json(stream, 405, &http::detail("method not allowed")).await;
    }
    http::respond_json(stream, 200, r#"{"status":"healthy"}"#).await
}

/// `POST /token`: mint a bearer token for the right bypass key, header or body.
pub async fn token(
    stream: &mut TcpStream,
    mut head: Head,
    issued: &super::dialect::Issued,
) -> std::io::Result<()> {
    if head.method != "POST" {
        return http::respond_json(stream, 405, &http::detail("method not allowed")).await;
    }
    if head.header("transfer-encoding").is_some() {
        return http::respond_json(stream, 400, &http::detail("send a Content-Length body")).await;
    }
    let len = match head.header("content-length").map(|v| v.parse::<usize>()) {
        None => 0,
        Some(Ok(len)) if len <= MAX_TOKEN_BODY => len,
        Some(Ok(_)) => {
            return http::respond_json(stream, 413, &http::detail("body too large")).await;
        }
        Some(Err(_)) => {
            return http::respond_json(stream, 400, &http::detail("bad Content-Length")).await;
        }
    };
    let body = http::read_body(stream, std::mem::take(&mut head.leftover), len).await?;
    if key_is_valid(&head, &body) {
        let token = random_token();
        issued.remember(&token);
        http::respond_json(stream, 200, &token_response(&token)).await
    } else {
        http::respond_json(stream, 401, &http::detail("Invalid E2E bypass key")).await
    }
}

/// The key may come in `X-E2E-Bypass-Key` or as `{"key": ...}`; either being right is enough.
pub fn key_is_valid(head: &Head, body: &[u8]) -> bool {
    let from_header = head.header("x-e2e-bypass-key");
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("key").and_then(Value::as_str).map(str::to_owned));
    [from_header, from_body]
        .iter()
        .flatten()
        .any(|k| k == E2E_BYPASS_KEY)
}

pub fn token_response(token: &str) -> String {
    json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3600 }).to_string()
}

/// 32 hex characters: opaque to the probe, which only forwards it.
pub fn random_token() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(extra: &str) -> Head {
        let raw = format!("POST /token HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
        http::parse_head(raw.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn key_from_header_or_body() {
        let right_header = head(&format!("X-E2E-Bypass-Key: {E2E_BYPASS_KEY}\r\n"));
        assert!(key_is_valid(&right_header, b""));
        assert!(key_is_valid(
            &head(""),
            format!(r#"{{"key":"{E2E_BYPASS_KEY}"}}"#).as_bytes()
        ));
        assert!(!key_is_valid(
            &head("X-E2E-Bypass-Key: nope\r\n"),
            br#"{"key":"nope"}"#
        ));
        assert!(!key_is_valid(&head(""), b"not json"));
        assert!(!key_is_valid(&head(""), br#"{"key":42}"#));
    }

    #[test]
    fn token_is_32_hex_chars() {
        let t = random_token();
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(t, random_token());
    }
}
