//! What a browser-like client must get right, checked as real servers check it: OAuth2 client
//! credentials sent form-encoded (`POST /oauth/token`, RFC 6749 §4.4), a token in the URL's
//! query (`/ws/query-token`, RFC 6750 §2.3, as Socket.IO and browser clients send it), and the
//! `Origin` of the upgrade (`/ws/origin`, RFC 6455 §10.2: same-origin only, as Django Channels'
//! `AllowedHostsOriginValidator` and gorilla's default `CheckOrigin` allow).

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use serde_json::json;
use tokio::net::TcpStream;

use super::http::{self, Head};

/// The client credentials `/oauth/token` accepts, as a deployed probe would hold them.
pub const CLIENT_ID: &str = "wsprobe-lab";
pub const CLIENT_SECRET: &str = "lab-client-secret";
/// Form bodies are a few fields; anything bigger is refused.
const MAX_FORM_BODY: usize = 16 * 1024;
/// How many issued tokens the lab remembers for `/ws/query-token`.
const ISSUED_KEPT: usize = 1024;

/// The tokens the lab handed out (newest [`ISSUED_KEPT`]): what `/ws/query-token` accepts.
#[derive(Debug, Default)]
pub struct Issued(Mutex<VecDeque<String>>);

impl Issued {
    pub fn remember(&self, token: &str) {
        let mut issued = self.0.lock();
        if issued.len() == ISSUED_KEPT {
            issued.pop_front();
        }
        issued.push_back(token.to_owned());
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().iter().cloned().collect()
    }

    fn contains(&self, token: &str) -> bool {
        self.0.lock().iter().any(|issued| issued == token)
    }
}

/// An RFC 6749 §5.2 error: its status, `error` code and description.
type OAuthError = (u16, &'static str, &'static str);

/// `POST /oauth/token`: a form-encoded client credentials grant, answered with a bearer token
/// (§5.1) or a §5.2 error.
pub async fn oauth_token(
    stream: &mut TcpStream,
    mut head: Head,
    issued: &Issued,
) -> std::io::Result<()> {
    if head.method != "POST" {
        return http::respond_json(stream, 405, &http::detail("method not allowed")).await;
    }
    let len = head
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    let Some(len) = len.filter(|len| *len <= MAX_FORM_BODY) else {
        return respond_error(
            stream,
            (
                400,
                "invalid_request",
                "send a form body of at most 16 KiB with a Content-Length",
            ),
        )
        .await;
    };
    let body = http::read_body(stream, std::mem::take(&mut head.leftover), len).await?;
    match check_client_credentials(head.header("content-type").as_deref(), &body) {
        Ok(()) => {
            let token = super::plain::random_token();
            issued.remember(&token);
            http::respond_json(stream, 200, &super::plain::token_response(&token)).await
        }
        Err(error) => respond_error(stream, error).await,
    }
}

async fn respond_error(
    stream: &mut TcpStream,
    (status, error, description): OAuthError,
) -> std::io::Result<()> {
    let body = json!({ "error": error, "error_description": description }).to_string();
    http::respond_json(stream, status, &body).await
}

/// RFC 6749 §4.4.2 with the client authenticated by its body (§2.3.1): the media type, the
/// grant type, then the client.
pub fn check_client_credentials(content_type: Option<&str>, body: &[u8]) -> Result<(), OAuthError> {
    let media_type = content_type
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err((
            400,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let fields: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    match fields.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return Err((
                400,
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
        None => return Err((400, "invalid_request", "grant_type is missing")),
    }
    let client = (fields.get("client_id"), fields.get("client_secret"));
    match client {
        (Some(id), Some(secret)) if id == CLIENT_ID && secret == CLIENT_SECRET => Ok(()),
        _ => Err((401, "invalid_client", "client authentication failed")),
    }
}

/// `/ws/query-token`: why the upgrade is refused, or `None` when its query carries a token the
/// lab issued (`token`, or RFC 6750's `access_token`).
pub fn query_token_refusal(head: &Head, issued: &Issued) -> Option<(u16, &'static str)> {
    let token =
        super::codes::query(head, "token").or_else(|| super::codes::query(head, "access_token"));
    match token {
        None => Some((401, "no token in the URL's query")),
        Some(token) if !issued.contains(&token) => Some((401, "invalid token")),
        Some(_) => None,
    }
}

/// `/ws/origin`: why the upgrade is refused, or `None` when its `Origin` is the lab's own
/// (`http://` and the `Host` the client connected to).
pub fn origin_refusal(head: &Head) -> Option<(u16, &'static str)> {
    let Some(origin) = head.header("origin") else {
        return Some((403, "origin required"));
    };
    let own = head.header("host").map(|host| format!("http://{host}"));
    if own.is_some_and(|own| own.eq_ignore_ascii_case(origin.trim())) {
        None
    } else {
        Some((403, "origin not allowed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=utf-8");

    #[test]
    fn client_credentials_by_rfc_6749() {
        let good = format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        );
        assert_eq!(check_client_credentials(FORM, good.as_bytes()), Ok(()));
        let rows: &[(Option<&str>, &str, u16, &str)] = &[
            (
                Some("application/json"),
                good.as_str(),
                400,
                "invalid_request",
            ),
            (None, good.as_str(), 400, "invalid_request"),
            (
                FORM,
                "client_id=wsprobe-lab&client_secret=lab-client-secret",
                400,
                "invalid_request",
            ),
            (
                FORM,
                "grant_type=password&client_id=wsprobe-lab",
                400,
                "unsupported_grant_type",
            ),
            (
                FORM,
                "grant_type=client_credentials&client_id=wsprobe-lab&client_secret=nope",
                401,
                "invalid_client",
            ),
            (
                FORM,
                "grant_type=client_credentials&client_secret=lab-client-secret",
                401,
                "invalid_client",
            ),
        ];
        for (content_type, body, status, error) in rows {
            let refused = check_client_credentials(*content_type, body.as_bytes()).unwrap_err();
            assert_eq!(
                (refused.0, refused.1),
                (*status, *error),
                "{content_type:?} {body}"
            );
        }
    }

    fn head(lines: &str) -> Head {
        let raw = format!("GET /ws/x?{lines}\r\n\r\n");
        http::parse_head(raw.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn query_tokens_and_origins_are_checked() {
        let issued = Issued::default();
        issued.remember("abc123");
        let request = |query: &str| head(&format!("{query} HTTP/1.1\r\nHost: lab:1"));
        assert_eq!(query_token_refusal(&request("token=abc123"), &issued), None);
        assert_eq!(
            query_token_refusal(&request("v=1&access_token=abc123"), &issued),
            None
        );
        assert_eq!(
            query_token_refusal(&request("token=other"), &issued),
            Some((401, "invalid token"))
        );
        assert_eq!(
            query_token_refusal(&request("v=1"), &issued),
            Some((401, "no token in the URL's query"))
        );

        let with = |origin: &str| head(&format!("v=1 HTTP/1.1\r\nHost: lab:1\r\nOrigin: {origin}"));
        assert_eq!(origin_refusal(&with("http://lab:1")), None);
        assert_eq!(
            origin_refusal(&with("https://evil.example")),
            Some((403, "origin not allowed"))
        );
        assert_eq!(
            origin_refusal(&head("v=1 HTTP/1.1\r\nHost: lab:1")),
            Some((403, "origin required"))
        );
    }
}
