//! Backends that need the client to keep its session alive between steps, as real ones do:
//! `heartbeat` sends heartbeats of its own and closes when one goes unanswered (Socket.IO's
//! ping and pingTimeout), `idle-timeout` closes a client that has said nothing for a while (a
//! server's or a proxy's idle timeout). Both answer `ping` late, so that only a client whose
//! keepalive runs while it waits for the pong gets it.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use super::scenarios::{reply_to, welcome};
use super::upgrade::{self, Ws};

/// `heartbeat` sends one this often.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(250);
/// A heartbeat unanswered this long (or a client silent this long, for `idle-timeout`) ends
/// the session.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(3);
/// The pong comes this long after the ping: past [`ANSWER_WITHIN`].
pub const PONG_DELAY: Duration = Duration::from_secs(5);
/// However the client behaves, the session ends after this long.
const SESSION_LIMIT: Duration = Duration::from_secs(60);

/// What the backend needs from the client to keep the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `{"type":"heartbeat_ack"}` for every `{"type":"heartbeat"}` it sends.
    Answers,
    /// Any message at least every [`ANSWER_WITHIN`].
    Activity,
}

pub async fn serve(mut ws: Ws, received: Value, needs: Needs) {
    if !welcome(&mut ws, received).await {
        return;
    }
    let start = Instant::now();
    let far = start + SESSION_LIMIT;
    let mut next_heartbeat = start + HEARTBEAT_EVERY;
    let mut unanswered_since: Option<Instant> = None;
    let mut last_heard = start;
    let mut pong_at: Option<Instant> = None;
    let mut seq = 0u64;
    loop {
        let give_up = match needs {
            Needs::Answers => unanswered_since.map_or(far, |since| since + ANSWER_WITHIN),
            Needs::Activity => last_heard + ANSWER_WITHIN,
        };
        let heartbeat_at = match needs {
            Needs::Answers => next_heartbeat,
            Needs::Activity => far,
        };
        tokio::select! {
            () = sleep_until(give_up.min(far)) => {
                let reason = match needs {
                    Needs::Answers => (4000, "heartbeat not answered"),
                    Needs::Activity => (1000, "idle timeout"),
                };
                return upgrade::close(&mut ws, reason.0, reason.1).await;
            }
            () = sleep_until(heartbeat_at) => {
                seq += 1;
                next_heartbeat = Instant::now() + HEARTBEAT_EVERY;
                unanswered_since.get_or_insert_with(Instant::now);
                let heartbeat = json!({ "type": "heartbeat", "seq": seq }).to_string();
                if ws.send(Message::text(heartbeat)).await.is_err() {
                    return;
                }
            }
            () = sleep_until(pong_at.unwrap_or(far)), if pong_at.is_some() => {
                pong_at = None;
                if ws.send(Message::text(r#"{"type":"pong"}"#)).await.is_err() {
                    return;
                }
            }
            message = ws.next() => {
                let text = match message {
                    None | Some(Err(_)) => return,
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                };
                last_heard = Instant::now();
                let kind = serde_json::from_str::<Value>(text.as_str())
                    .ok()
                    .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
                match kind.as_deref() {
                    Some("heartbeat_ack") => unanswered_since = None,
                    Some("ping") => pong_at = Some(Instant::now() + PONG_DELAY),
                    Some("keepalive") => {}
                    _ => {
                        if ws.send(Message::text(reply_to(text.as_str()))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}
