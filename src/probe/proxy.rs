//! A tunnel through an egress proxy with HTTP CONNECT (RFC 9110 §9.3.6): the request names the
//! target's `host:port` (the proxy resolves it), carries `Proxy-Authorization: Basic` when the
//! proxy URL has credentials (RFC 7617), and any 2xx opens the tunnel. Anything else is the
//! proxy's answer, kept whole as evidence: a 407 is the proxy's refusal, not the target's.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use super::connect::NetFailure;
use super::handshake::{self, ReadError};
use crate::config::{Proxy, authority};

/// A refusal's body is read for at most this long: it is evidence, not the probe.
const REFUSAL_BODY_WAIT: Duration = Duration::from_secs(2);

/// How a CONNECT did not open a tunnel.
#[derive(Debug, Clone, PartialEq)]
pub enum ProxyFailure {
    /// The proxy answered with a status other than 2xx.
    Refused {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// No answer to the CONNECT before the deadline.
    Silent,
    /// What came back is not an HTTP answer, or the proxy closed.
    Broken(String),
}

impl ProxyFailure {
    pub fn message(&self, proxy: &str) -> String {
        match self {
            ProxyFailure::Refused { status, .. } => {
                format!("the proxy {proxy} answered the CONNECT with HTTP {status}")
            }
            ProxyFailure::Silent => format!("the proxy {proxy} did not answer the CONNECT"),
            ProxyFailure::Broken(detail) => {
                format!("the proxy {proxy} did not answer the CONNECT with HTTP: {detail}")
            }
        }
    }
}

/// The CONNECT request; the authorization value is a secret and is only ever written here.
fn request(proxy: &Proxy, host: &str, port: u16) -> Vec<u8> {
    let target = authority(host, port);
    let mut text = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: wsprobe/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(authorization) = proxy.authorization() {
        text.push_str("Proxy-Authorization: ");
        text.push_str(authorization.expose());
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// Asks the proxy at the other end of `tcp` for a tunnel to `host:port`.
pub async fn open_tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<(), NetFailure> {
    let failed = |failure| NetFailure::Proxy(failure, proxy.authority());
    let sent = timeout_at(deadline.into(), tcp.write_all(&request(proxy, host, port))).await;
    match sent {
        Err(_) => return Err(failed(ProxyFailure::Silent)),
        Ok(Err(err)) => return Err(failed(ProxyFailure::Broken(err.to_string()))),
        Ok(Ok(())) => {}
    }
    let mut response = match handshake::read_response(tcp, deadline).await {
        Ok(response) => response,
        Err(ReadError::Timeout) => return Err(failed(ProxyFailure::Silent)),
        Err(ReadError::Closed(detail) | ReadError::Malformed(detail)) => {
            return Err(failed(ProxyFailure::Broken(detail)));
        }
    };
    if (200..300).contains(&response.status) {
        // The target speaks only after wsprobe does (TLS ClientHello, the upgrade request):
        // bytes already here came from the proxy, not through the tunnel.
        if !response.rest.is_empty() {
            return Err(failed(ProxyFailure::Broken(format!(
                "it sent {} bytes after its {} before the tunnel was used",
                response.rest.len(),
                response.status
            ))));
        }
        return Ok(());
    }
    let body_deadline = (Instant::now() + REFUSAL_BODY_WAIT).min(deadline);
    handshake::read_rejected_body(tcp, &mut response, body_deadline).await;
    let body = super::body::decoded(&response.rest, &response.headers);
    Err(failed(ProxyFailure::Refused {
        status: response.status,
        headers: response.headers,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_target_and_carries_basic_credentials() {
        let proxy = Proxy::parse("http://probe:s3cret@proxy.corp:3128", "proxy").unwrap();
        let text = String::from_utf8(request(&proxy, "2001:db8::1", 443)).unwrap();
        assert!(
            text.starts_with("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n"),
            "{text}"
        );
        // base64("probe:s3cret")
        assert!(
            text.contains("\r\nProxy-Authorization: Basic cHJvYmU6czNjcmV0\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"));
        let anonymous = Proxy::parse("http://proxy.corp:3128", "proxy").unwrap();
        let text = String::from_utf8(request(&anonymous, "chat.example.com", 443)).unwrap();
        assert!(!text.contains("Proxy-Authorization"), "{text}");
    }
}
