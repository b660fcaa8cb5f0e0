//! The conversation after the upgrade: the steps of the config run over any Sink/Stream of
//! WebSocket messages, every wait bounded, every message read bounded, every close recorded.

use std::time::{Duration, Instant};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::timeout_at;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::close_tap::CloseWitness;
use super::diagnosis::registry::valid_on_wire;
use super::keepalive::{self, Keepalives};
use super::message::{Incoming, binary_evidence};
use super::presets::RefusalReader;
use super::timing::between_ms;
use crate::config::{EchoCheck, Matcher, MessageLimits, Step};

/// After an error message instead of the welcome, how long to wait for the close that usually
/// follows, so its code is part of the evidence.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// How long the client's own close handshake may take before we stop waiting for the echo.
const CLOSE_HANDSHAKE_LIMIT: Duration = Duration::from_secs(3);
/// Received messages are kept for the evidence up to this many characters each.
const KEPT_MESSAGE_CHARS: usize = 2048;
/// Heartbeats kept as evidence, the first ones: they show what the server sends, and more
/// would crowd out the messages that say something.
const KEPT_HEARTBEATS: usize = 2;

/// What the session needs besides the socket.
pub struct Plan<'a> {
    pub steps: &'a [Step],
    /// `send` texts with templates already filled in, one per `Step::Send` in order.
    pub send_texts: Vec<String>,
    pub echo: Option<&'a EchoCheck>,
    pub version_pointer: Option<&'a str>,
    pub limits: MessageLimits,
    /// When the 101 was read: the zero of `ready` and of close timing.
    pub accepted_at: Instant,
    pub deadline: Instant,
    /// The server's close frame as it came over the wire (`None` in tests over a bare pipe).
    pub close_witness: Option<CloseWitness>,
    /// Answered or sent while the steps run, never a step.
    pub keepalive: Vec<keepalive::Rule>,
    /// A protocol preset's handshake, run before the steps: the ready check when there is one,
    /// and `failed_step` then counts the steps after it.
    pub opening: Vec<Action>,
    /// Sent, best effort, before the client's close (a protocol's DISCONNECT).
    pub closing: Vec<Message>,
    /// Reads a protocol's own refusal (a connect_error, an ERROR frame, a CONNACK code): one
    /// ends the step it arrives in, since it will never turn into what the step waits for.
    pub refusal: Option<RefusalReader>,
}

/// One thing a preset's handshake does; `label` is how `validate` shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Send {
        message: Message,
        label: String,
    },
    Expect {
        within: Duration,
        matcher: Matcher,
        label: String,
    },
}

/// What the session does, in order: the preset's opening, then the environment's steps.
enum Do<'p> {
    Send(Message),
    Expect(Duration, &'p Matcher),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ready {
    /// The config has no `expect` step: the upgrade is the ready check.
    NotChecked,
    Passed,
    Closed,
    TimedOut {
        other_messages: usize,
    },
    Mismatch {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepFailure {
    TimedOut { within_ms: f64 },
    Closed,
    Mismatch { message: String },
    SendFailed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerClose {
    /// 1005 for a close frame without a code, 1006 for a drop without any close frame.
    pub code: u16,
    pub reason: String,
    pub after_accept_ms: f64,
}

/// wsprobe's own close: a frame it refused, or a close code its WebSocket library answers
/// with 1002.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientClose {
    pub code: u16,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionOutcome {
    pub ready: Ready,
    pub ready_ms: Option<f64>,
    pub exchange_ms: Option<f64>,
    pub close_ms: Option<f64>,
    /// The server answered the probe's close (a close frame, or closing the socket); false
    /// when the wait ran out: it had stopped answering altogether.
    pub close_answered: bool,
    /// When the client's close handshake began, in milliseconds after the 101.
    pub close_started_ms: Option<f64>,
    pub failed_step: Option<(usize, StepFailure)>,
    /// Set when the server closed (or dropped) before the client's own close.
    pub server_close: Option<ServerClose>,
    /// Set when wsprobe closed because of what the server sent.
    pub client_close: Option<ClientClose>,
    pub protocol_error: Option<String>,
    /// Messages as received (unredacted, cut to `KEPT_MESSAGE_CHARS`), at most `max_messages`.
    pub messages: Vec<String>,
    pub echoed: Option<Vec<(String, String)>>,
    pub version: Option<String>,
    pub keepalive: keepalive::Counts,
}

/// What one read from the socket produced, reduced to what the steps care about.
enum SocketEvent {
    Text(String),
    Binary(bytes::Bytes),
    Closed,
    TimedOut,
    Failed,
}

struct Session<'p, 'a, S> {
    socket: S,
    plan: &'p Plan<'a>,
    outcome: SessionOutcome,
    received: usize,
    keepalives: Keepalives,
}

pub async fn run<S>(socket: S, plan: &Plan<'_>) -> SessionOutcome
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
{
    let mut session = Session {
        socket,
        plan,
        outcome: SessionOutcome {
            ready: Ready::NotChecked,
            ready_ms: None,
            exchange_ms: None,
            close_ms: None,
            close_answered: false,
            close_started_ms: None,
            failed_step: None,
            server_close: None,
            client_close: None,
            protocol_error: None,
            messages: Vec::new(),
            echoed: None,
            version: None,
            keepalive: keepalive::Counts::default(),
        },
        received: 0,
        keepalives: Keepalives::new(plan.keepalive.clone(), plan.accepted_at),
    };
    session.run_steps().await;
    session.finish().await;
    session.outcome.keepalive = session.keepalives.counts;
    session.outcome
}

impl<'p, 'a, S> Session<'p, 'a, S>
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
{
    async fn run_steps(&mut self) {
        let plan = self.plan;
        let opening = plan.opening.len();
        let actions = self.actions();
        let ready_index = if opening > 0 {
            Some(opening - 1)
        } else {
            actions.iter().position(|a| matches!(a, Do::Expect(..)))
        };
        let total = actions.len();
        let mut exchange_started = None;
        for (index, action) in actions.into_iter().enumerate() {
            let is_ready = Some(index) == ready_index;
            let before_ready = ready_index.is_some_and(|r| index <= r);
            let result = match action {
                Do::Send(message) => self.send(message).await,
                Do::Expect(within, matcher) => self.expect(within, matcher, is_ready).await,
            };
            if let Err(failure) = result {
                if before_ready {
                    self.outcome.ready = match failure {
                        StepFailure::Closed => Ready::Closed,
                        StepFailure::TimedOut { .. } => Ready::TimedOut {
                            other_messages: self.received,
                        },
                        StepFailure::Mismatch { message } => Ready::Mismatch { message },
                        StepFailure::SendFailed(_) => Ready::Closed,
                    };
                } else {
                    self.outcome.failed_step = Some((index - opening, failure));
                }
                if let Some(started) = exchange_started {
                    self.outcome.exchange_ms = Some(between_ms(started, Instant::now()));
                }
                return;
            }
            if is_ready {
                let now = Instant::now();
                self.outcome.ready = Ready::Passed;
                self.outcome.ready_ms = Some(between_ms(self.plan.accepted_at, now));
                exchange_started = Some(now);
            }
        }
        if let Some(started) = exchange_started
            && ready_index.is_some_and(|r| r + 1 < total)
        {
            self.outcome.exchange_ms = Some(between_ms(started, Instant::now()));
        }
    }

    /// The preset's opening, then the environment's steps, their texts filled.
    fn actions(&self) -> Vec<Do<'p>> {
        let plan: &'p Plan<'a> = self.plan;
        let opening = plan.opening.iter().map(|action| match action {
            Action::Send { message, .. } => Do::Send(message.clone()),
            Action::Expect {
                within, matcher, ..
            } => Do::Expect(*within, matcher),
        });
        let mut sends = plan.send_texts.iter();
        let steps = plan.steps.iter().map(move |step| match step {
            Step::Send { .. } => Do::Send(Message::text(sends.next().cloned().unwrap_or_default())),
            Step::Expect { within, matcher } => Do::Expect(*within, matcher),
        });
        opening.chain(steps).collect()
    }

    async fn send(&mut self, message: Message) -> Result<(), StepFailure> {
        let send = self.socket.send(message);
        match timeout_at(self.plan.deadline.into(), send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => {
                self.note_error(err);
                Err(if self.outcome.server_close.is_some() {
                    StepFailure::Closed
                } else {
                    StepFailure::SendFailed("the socket would not take the message".to_owned())
                })
            }
            Err(_) => Err(StepFailure::SendFailed("send timed out".to_owned())),
        }
    }

    /// The protocol's own refusal: it will never become what the step waits for. The close
    /// that usually follows is waited for a moment, so its code is evidence too.
    async fn refused(&mut self, message: Incoming<'_>) -> bool {
        let refused = self
            .plan
            .refusal
            .is_some_and(|read| read(message).is_some());
        if refused {
            self.wait_for_close(CLOSE_GRACE).await;
        }
        refused
    }

    async fn expect(
        &mut self,
        within: Duration,
        matcher: &Matcher,
        is_ready: bool,
    ) -> Result<(), StepFailure> {
        let started = Instant::now();
        let step_deadline = (started + within).min(self.plan.deadline);
        let mut first_mismatch = None;
        loop {
            match self.next_event(step_deadline).await {
                SocketEvent::Text(text) => {
                    if self.refused(Incoming::Text(&text)).await {
                        return Err(StepFailure::Mismatch { message: text });
                    }
                    let json = serde_json::from_str::<serde_json::Value>(&text).ok();
                    if matcher.matches(&text, json.as_ref()) {
                        return Ok(());
                    }
                    // An error message where the welcome should be will never turn into the
                    // welcome: say so now, after giving the server a moment to send its close.
                    if is_ready && json.as_ref().is_some_and(looks_like_error) {
                        self.wait_for_close(CLOSE_GRACE).await;
                        return Err(StepFailure::Mismatch { message: text });
                    }
                    first_mismatch.get_or_insert(text);
                }
                SocketEvent::Binary(data) => {
                    if self.refused(Incoming::Binary(&data)).await {
                        let message = binary_evidence(&data);
                        return Err(StepFailure::Mismatch { message });
                    }
                    if matcher.matches_binary(&data) {
                        return Ok(());
                    }
                    first_mismatch.get_or_insert(binary_evidence(&data));
                }
                SocketEvent::Closed | SocketEvent::Failed => return Err(StepFailure::Closed),
                SocketEvent::TimedOut => {
                    let within_ms = between_ms(started, step_deadline);
                    return Err(match first_mismatch {
                        Some(message) if !is_ready => StepFailure::Mismatch { message },
                        _ => StepFailure::TimedOut { within_ms },
                    });
                }
            }
            if self.received >= self.plan.limits.max_messages {
                return Err(StepFailure::Mismatch {
                    message: format!(
                        "{} messages arrived without a match (limit {})",
                        self.received, self.plan.limits.max_messages
                    ),
                });
            }
        }
    }

    /// Read one event, recording messages, echo, version and closes as they pass; heartbeats
    /// are answered on the way and keepalive timers served while waiting.
    async fn next_event(&mut self, deadline: Instant) -> SocketEvent {
        loop {
            let wake = self
                .keepalives
                .next_due()
                .map_or(deadline, |due| due.min(deadline));
            let item = match timeout_at(wake.into(), self.socket.next()).await {
                Err(_) if wake < deadline => {
                    let due = self.keepalives.take_due(Instant::now());
                    if let Err(event) = self.send_keepalives(due).await {
                        return event;
                    }
                    continue;
                }
                Err(_) => return SocketEvent::TimedOut,
                Ok(item) => item,
            };
            let message = match item {
                None => {
                    self.note_drop();
                    return SocketEvent::Closed;
                }
                Some(Err(err)) => {
                    self.note_error(err);
                    return SocketEvent::Failed;
                }
                Some(Ok(Message::Close(frame))) => {
                    self.note_close(frame);
                    return SocketEvent::Closed;
                }
                // Pings are answered by tungstenite itself; neither counts as a message.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(message)) => message,
            };
            let incoming = match &message {
                Message::Text(text) => Incoming::Text(text.as_str()),
                Message::Binary(data) => Incoming::Binary(data),
                _ => unreachable!("control frames handled above"),
            };
            if let Some(reply) = self.keepalives.answer(incoming, Instant::now()) {
                self.keep_heartbeat(incoming);
                if let Err(event) = self.send_keepalives(reply.into_iter().collect()).await {
                    return event;
                }
                continue;
            }
            return self.deliver(message);
        }
    }

    /// A message for the steps, recorded on its way.
    fn deliver(&mut self, message: Message) -> SocketEvent {
        match message {
            Message::Text(text) => {
                let text = text.as_str().to_owned();
                self.record(&text);
                SocketEvent::Text(text)
            }
            Message::Binary(data) => {
                self.received += 1;
                self.keep(binary_evidence(&data));
                SocketEvent::Binary(data)
            }
            _ => unreachable!("control frames are handled before"),
        }
    }

    /// A heartbeat's answer or a timer's message; a socket that will not take it ends the
    /// wait as a read would have.
    async fn send_keepalives(&mut self, messages: Vec<Message>) -> Result<(), SocketEvent> {
        for message in messages {
            let sent = timeout_at(self.plan.deadline.into(), self.socket.send(message)).await;
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    self.note_error(err);
                    return Err(SocketEvent::Failed);
                }
                Err(_) => return Err(SocketEvent::TimedOut),
            }
        }
        Ok(())
    }

    /// The first heartbeats are evidence like any message; the rest are only counted.
    fn keep_heartbeat(&mut self, heartbeat: Incoming<'_>) {
        if self.keepalives.counts.answered <= KEPT_HEARTBEATS {
            self.keep(heartbeat.evidence());
        }
    }

    fn record(&mut self, text: &str) {
        self.received += 1;
        self.keep(text.to_owned());
        let wants_echo = self.plan.echo.is_some() && self.outcome.echoed.is_none();
        let wants_version = self.plan.version_pointer.is_some() && self.outcome.version.is_none();
        if !(wants_echo || wants_version) {
            return;
        }
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
            return;
        };
        if wants_echo && let Some(echo) = self.plan.echo {
            self.outcome.echoed = echoed_headers(&json, &echo.pointer);
        }
        if wants_version && let Some(pointer) = self.plan.version_pointer {
            self.outcome.version = json.pointer(pointer).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
    }

    fn keep(&mut self, mut text: String) {
        if self.outcome.messages.len() >= self.plan.limits.max_messages {
            return;
        }
        if text.chars().count() > KEPT_MESSAGE_CHARS {
            text = text.chars().take(KEPT_MESSAGE_CHARS).collect::<String>() + "…";
        }
        self.outcome.messages.push(text);
    }

    fn after_accept_ms(&self) -> f64 {
        between_ms(self.plan.accepted_at, Instant::now())
    }

    fn note_close(&mut self, frame: Option<CloseFrame>) {
        if self.outcome.server_close.is_some() {
            return;
        }
        let (code, reason) = match frame {
            Some(frame) => (u16::from(frame.code), frame.reason.as_str().to_owned()),
            None => (u16::from(CloseCode::Status), String::new()),
        };
        if !self.note_wire_close() {
            self.outcome.server_close = Some(ServerClose {
                code,
                reason,
                after_accept_ms: self.after_accept_ms(),
            });
        }
    }

    /// The server's close as the wire had it, when the tap saw one: tungstenite hands up its
    /// own 1002 for a code it does not accept, and that 1002 is wsprobe's, not the server's.
    fn note_wire_close(&mut self) -> bool {
        let Some(raw) = self.plan.close_witness.as_ref().and_then(|w| w.seen()) else {
            return false;
        };
        let code = raw.code.unwrap_or(u16::from(CloseCode::Status));
        if raw.code.is_some() && !CloseCode::from(code).is_allowed() {
            self.outcome.client_close.get_or_insert(ClientClose {
                code: u16::from(CloseCode::Protocol),
                reason: "Protocol violation".to_owned(),
            });
            if !valid_on_wire(code) {
                self.outcome.protocol_error.get_or_insert(format!(
                    "the server closed with {code}, a close code RFC 6455 §7.4 does not allow on the wire"
                ));
            }
        }
        self.outcome.server_close = Some(ServerClose {
            code,
            reason: raw.reason,
            after_accept_ms: self.after_accept_ms(),
        });
        true
    }

    fn note_drop(&mut self) {
        if self.outcome.server_close.is_none() {
            self.outcome.server_close = Some(ServerClose {
                code: u16::from(CloseCode::Abnormal),
                reason: String::new(),
                after_accept_ms: self.after_accept_ms(),
            });
        }
    }

    fn note_error(&mut self, err: WsError) {
        match err {
            // The peer went away without a close frame: that is close code 1006, not a bug.
            WsError::ConnectionClosed
            | WsError::AlreadyClosed
            | WsError::Io(_)
            | WsError::Protocol(
                tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ) => self.note_drop(),
            WsError::Capacity(err) => {
                self.outcome.protocol_error.get_or_insert(format!(
                    "the server sent a message over the size limit ({err}; limit {} bytes)",
                    self.plan.limits.max_message_bytes
                ));
                self.refuse(CloseCode::Size, "message too big");
            }
            WsError::Utf8(_) => {
                self.outcome
                    .protocol_error
                    .get_or_insert("the server sent a text message that is not UTF-8".to_owned());
                self.refuse(CloseCode::Invalid, "text message not UTF-8");
            }
            other => {
                // A malformed close frame is still the server's close.
                if self.outcome.server_close.is_none() {
                    self.note_wire_close();
                }
                self.outcome
                    .protocol_error
                    .get_or_insert(format!("invalid WebSocket frames from the server: {other}"));
                self.refuse(CloseCode::Protocol, "refused an invalid frame");
            }
        }
    }

    /// wsprobe closes because of a frame it refused; `finish` sends it.
    fn refuse(&mut self, code: CloseCode, reason: &str) {
        self.outcome.client_close.get_or_insert(ClientClose {
            code: u16::from(code),
            reason: reason.to_owned(),
        });
    }

    /// After a refused frame: wsprobe's own close, best effort (the server may be gone).
    async fn send_refusal(&mut self) {
        let Some(close) = self.outcome.client_close.clone() else {
            return;
        };
        if self.outcome.server_close.is_some() {
            return;
        }
        let deadline = (Instant::now() + CLOSE_GRACE).min(self.plan.deadline);
        let frame = CloseFrame {
            code: CloseCode::from(close.code),
            reason: close.reason.clone().into(),
        };
        let sent = timeout_at(
            deadline.into(),
            self.socket.send(Message::Close(Some(frame))),
        )
        .await;
        if !matches!(sent, Ok(Ok(())))
            && let Some(close) = &mut self.outcome.client_close
        {
            close
                .reason
                .push_str(" (the close frame could not be sent: wsprobe dropped the connection)");
        }
    }

    async fn wait_for_close(&mut self, grace: Duration) {
        let deadline = (Instant::now() + grace).min(self.plan.deadline);
        while self.outcome.server_close.is_none() && self.outcome.protocol_error.is_none() {
            match self.next_event(deadline).await {
                SocketEvent::TimedOut | SocketEvent::Closed | SocketEvent::Failed => break,
                SocketEvent::Text(_) | SocketEvent::Binary(_) => {}
            }
        }
    }

    /// The client's close handshake (1000), or, when the server already closed, letting
    /// tungstenite finish answering it. Never waits past the probe's deadline.
    async fn finish(&mut self) {
        if self.outcome.protocol_error.is_some() {
            self.send_refusal().await;
            return;
        }
        let started = Instant::now();
        let deadline = (started + CLOSE_HANDSHAKE_LIMIT).min(self.plan.deadline);
        if self.outcome.server_close.is_some() {
            let _ = timeout_at(deadline.into(), self.socket.close()).await;
            return;
        }
        for message in self.plan.closing.clone() {
            if !matches!(
                timeout_at(deadline.into(), self.socket.send(message)).await,
                Ok(Ok(()))
            ) {
                break;
            }
        }
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "probe complete".into(),
        };
        let sent = timeout_at(
            deadline.into(),
            self.socket.send(Message::Close(Some(frame))),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
        loop {
            match timeout_at(deadline.into(), self.socket.next()).await {
                // A server that never answers (`Err`: the deadline) still cost the whole
                // wait: it is `close` time too.
                Err(_) => break,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    self.outcome.close_answered = true;
                    break;
                }
                Ok(Some(Ok(_))) => {}
            }
        }
        self.outcome.close_ms = Some(between_ms(started, Instant::now()));
        self.outcome.close_started_ms = Some(between_ms(self.plan.accepted_at, started));
    }
}

/// Application-level error messages, in the shapes real backends use.
fn looks_like_error(json: &serde_json::Value) -> bool {
    let says_error = |pointer: &str| {
        json.pointer(pointer)
            .and_then(|v| v.as_str())
            .is_some_and(|s| s.to_ascii_lowercase().contains("error"))
    };
    let has_error_field = json.get("error").is_some_and(|v| !v.is_null());
    has_error_field
        || says_error("/type")
        || says_error("/event")
        || says_error("/status")
        || says_error("/data/event")
}

/// The headers a backend reports having received, names lowercased.
fn echoed_headers(json: &serde_json::Value, pointer: &str) -> Option<Vec<(String, String)>> {
    let object = json.pointer(pointer)?.as_object()?;
    Some(
        object
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "[MISSING]".to_owned(),
                    other => other.to_string(),
                };
                (name.to_ascii_lowercase(), value)
            })
            .collect(),
    )
}

/// Required headers that were sent but that the backend reports absent or `[MISSING]`.
pub fn missing_headers(
    echoed: &[(String, String)],
    require: &[String],
    sent: &[(String, String)],
) -> Vec<String> {
    require
        .iter()
        .filter(|name| sent.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
        .filter(
            |name| match echoed.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                None => true,
                Some((_, value)) => {
                    let value = value.trim();
                    value.is_empty() || value.eq_ignore_ascii_case("[missing]")
                }
            },
        )
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;
