//! The server half of the RFC 6455 opening handshake, written out so scenarios can bend it.

use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::http::Head;

/// The only subprotocol the lab's backends speak (the token rides in `Authorization`).
pub const SUBPROTOCOL: &str = "jwt-auth";
/// Lets a probe name the build that answered (`version` in results).
pub const REVISION: &str = "lab-rev-1";
/// How long a server-initiated close waits for the client's Close before dropping TCP.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

pub type Ws = WebSocketStream<TcpStream>;

/// A request that passed validation, with what the 101 needs.
#[derive(Debug)]
pub struct Upgrade {
    pub key: String,
    /// Whether the client offered [`SUBPROTOCOL`].
    pub offered_subprotocol: bool,
}

/// Check the request is a WebSocket upgrade; `Err` carries the 400 detail.
pub fn validate(head: &Head) -> Result<Upgrade, &'static str> {
    if head.method != "GET" {
        return Err("websocket upgrade must be GET");
    }
    if head.version != 1 {
        return Err("websocket upgrade needs HTTP/1.1");
    }
    if !head.header_has_token("upgrade", "websocket") {
        return Err("missing Upgrade: websocket");
    }
    if head.header("sec-websocket-version").as_deref() != Some("13") {
        return Err("Sec-WebSocket-Version must be 13");
    }
    let key = head
        .header("sec-websocket-key")
        .ok_or("missing Sec-WebSocket-Key")?;
    // RFC 6455 §4.1: the key is 16 random bytes, base64-encoded.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .map_err(|_| "Sec-WebSocket-Key is not base64")?;
    if decoded.len() != 16 {
        return Err("Sec-WebSocket-Key must encode 16 bytes");
    }
    Ok(Upgrade {
        key,
        offered_subprotocol: head.header_has_token("sec-websocket-protocol", SUBPROTOCOL),
    })
}

/// The 101 response head. `accept` is passed in so `bad-accept` can lie.
pub fn switching_protocols(accept: &str, subprotocol: Option<&str>) -> String {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    if let Some(p) = subprotocol {
        out.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    out.push_str(&format!("x-revision: {REVISION}\r\n\r\n"));
    out
}

/// How a scenario answers the subprotocol offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subprotocol {
    /// Select `jwt-auth` when offered, as the real backend does.
    Negotiate,
    /// Never select one (the `no-subprotocol` failure).
    Never,
}

/// Write a correct 101 and return the raw socket, for scenarios that then misbehave below
/// the WebSocket layer.
pub async fn accept_raw(
    stream: &mut TcpStream,
    upgrade: &Upgrade,
    subprotocol: Subprotocol,
) -> std::io::Result<()> {
    let selected = match subprotocol {
        Subprotocol::Negotiate if upgrade.offered_subprotocol => Some(SUBPROTOCOL),
        _ => None,
    };
    let head = switching_protocols(&derive_accept_key(upgrade.key.as_bytes()), selected);
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await
}

/// Write a correct 101 and hand back a server-role WebSocket.
/// `leftover` is what the client sent after its head (eager frames), replayed to the parser.
pub async fn accept(
    mut stream: TcpStream,
    leftover: Vec<u8>,
    upgrade: &Upgrade,
    subprotocol: Subprotocol,
) -> std::io::Result<Ws> {
    accept_raw(&mut stream, upgrade, subprotocol).await?;
    Ok(WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config())).await)
}

/// Client messages are small JSON; a 1 MiB cap keeps a hostile client from eating memory.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Start the close handshake and wait (bounded) for the client's answer, so the client sees a
/// clean close with our code rather than a reset.
pub async fn close(ws: &mut Ws, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Read and discard until the client goes away; the library answers pings and Close.
pub async fn drain(ws: &mut Ws) {
    while let Some(Ok(_)) = ws.next().await {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::http::parse_head;

    fn head(extra: &str) -> Head {
        let raw = format!(
            "GET /ws/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{extra}\r\n"
        );
        parse_head(raw.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn valid_upgrade_notes_the_subprotocol_offer() {
        let ok = "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
        assert!(!validate(&head(ok)).unwrap().offered_subprotocol);
        let offered = format!("{ok}Sec-WebSocket-Protocol: chat, jwt-auth\r\n");
        assert!(validate(&head(&offered)).unwrap().offered_subprotocol);
    }

    #[test]
    fn invalid_upgrades_are_rejected() {
        assert!(validate(&head("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")).is_err());
        assert!(validate(&head("Sec-WebSocket-Version: 13\r\n")).is_err());
        assert!(
            validate(&head(
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n"
            ))
            .is_err()
        );
    }

    #[test]
    fn switching_protocols_carries_accept_protocol_and_revision() {
        let h = switching_protocols("ACC", Some("jwt-auth"));
        assert!(h.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(h.contains("Sec-WebSocket-Accept: ACC\r\n"));
        assert!(h.contains("Sec-WebSocket-Protocol: jwt-auth\r\n"));
        assert!(h.ends_with("x-revision: lab-rev-1\r\n\r\n"));
        assert!(!switching_protocols("ACC", None).contains("Sec-WebSocket-Protocol"));
    }
}
