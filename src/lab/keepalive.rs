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

/// What the backend knows of its client.
struct Watch {
    needs: Needs,
    next_heartbeat: Instant,
    unanswered_since: Option<Instant>,
    last_heard: Instant,
    pong_at: Option<Instant>,
}

impl Watch {
    /// When the session ends unless the client does its part first.
    fn give_up(&self, far: Instant) -> Instant {
        match self.needs {
            Needs::Answers => self
                .unanswered_since
                .map_or(far, |since| since + ANSWER_WITHIN),
            Needs::Activity => self.last_heard + ANSWER_WITHIN,
        }
        .min(far)
    }

    /// A client's text message: what to answer at once, if anything.
    fn heard(&mut self, text: &str) -> Option<String> {
        self.last_heard = Instant::now();
        let kind = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
        match kind.as_deref() {
            Some("heartbeat_ack") => self.unanswered_since = None,
            Some("ping") => self.pong_at = Some(Instant::now() + PONG_DELAY),
            Some("keepalive") => {}
            _ => return Some(reply_to(text)),
        }
        None
    }
}

pub async fn serve(mut ws: Ws, received: Value, needs: Needs) {
    if !welcome(&mut ws, received).await {
        return;
    }
    let start = Instant::now();
    let far = start + SESSION_LIMIT;
    let mut watch = Watch {
        needs,
        next_heartbeat: start + HEARTBEAT_EVERY,
        unanswered_since: None,
        last_heard: start,
        pong_at: None,
    };
    let mut seq = 0u64;
    loop {
        let heartbeat_at = match needs {
            Needs::Answers => watch.next_heartbeat,
            Needs::Activity => far,
        };
        let out = tokio::select! {
            () = sleep_until(watch.give_up(far)) => {
                let (code, reason) = match needs {
                    Needs::Answers => (4000, "heartbeat not answered"),
                    Needs::Activity => (1000, "idle timeout"),
                };
                return upgrade::close(&mut ws, code, reason).await;
            }
            () = sleep_until(heartbeat_at) => {
                seq += 1;
                watch.next_heartbeat = Instant::now() + HEARTBEAT_EVERY;
                watch.unanswered_since.get_or_insert_with(Instant::now);
                Some(json!({ "type": "heartbeat", "seq": seq }).to_string())
            }
            () = sleep_until(watch.pong_at.unwrap_or(far)), if watch.pong_at.is_some() => {
                watch.pong_at = None;
                Some(r#"{"type":"pong"}"#.to_owned())
            }
            message = ws.next() => match message {
                None | Some(Err(_)) => return,
                Some(Ok(Message::Text(text))) => watch.heard(text.as_str()),
                Some(Ok(_)) => None,
            },
        };
        if let Some(text) = out
            && ws.send(Message::text(text)).await.is_err()
        {
            return;
        }
    }
}
