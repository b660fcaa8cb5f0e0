//! STOMP 1.2 (stomp.github.io/stomp-specification-1.2) over the `v12.stomp` subprotocol, one
//! frame per WebSocket message, each ending with NUL: `CONNECT` (accept-version, host, login,
//! passcode, heart-beat) answered `CONNECTED`, whose `heart-beat` header sets how often wsprobe
//! sends its EOL heart-beats; an optional `SUBSCRIBE` confirmed by a `RECEIPT`; `DISCONNECT`
//! before the close. Refusal: an `ERROR` frame, named by its `message` header.

use std::time::Duration;

use tokio_tungstenite::tungstenite::Message;

use super::{Dialect, Fill, Refusal, expect, text_of};
use crate::config::protocols::StompOptions;
use crate::config::{Matcher, Pattern};
use crate::probe::keepalive::{Negotiation, Rule};
use crate::probe::message::Incoming;
use crate::probe::session::Action;

const SUBSCRIPTION_ID: &str = "wsprobe";
const SUBSCRIBE_RECEIPT: &str = "wsprobe-subscribe";
/// A heart-beat is one end-of-line between frames.
const EOL: &str = "\n";

pub(super) fn dialect(options: &StompOptions, within: Duration, fill: &Fill) -> Dialect {
    let beat = options.heart_beat.as_millis();
    let mut connect = vec![
        ("accept-version", "1.2".to_owned()),
        ("host", fill.text(&options.host)),
        ("heart-beat", format!("{beat},{beat}")),
    ];
    if let Some(login) = &options.login {
        connect.push(("login", fill.text(login)));
    }
    if let Some(passcode) = &options.passcode {
        connect.push(("passcode", fill.secret(passcode)));
    }
    let mut opening = vec![
        send_frame("CONNECT", &connect, false),
        expect(within, command("CONNECTED", None), "CONNECTED"),
    ];
    let mut closing = Vec::new();
    if let Some(destination) = &options.destination {
        let headers = [
            ("id", SUBSCRIPTION_ID.to_owned()),
            ("destination", fill.text(destination)),
            ("ack", "auto".to_owned()),
            ("receipt", SUBSCRIBE_RECEIPT.to_owned()),
        ];
        opening.push(send_frame("SUBSCRIBE", &headers, true));
        opening.push(expect(
            within,
            command("RECEIPT", Some(SUBSCRIBE_RECEIPT)),
            "the subscription's RECEIPT",
        ));
        closing.push(Message::text(frame(
            "UNSUBSCRIBE",
            &[("id", SUBSCRIPTION_ID.to_owned())],
            true,
        )));
    }
    closing.push(Message::text(frame("DISCONNECT", &[], true)));
    Dialect {
        opening,
        keepalive: keepalive(options.heart_beat),
        closing,
        refusal,
    }
}

fn keepalive(offered: Duration) -> Vec<Rule> {
    let mut rules: Vec<Rule> = ["\n", "\r\n"]
        .into_iter()
        .map(|beat| Rule::Answer {
            when: Matcher::Equals(beat.into()),
            reply: None,
        })
        .collect();
    if !offered.is_zero() {
        rules.push(Rule::Every {
            period: None,
            message: Message::text(EOL),
            period_from: Some(Negotiation {
                offered,
                read: negotiated,
            }),
        });
    }
    rules
}

/// STOMP 1.2 §Heart-beating: with CONNECTED's `heart-beat: sx,sy`, the client sends every
/// max(cx, sy) ms, or never when either is 0.
fn negotiated(message: Incoming<'_>, offered: Duration) -> Option<Option<Duration>> {
    let text = text_of(message)?;
    let connected = parse(&text).filter(|f| f.command == "CONNECTED")?;
    let wanted = connected
        .header("heart-beat")
        .and_then(|value| value.split_once(','))
        .and_then(|(_, sy)| sy.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Some((wanted != 0).then(|| offered.max(Duration::from_millis(wanted))))
}

/// A frame whose command is `name` (after any heart-beat EOLs), as text or as UTF-8 in a
/// binary message; with `receipt`, a RECEIPT for it.
fn command(name: &str, receipt: Option<&str>) -> Matcher {
    let pattern = match receipt {
        Some(id) => format!(
            r"(?s)^(\r?\n)*{name}\r?\n.*receipt-id:{}\r?\n",
            regex::escape(id)
        ),
        None => format!(r"^(\r?\n)*{name}\r?\n"),
    };
    let text = Matcher::Regex(Pattern(
        regex::Regex::new(&pattern).expect("a valid pattern"),
    ));
    Matcher::AnyOf(vec![
        text,
        Matcher::Binary(format!("{name}\n").into_bytes()),
    ])
}

fn send_frame(name: &str, headers: &[(&str, String)], escaped: bool) -> Action {
    let text = frame(name, headers, escaped);
    let shown: Vec<String> = headers.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    Action::Send {
        label: format!("{name} ({})", shown.join(", ")),
        message: Message::text(text),
    }
}

/// A frame with no body. CONNECT's headers are not escaped (STOMP 1.2 keeps CONNECT and
/// CONNECTED readable by 1.0 servers); every other frame's are.
fn frame(name: &str, headers: &[(&str, String)], escaped: bool) -> String {
    let mut text = format!("{name}\n");
    for (key, value) in headers {
        let value = if escaped {
            escape(value)
        } else {
            value.clone()
        };
        text.push_str(&format!("{key}:{value}\n"));
    }
    text.push_str("\n\0");
    text
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(':', "\\c")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('c') => out.push(':'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// One received frame: its command, headers (the first of a repeated one wins, as the
/// specification says) and body.
struct Frame<'t> {
    command: &'t str,
    headers: Vec<(&'t str, &'t str)>,
    body: &'t str,
}

impl Frame<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

fn parse(text: &str) -> Option<Frame<'_>> {
    let text = text.trim_start_matches(['\r', '\n']);
    let (head, body) = match text.split_once("\n\n") {
        Some(split) => split,
        None => text.split_once("\r\n\r\n")?,
    };
    let mut lines = head.lines();
    let command = lines.next()?.trim_end_matches('\r');
    let headers = lines
        .filter_map(|line| line.trim_end_matches('\r').split_once(':'))
        .collect();
    Some(Frame {
        command,
        headers,
        // The NUL ends the frame; brokers often send an EOL after it.
        body: body.trim_end_matches(['\0', '\r', '\n']),
    })
}

/// `ERROR` with its `message` header, and the first line of its body when it says more.
pub(super) fn refusal(message: Incoming<'_>) -> Option<Refusal> {
    let text = text_of(message)?;
    let frame = parse(&text).filter(|f| f.command == "ERROR")?;
    let header = frame.header("message").map(unescape);
    let body = frame
        .body
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_owned);
    let said = match (header, body) {
        (Some(header), Some(body)) if !body.contains(&header) && !header.contains(&body) => {
            Some(format!("{header}: {body}"))
        }
        (Some(header), _) => Some(header),
        (None, body) => body,
    };
    Some(Refusal {
        what: "an ERROR frame".into(),
        said,
        meaning: "the broker refused the session or a frame, and closes the connection after an ERROR",
        advice: "check login, passcode and host (RabbitMQ reads host as its virtual host, / by default) and the broker's permissions on the destination",
        layer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn options() -> StompOptions {
        StompOptions {
            host: "/".into(),
            login: Some("probe".into()),
            passcode: Some(Secret::new("pass:word")),
            destination: Some("/queue/a:b".into()),
            heart_beat: Duration::from_secs(10),
        }
    }

    #[test]
    fn connect_subscribe_and_disconnect_frames() {
        let dialect = dialect(&options(), Duration::from_secs(5), &Fill::described());
        let sent: Vec<&str> = dialect
            .opening
            .iter()
            .filter_map(|a| match a {
                Action::Send { message, .. } => Some(message.to_text().unwrap()),
                Action::Expect { .. } => None,
            })
            .collect();
        assert_eq!(
            sent,
            [
                "CONNECT\naccept-version:1.2\nhost:/\nheart-beat:10000,10000\nlogin:probe\npasscode:[redacted]\n\n\0",
                "SUBSCRIBE\nid:wsprobe\ndestination:/queue/a\\cb\nack:auto\nreceipt:wsprobe-subscribe\n\n\0",
            ]
        );
        assert_eq!(
            dialect.closing,
            [
                Message::text("UNSUBSCRIBE\nid:wsprobe\n\n\0"),
                Message::text("DISCONNECT\n\n\0")
            ]
        );
        let Action::Expect { matcher, .. } = &dialect.opening[1] else {
            panic!("an expect")
        };
        let connected =
            "CONNECTED\nversion:1.2\nheart-beat:5000,20000\nserver:RabbitMQ/3.10.8\n\n\0";
        assert!(Incoming::Text(connected).matches(matcher));
        assert!(Incoming::Text(&format!("\n{connected}")).matches(matcher));
        assert!(Incoming::Binary(connected.as_bytes()).matches(matcher));
        assert!(!Incoming::Text("ERROR\nmessage:x\n\n\0").matches(matcher));
        let Action::Expect { matcher, .. } = &dialect.opening[3] else {
            panic!("an expect")
        };
        assert!(Incoming::Text("RECEIPT\nreceipt-id:wsprobe-subscribe\n\n\0").matches(matcher));
        assert!(!Incoming::Text("RECEIPT\nreceipt-id:other\n\n\0").matches(matcher));
    }

    #[test]
    fn heart_beats_follow_the_connected_frame() {
        let offered = Duration::from_secs(10);
        let connected = |beat: &str| format!("CONNECTED\nversion:1.2\nheart-beat:{beat}\n\n\0");
        for (beat, period) in [
            ("0,20000", Some(Duration::from_secs(20))),
            ("0,5000", Some(Duration::from_secs(10))),
            ("10000,0", None),
        ] {
            assert_eq!(
                negotiated(Incoming::Text(&connected(beat)), offered),
                Some(period),
                "{beat}"
            );
        }
        let without = "CONNECTED\nversion:1.2\n\n\0";
        assert_eq!(negotiated(Incoming::Text(without), offered), Some(None));
        assert_eq!(negotiated(Incoming::Text("MESSAGE\n\n\0"), offered), None);
    }

    #[test]
    fn an_error_frame_is_named_by_its_message_and_body() {
        let rabbit = "ERROR\nmessage:Bad CONNECT\ncontent-type:text/plain\nversion:1.0,1.1,1.2\ncontent-length:32\n\nAccess refused for user 'probe'\n\0";
        let refused = refusal(Incoming::Text(rabbit)).unwrap();
        assert_eq!(refused.what, "an ERROR frame");
        assert_eq!(
            refused.said.as_deref(),
            Some("Bad CONNECT: Access refused for user 'probe'")
        );
        let escaped = refusal(Incoming::Text("ERROR\nmessage:a\\cb\n\n\0")).unwrap();
        assert_eq!(escaped.said.as_deref(), Some("a:b"));
        assert_eq!(refusal(Incoming::Text("CONNECTED\n\n\0")), None);
        assert_eq!(refusal(Incoming::Text("\n")), None);
    }
}
