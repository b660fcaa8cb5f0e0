//! Endpoints parameterised by the registries' numbers, so any close code and any status can be
//! reproduced for real: `/ws/close/{code}` upgrades and closes with that code (written as raw
//! bytes, so codes a WebSocket library would refuse to send go out too), `/ws/status/{status}`
//! answers the upgrade with that status, a chunked JSON body and the header that carries the
//! status's cause.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::{self, Head};
use super::upgrade::{self, Subprotocol};

/// How long the lab waits for the client's answer to its close before hanging up.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What `?say` sends before the close.
pub const SAID: &str = "the room is closed for maintenance";

/// `/ws/close/{code}`: the reason is `lab close {code}`, unless `?reason=` says otherwise
/// (`?reason=` with nothing closes with an empty reason); `?say` sends [`SAID`] first.
pub async fn close(mut stream: TcpStream, head: Head, code: u16) -> std::io::Result<()> {
    let upgrade = match upgrade::validate(&head) {
        Ok(u) => u,
        Err(why) => return http::respond_json(&mut stream, 400, &http::detail(why)).await,
    };
    upgrade::accept_raw(&mut stream, &upgrade, Subprotocol::Negotiate).await?;
    // Fixed text: a probe redacts what its URL's query carries, as it may be a token.
    if query(&head, "say").is_some() {
        stream.write_all(&frame(0x1, SAID.as_bytes())).await?;
    }
    let reason = query(&head, "reason").unwrap_or_else(|| format!("lab close {code}"));
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload.truncate(125);
    stream.write_all(&frame(0x8, &payload)).await?;
    stream.flush().await?;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    Ok(())
}

/// `/ws/status/{status}`: the status, the header that carries its cause, a chunked body.
pub async fn status(mut stream: TcpStream, status: u16) -> std::io::Result<()> {
    let body = http::detail(&format!("lab status {status}"));
    let cause = match status {
        300..=399 => "Location: wss://elsewhere.example/ws\r\n",
        401 | 403 => {
            "WWW-Authenticate: Bearer error=\"invalid_token\", error_description=\"The access token expired\"\r\n"
        }
        407 => "Proxy-Authenticate: Basic realm=\"lab proxy\"\r\n",
        429 | 503 => "Retry-After: 30\r\n",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {status} Lab\r\nContent-Type: application/json\r\n{cause}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let (first, second) = body.split_at(body.len() / 2);
    let chunked = format!(
        "{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(chunked.as_bytes()).await?;
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(())
}

/// One unmasked, final server frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x80 | opcode];
    match payload.len() {
        len @ 0..=125 => bytes.push(len as u8),
        len => {
            bytes.push(126);
            bytes.extend_from_slice(&(len.min(usize::from(u16::MAX)) as u16).to_be_bytes());
        }
    }
    bytes.extend_from_slice(payload);
    bytes
}

/// A query parameter, percent-decoded.
pub(super) fn query(head: &Head, name: &str) -> Option<String> {
    let (_, query) = head.target.split_once('?')?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            url::form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
    })
}
