//! `strip-auth` and `strip-trace`: a real reverse proxy configured the way a misconfigured load
//! balancer is.
//!
//! It forwards bytes, not WebSocket messages, so the backend's own handshake, frames and close
//! code reach the client untouched; the only damage is the headers it drops from the upgrade.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::http::{self, Head};

/// What one misconfigured proxy drops, and where it sends what is left.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub stripped: &'static [&'static str],
    /// Where the proxied request lands on the lab itself.
    pub backend_path: &'static str,
}

/// The production load balancer: credentials dropped on upgrade requests.
pub const STRIP_AUTH: Route = Route {
    stripped: &["authorization", "sec-websocket-protocol"],
    backend_path: "/ws/auth-backend",
};

/// A proxy that does not forward trace context (many do not, unless told to): the backend's
/// tracing starts a trace of its own and the probe's trace ends at the proxy.
pub const STRIP_TRACE: Route = Route {
    stripped: &["traceparent", "tracestate"],
    backend_path: "/ws/healthy",
};

/// The head as the backend receives it: path rewritten (query kept), the route's headers gone,
/// and an `X-Forwarded-For` as any load balancer adds.
pub fn rewrite(head: &Head, client: SocketAddr, route: Route) -> Vec<u8> {
    let query = head.target.split_once('?').map(|(_, q)| q);
    let target = match query {
        Some(q) => format!("{}?{q}", route.backend_path),
        None => route.backend_path.to_owned(),
    };
    let mut out = format!("{} {target} HTTP/1.{}\r\n", head.method, head.version).into_bytes();
    for (name, value) in &head.headers {
        if route.stripped.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("X-Forwarded-For: {}\r\n\r\n", client.ip()).as_bytes());
    out
}

/// Forward one connection to the backend and pipe both ways until either side closes.
pub async fn forward(
    mut client: TcpStream,
    head: Head,
    peer: SocketAddr,
    backend: SocketAddr,
    route: Route,
) -> std::io::Result<()> {
    let mut upstream = match TcpStream::connect(backend).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%backend, error = %e, "lab proxy could not reach its backend");
            return http::respond_json(&mut client, 502, &http::detail("bad gateway")).await;
        }
    };
    upstream.set_nodelay(true)?;
    upstream.write_all(&rewrite(&head, peer, route)).await?;
    upstream.write_all(&head.leftover).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_drops_credentials_and_retargets() {
        let raw = b"GET /ws/strip-auth?v=2 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n\
                    sec-websocket-protocol: jwt-auth\r\nSec-WebSocket-Key: k\r\n\r\n";
        let head = http::parse_head(raw).unwrap().unwrap();
        let out =
            String::from_utf8(rewrite(&head, "10.0.0.1:5".parse().unwrap(), STRIP_AUTH)).unwrap();
        assert_eq!(
            out,
            "GET /ws/auth-backend?v=2 HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\n\
             X-Forwarded-For: 10.0.0.1\r\n\r\n"
        );
    }

    #[test]
    fn rewrite_drops_trace_context_and_keeps_credentials() {
        let raw = b"GET /ws/strip-trace HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n\
                    traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
        let head = http::parse_head(raw).unwrap().unwrap();
        let out =
            String::from_utf8(rewrite(&head, "10.0.0.1:5".parse().unwrap(), STRIP_TRACE)).unwrap();
        assert_eq!(
            out,
            "GET /ws/healthy HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n\
             X-Forwarded-For: 10.0.0.1\r\n\r\n"
        );
    }
}
