//! A protocol preset's own refusals as evidence: the message that refused the session (read
//! again from the result's messages by the preset's reader), or a close code the protocol
//! defines, each said in the protocol's terms, with the layer and the side that acted.

use super::close::{close_phrase, tag};
use super::registry::{self, Layer, Side};
use super::*;
use crate::probe::message::{Incoming, binary_from_evidence};
use crate::probe::presets::{self, Refusal};

/// Whose close codes these are: the subprotocol the server selected, else the environment's
/// preset (a graphql-transport-ws server that selected none still speaks its codes).
pub(super) fn of(result: &ProbeResult) -> Option<&str> {
    result.subprotocol.as_deref().or(result.protocol.as_deref())
}

/// The sentence for a failure the preset's protocol explains, if it does.
pub(super) fn explain(result: &ProbeResult, expected: &Expectations) -> Option<String> {
    let protocol = result.protocol.as_deref()?;
    let before_ready = match result.verdict {
        Verdict::ReadyMismatch | Verdict::ClosedBeforeReady | Verdict::ReadyTimeout => true,
        Verdict::StepFailed => false,
        _ => return None,
    };
    let when = if before_ready {
        format!("during its {protocol} handshake")
    } else {
        let index = result.failed_step.unwrap_or_default();
        let step = expected
            .steps
            .get(index)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        format!(
            "after its {protocol} handshake (ready after {}), at steps[{index}]{step}",
            ms(result.phases_ms.ready)
        )
    };
    if let Some(refusal) = refusal_in(protocol, &result.messages) {
        return Some(refused(result, &when, &refusal));
    }
    if let Some(sentence) = protocol_close(result, &when) {
        return Some(sentence);
    }
    (result.verdict == Verdict::ReadyTimeout).then(|| handshake_timeout(result, protocol))
}

/// The first kept message the preset's reader reads as a refusal.
fn refusal_in(protocol: &str, messages: &[String]) -> Option<Refusal> {
    let read = presets::refusal_reader(protocol)?;
    messages
        .iter()
        .find_map(|message| match binary_from_evidence(message) {
            Some((_, bytes)) => read(Incoming::Binary(&bytes)),
            None => read(Incoming::Text(message)),
        })
}

fn refused(result: &ProbeResult, when: &str, refusal: &Refusal) -> String {
    let said = refusal
        .said
        .as_deref()
        .map(quote_text)
        .filter(|quoted| !quoted.is_empty());
    let layer = refusal
        .layer
        .unwrap_or_else(|| match said.as_deref().map(reason_points) {
            Some(ReasonPoints::Credentials) => Layer::Auth,
            _ => Layer::Application,
        });
    let saying = said.map(|s| format!(" saying \"{s}\"")).unwrap_or_default();
    let then = close_phrase(result)
        .map(|close| format!(", and then {close}"))
        .unwrap_or_default();
    format!(
        "The server refused the session {when} with {}{saying}{then}: {}{}; {}.",
        refusal.what,
        refusal.meaning,
        tag(layer, Side::Server),
        refusal.advice
    )
}

/// A close with a code the protocol itself defines (graphql-ws's 4403 "Forbidden").
fn protocol_close(result: &ProbeResult, when: &str) -> Option<String> {
    let code = result.close_code?;
    let entry = registry::close_code(code, of(result));
    if entry == registry::close_code(code, None) {
        return None;
    }
    Some(format!(
        "The server {}, {when}: {} defines {} as {}, {}{}; {}.",
        close_phrase(result)?,
        entry.source,
        entry.code,
        entry.name,
        entry.meaning,
        tag(entry.layer, entry.side),
        entry.advice
    ))
}

fn handshake_timeout(result: &ProbeResult, protocol: &str) -> String {
    let awaited = presets::awaited(protocol).unwrap_or("the handshake's answer");
    let others = match result.messages.len() {
        0 => "no message at all".to_owned(),
        n => format!("{n} other message{}", plural(n)),
    };
    format!(
        "The upgrade succeeded in {}, but the {protocol} handshake never completed: {awaited} did not come in time ({others}): the server does not answer the protocol as wsprobe speaks it (another version, or a URL that is not its endpoint), or its session setup is stuck{}.",
        ms(result.phases_ms.upgrade),
        tag(Layer::Protocol, Side::Server)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::result::Phases;

    fn expected() -> Expectations {
        Expectations {
            steps: vec!["expect a message starting with \"42\"".into()],
            ..Expectations::default()
        }
    }

    /// The whole diagnosis, as a result gets it.
    fn sentence_of(result: &ProbeResult) -> String {
        crate::probe::diagnosis::explain(result, &expected(), &[])
    }

    fn result(protocol: &str, verdict: Verdict, messages: &[&str]) -> ProbeResult {
        ProbeResult::builder("chat", verdict)
            .protocol(protocol)
            .http_status(101)
            .phases_ms(Phases {
                upgrade: Some(3.0),
                ready: Some(9.0),
                ..Phases::default()
            })
            .messages(messages.iter().map(|m| (*m).to_owned()).collect())
            .build()
    }

    /// Each preset's refusal, as the session leaves it in the result, said in the
    /// protocol's terms: what refused, what it said (quoted, no markup), layer and side.
    #[test]
    fn each_protocols_refusal_is_named_with_what_it_said() {
        let cases: &[(&str, Verdict, &[&str], &[&str])] = &[
            (
                "socket.io",
                Verdict::ReadyMismatch,
                &[
                    "0{\"sid\":\"x\"}",
                    "44/chat,{\"message\":\"<b>not authorized</b>\"}",
                ],
                &[
                    "connect_error (44) for namespace /chat",
                    "saying \"not authorized\"",
                    "(auth layer, the server acted)",
                ],
            ),
            (
                "stomp",
                Verdict::ReadyMismatch,
                &["ERROR\nmessage:Bad CONNECT\n\nAccess refused for user 'probe'\n\0"],
                &[
                    "ERROR frame",
                    "\"Bad CONNECT: Access refused for user 'probe'\"",
                    "auth layer",
                ],
            ),
            (
                "graphql-ws",
                Verdict::ReadyMismatch,
                &[
                    "{\"type\":\"connection_error\",\"payload\":{\"message\":\"database unavailable\"}}",
                ],
                &[
                    "connection_error saying \"database unavailable\"",
                    "(application layer, the server acted)",
                ],
            ),
            (
                "graphql-transport-ws",
                Verdict::StepFailed,
                &[
                    "{\"type\":\"connection_ack\"}",
                    "{\"id\":\"wsprobe\",\"type\":\"error\",\"payload\":[{\"message\":\"Cannot query field\"}]}",
                ],
                &[
                    "after its graphql-transport-ws handshake (ready after 9.0 ms), at steps[0]",
                    "an error for operation wsprobe",
                ],
            ),
            (
                "mqtt",
                Verdict::ReadyMismatch,
                &["<binary message, 4 bytes: 20 02 00 04>"],
                &[
                    "CONNACK return code 4 (MQTT 3.1.1)",
                    "bad user name or password",
                    "auth layer",
                ],
            ),
        ];
        for (protocol, verdict, messages, words) in cases {
            let mut result = result(protocol, *verdict, messages);
            result.failed_step = (*verdict == Verdict::StepFailed).then_some(0);
            let sentence = sentence_of(&result);
            for word in *words {
                assert!(
                    sentence.contains(word),
                    "{protocol}: {sentence:?} lacks {word:?}"
                );
            }
            assert!(
                !sentence.contains('<') && !sentence.contains('\n'),
                "{sentence}"
            );
        }
    }

    /// 4403 is graphql-ws's Forbidden under its preset or subprotocol, and the application's
    /// own code anywhere else.
    #[test]
    fn a_protocols_close_code_is_read_only_in_that_protocol() {
        let closed = |protocol: Option<&str>| {
            let mut result = result("none", Verdict::ClosedBeforeReady, &[]);
            result.protocol = protocol.map(str::to_owned);
            result.close_code = Some(4403);
            result.close_reason = Some("Forbidden".into());
            result.close_after_ms = Some(4.0);
            sentence_of(&result)
        };
        let graphql = closed(Some("graphql-transport-ws"));
        assert!(
            graphql.contains("graphql-ws defines 4403 as Forbidden"),
            "{graphql}"
        );
        let generic = closed(None);
        assert!(!generic.contains("graphql"), "{generic}");
        assert!(generic.contains("application"), "{generic}");
    }

    #[test]
    fn a_handshake_that_never_completes_names_what_it_waited_for() {
        let sentence = sentence_of(&result("stomp", Verdict::ReadyTimeout, &[]));
        assert!(
            sentence.contains("the stomp handshake never completed: CONNECTED did not come in time (no message at all)"),
            "{sentence}"
        );
        assert!(
            sentence.contains("(protocol layer, the server acted)"),
            "{sentence}"
        );
    }
}
