//! What a step or keepalive expects of a message, and what a step does: the matchers read
//! text and binary messages alike, so a protocol's frames (Socket.IO's `42[…]`, MQTT's binary
//! packets) can be expected as easily as a JSON welcome.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Expect {
        /// Deadline for this step, counted from the moment the step starts.
        within: Duration,
        matcher: Matcher,
    },
    /// A text message to send; templates (`{token}`) allowed.
    Send { text: String },
}

/// One `keepalive` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Keepalive {
    /// Whenever a message matches `when`, answer it with `send` (templates allowed); without
    /// `send`, only recognise it as a heartbeat, kept from the steps.
    Answer { when: Matcher, send: Option<String> },
    /// Send `send` every `every`, from the upgrade on.
    Every { every: Duration, send: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// Every JSON pointer must hold exactly the given value.
    Json(Vec<(String, serde_json::Value)>),
    /// The text message contains this substring.
    Contains(String),
    /// The text message is exactly this (a Socket.IO ping `2`, a STOMP heart-beat).
    Equals(String),
    /// The text message starts with `prefix`; what follows it, read as JSON, must hold every
    /// pointer of `json` (none: the prefix alone decides). Socket.IO's `42["welcome",…]`.
    Prefix {
        prefix: String,
        json: Vec<(String, serde_json::Value)>,
    },
    /// The text message matches this regular expression (anywhere, unless anchored).
    Regex(Pattern),
    /// A binary message starting with these bytes (none: any binary message).
    Binary(Vec<u8>),
    /// Any of these (a preset's `next` or `complete`; a STOMP frame as text or binary).
    AnyOf(Vec<Matcher>),
    /// Any text or binary message.
    Any,
}

/// A compiled regular expression, equal to another when written the same.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Matcher {
    /// Whether a text (a message, a response body) matches; `json` is its parse, if it is JSON.
    pub fn matches(&self, text: &str, json: Option<&serde_json::Value>) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Contains(needle) => text.contains(needle.as_str()),
            Matcher::Equals(whole) => text == whole,
            Matcher::Json(expected) => json.is_some_and(|json| holds(json, expected)),
            Matcher::Prefix { prefix, json } => {
                text.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                    json.is_empty()
                        || serde_json::from_str::<serde_json::Value>(rest)
                            .is_ok_and(|value| holds(&value, json))
                })
            }
            Matcher::Regex(pattern) => pattern.0.is_match(text),
            Matcher::Binary(_) => false,
            Matcher::AnyOf(matchers) => matchers.iter().any(|m| m.matches(text, json)),
        }
    }

    /// What a message must be, as a sentence's object: `a message containing "ok"`,
    /// `{"/type":"pong"}`, `a binary message starting 20`.
    pub fn phrase(&self) -> String {
        match self {
            Matcher::Any => "any message".to_owned(),
            Matcher::Json(_) | Matcher::Binary(_) => self.describe(),
            Matcher::AnyOf(matchers) => matchers
                .iter()
                .map(Matcher::phrase)
                .collect::<Vec<_>>()
                .join(" or "),
            other => format!("a message {}", other.describe()),
        }
    }

    /// Whether matching needs the message's JSON parse (given to [`Matcher::matches`]).
    pub fn reads_json(&self) -> bool {
        match self {
            Matcher::Json(_) => true,
            Matcher::AnyOf(matchers) => matchers.iter().any(Matcher::reads_json),
            _ => false,
        }
    }

    /// Whether a binary message matches: only `binary` (by its leading bytes) and any.
    pub fn matches_binary(&self, data: &[u8]) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Binary(prefix) => data.starts_with(prefix),
            Matcher::AnyOf(matchers) => matchers.iter().any(|m| m.matches_binary(data)),
            _ => false,
        }
    }

    /// `{"/status": "healthy"}` or `containing "ok"`: for sentences.
    pub fn describe(&self) -> String {
        match self {
            Matcher::Json(pairs) => json_object(pairs),
            Matcher::Contains(needle) => format!("containing {needle:?}"),
            Matcher::Equals(whole) => format!("equal to {whole:?}"),
            Matcher::Prefix { prefix, json } if json.is_empty() => {
                format!("starting with {prefix:?}")
            }
            Matcher::Prefix { prefix, json } => {
                format!("starting with {prefix:?} then {}", json_object(json))
            }
            Matcher::Regex(pattern) => format!("matching /{}/", pattern.0.as_str()),
            Matcher::Binary(prefix) if prefix.is_empty() => "a binary message".to_owned(),
            Matcher::Binary(prefix) => match std::str::from_utf8(prefix) {
                Ok(text) if reads_as_text(text) => {
                    format!("a binary message starting {text:?}")
                }
                _ => format!("a binary message starting {}", hex(prefix)),
            },
            Matcher::AnyOf(matchers) => matchers
                .iter()
                .map(Matcher::describe)
                .collect::<Vec<_>>()
                .join(" or "),
            Matcher::Any => "anything".to_owned(),
        }
    }
}

/// A binary prefix that is a word or more of text (STOMP's `CONNECTED\n`), not bytes that
/// happen to be printable (MQTT's CONNACK is 0x20, a space).
fn reads_as_text(text: &str) -> bool {
    text.len() >= 3
        && text.chars().any(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' ' || c == '\n')
}

/// Every pointer holds exactly its value.
fn holds(json: &serde_json::Value, expected: &[(String, serde_json::Value)]) -> bool {
    expected
        .iter()
        .all(|(pointer, want)| json.pointer(pointer) == Some(want))
}

fn json_object(pairs: &[(String, serde_json::Value)]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = pairs.iter().cloned().collect();
    serde_json::Value::Object(object).to_string()
}

/// `20 02 00 00`: bytes as the MQTT and WebSocket specifications print them.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(matcher: &Matcher, text: &str) -> bool {
        let json = serde_json::from_str::<serde_json::Value>(text).ok();
        matcher.matches(text, json.as_ref())
    }

    #[test]
    fn each_matcher_reads_its_kind_of_message() {
        let welcome = Matcher::Prefix {
            prefix: "42".into(),
            json: vec![("/0".into(), json!("welcome"))],
        };
        let regex = Matcher::Regex(Pattern(regex::Regex::new(r"^CONNECTED\n").unwrap()));
        #[rustfmt::skip]
        let cases: &[(&Matcher, &str, bool)] = &[
            (&welcome, r#"42["welcome",{"user":1}]"#, true),
            (&welcome, r#"42["other"]"#, false),
            (&welcome, r#"43["welcome"]"#, false),
            (&welcome, "42not json", false),
            (&Matcher::Prefix { prefix: "40".into(), json: vec![] }, r#"40{"sid":"x"}"#, true),
            (&Matcher::Equals("2".into()), "2", true),
            (&Matcher::Equals("2".into()), "23", false),
            (&regex, "CONNECTED\nversion:1.2\n\n\0", true),
            (&regex, "ERROR\nmessage:no\n\n\0", false),
            (&Matcher::Json(vec![("/type".into(), json!("pong"))]), r#"{"type":"pong"}"#, true),
            (&Matcher::Contains("pon".into()), "pong", true),
            (&Matcher::Binary(vec![]), "anything", false),
            (&Matcher::Any, "", true),
        ];
        for (matcher, message, want) in cases {
            assert_eq!(text(matcher, message), *want, "{matcher:?} on {message:?}");
        }
    }

    #[test]
    fn binary_messages_match_binary_or_any_only() {
        let connack = [0x20, 0x02, 0x00, 0x00];
        assert!(Matcher::Binary(vec![]).matches_binary(&connack));
        assert!(Matcher::Binary(vec![0x20, 0x02]).matches_binary(&connack));
        assert!(!Matcher::Binary(vec![0x90]).matches_binary(&connack));
        assert!(Matcher::Any.matches_binary(&connack));
        assert!(!Matcher::Contains(" ".into()).matches_binary(b" "));
        assert_eq!(
            Matcher::Binary(vec![0x20, 0x02]).describe(),
            "a binary message starting 20 02"
        );
    }
}
