//! Every registry row through the diagnosis: each sentence names its row's layer, and no two
//! rows produce the same sentence once their numbers and names are taken out.
use std::collections::HashMap;

use super::registry::{
    self, CLOSE_CODES, CLOSE_RANGES, Entry, GRAPHQL_WS, HTTP_STATUSES, TLS_ALERTS,
};
use super::*;
use crate::probe::result::{Headers, Phases};

const GRAPHQL: &str = "graphql-transport-ws";

fn expected() -> Expectations {
    Expectations {
        target: "api.example.com:443".into(),
        steps: vec!["expect welcome".into(), "send ping".into()],
        timeout_ms: 15000.0,
        ..Expectations::default()
    }
}

fn base(verdict: Verdict) -> crate::probe::result::ProbeResultBuilder {
    ProbeResult::builder("staging", verdict)
        .url("wss://api.example.com/ws")
        .attempts(1)
        .phases_ms(Phases {
            connect: Some(1.0),
            upgrade: Some(3.0),
            ready: Some(4.0),
            total: Some(20.0),
            ..Phases::default()
        })
}

/// Every close code row (the ranges by their first code) with the subprotocol that makes it
/// that row.
fn close_rows() -> Vec<(Entry, Option<&'static str>)> {
    CLOSE_CODES
        .iter()
        .map(|e| (*e, None))
        .chain(GRAPHQL_WS.iter().map(|e| (*e, Some(GRAPHQL))))
        .chain(CLOSE_RANGES.iter().map(|(_, _, e)| (*e, None)))
        .collect()
}

/// A result in which the server closed with `entry`'s code, at `verdict`'s point; a code RFC
/// 6455 forbids on the wire is a protocol error with wsprobe's 1002 beside it, as the session
/// records it.
fn closed(entry: &Entry, subprotocol: Option<&str>, verdict: Verdict) -> ProbeResult {
    let mut builder = base(verdict)
        .http_status(101)
        .close_code(entry.code)
        .close_reason("why")
        .close_after_ms(12.0)
        .failed_step(1);
    if let Some(sub) = subprotocol {
        builder = builder.subprotocol(sub);
    }
    if !registry::valid_on_wire(entry.code) && entry.code != 1006 {
        builder = builder
            .error(format!(
                "the server closed with {}, a close code RFC 6455 §7.4 does not allow on the wire",
                entry.code
            ))
            .client_close_code(1002)
            .client_close_reason("Protocol violation");
    }
    builder.build()
}

fn rejected(entry: &Entry) -> ProbeResult {
    let sent = [
        ("authorization", "[REDACTED]"),
        ("origin", "https://app.example.com"),
    ];
    base(Verdict::UpgradeRejected)
        .http_status(entry.code)
        .headers(Headers {
            sent: sent
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Headers::default()
        })
        .build()
}

fn alerted(entry: &Entry) -> ProbeResult {
    let camel: String = entry
        .name
        .split('_')
        .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
        .collect();
    base(Verdict::TlsFailed)
        .error(format!("received fatal alert: {camel}"))
        .build()
}

/// Every row's sentences, by table, each with the row it came from.
fn sentences() -> Vec<(&'static str, Entry, String)> {
    let mut all = Vec::new();
    for (entry, sub) in close_rows() {
        let forbidden = !registry::valid_on_wire(entry.code) && entry.code != 1006;
        let verdicts: &[Verdict] = if forbidden {
            &[Verdict::ProtocolError]
        } else {
            &[Verdict::ClosedBeforeReady, Verdict::StepFailed]
        };
        for verdict in verdicts {
            let text = explain(&closed(&entry, sub, *verdict), &expected(), &[]);
            all.push((verdict.as_str(), entry, text));
        }
    }
    for entry in HTTP_STATUSES {
        all.push(("http", *entry, explain(&rejected(entry), &expected(), &[])));
    }
    for entry in TLS_ALERTS {
        all.push(("tls", *entry, explain(&alerted(entry), &expected(), &[])));
    }
    for (entry, connack) in mqtt_rows() {
        let refused = base(Verdict::ReadyMismatch)
            .protocol("mqtt")
            .messages(vec![crate::probe::message::binary_evidence(&connack)])
            .build();
        all.push(("mqtt", entry, explain(&refused, &expected(), &[])));
    }
    for entry in GRAPHQL_WS {
        let preset = ProbeResult {
            protocol: Some(GRAPHQL.into()),
            subprotocol: None,
            ..closed(entry, None, Verdict::ClosedBeforeReady)
        };
        all.push(("graphql preset", *entry, explain(&preset, &expected(), &[])));
    }
    all
}

/// Every MQTT failure code, in the CONNACK that carries it (3.1.1's return codes, 5.0's
/// reason codes with an empty property list).
fn mqtt_rows() -> Vec<(Entry, Vec<u8>)> {
    let v311 = registry::mqtt::MQTT311_CONNACK
        .iter()
        .map(|e| (*e, vec![0x20, 0x02, 0x00, e.code as u8]));
    let v5 = registry::mqtt::MQTT5_REASONS
        .iter()
        .map(|e| (*e, vec![0x20, 0x03, 0x00, e.code as u8, 0x00]));
    let suback = registry::mqtt::MQTT311_SUBACK_FAILURE;
    v311.chain(v5)
        .chain([(suback, vec![0x90, 0x03, 0x00, 0x01, 0x80])])
        .collect()
}

#[test]
fn every_registry_row_gives_a_sentence_naming_its_layer_and_side() {
    for (table, entry, sentence) in sentences() {
        let layer = format!("{} layer", entry.layer);
        assert!(
            sentence.contains(&layer),
            "{table} {}: {sentence:?} lacks {layer:?}",
            entry.code
        );
        assert!(
            sentence.contains(" acted"),
            "{table} {}: {sentence:?} names no side",
            entry.code
        );
        assert!(
            sentence.ends_with('.'),
            "{table} {}: {sentence}",
            entry.code
        );
    }
}

#[test]
fn no_two_rows_share_a_sentence() {
    // Numbers (the code, the status) and the row's own name are taken out: what is left is
    // what the sentence says, and that must differ from row to row.
    let mut seen: HashMap<(String, String), u16> = HashMap::new();
    for (table, entry, sentence) in sentences() {
        let said: String = sentence
            .replace(entry.name, "")
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        if let Some(other) = seen.insert((table.to_owned(), said.clone()), entry.code) {
            panic!("{table}: {other} and {} say the same: {said:?}", entry.code);
        }
    }
}

#[test]
fn wsprobes_own_close_is_never_the_servers() {
    let bad_gateway = *CLOSE_CODES.iter().find(|e| e.code == 1014).unwrap();
    let result = ProbeResult {
        client_close_code: Some(1002),
        client_close_reason: Some("Protocol violation".into()),
        ..closed(&bad_gateway, None, Verdict::ClosedBeforeReady)
    };
    let sentence = explain(&result, &expected(), &[]);
    assert!(
        sentence.contains("The server closed with 1014"),
        "{sentence}"
    );
    assert!(
        sentence.contains("wsprobe, not the server, then closed with 1002"),
        "{sentence}"
    );
    let refused = base(Verdict::ProtocolError)
        .error("invalid WebSocket frames from the server: Protocol error: Encountered invalid opcode: 3")
        .client_close_code(1002)
        .client_close_reason("refused an invalid frame")
        .build();
    let sentence = explain(&refused, &expected(), &[]);
    assert!(
        sentence.contains("wsprobe, not the server, closed with 1002 \"refused an invalid frame\""),
        "{sentence}"
    );
    assert!(!sentence.contains("The server closed"), "{sentence}");
}

#[test]
fn every_failing_verdict_names_a_layer_and_slow_names_its_phase() {
    for verdict in Verdict::ALL {
        if matches!(verdict, Verdict::Ok | Verdict::ProbeError) {
            continue;
        }
        let sentence = explain(&base(verdict).build(), &expected(), &[]);
        assert!(sentence.contains(" layer, "), "{verdict}: {sentence}");
    }
    let phases = [
        ("dns", "network layer"),
        ("connect", "network layer"),
        ("tls", "TLS layer"),
        ("upgrade", "HTTP layer"),
        ("ready", "application layer"),
    ];
    for (phase, layer) in phases {
        let mut times = Phases {
            dns: Some(1.0),
            connect: Some(1.0),
            tls: Some(1.0),
            upgrade: Some(1.0),
            ready: Some(1.0),
            total: Some(3000.0),
            ..Phases::default()
        };
        match phase {
            "dns" => times.dns = Some(2900.0),
            "connect" => times.connect = Some(2900.0),
            "tls" => times.tls = Some(2900.0),
            "upgrade" => times.upgrade = Some(2900.0),
            _ => times.ready = Some(2900.0),
        }
        let slow = base(Verdict::Slow).phases_ms(times).build();
        let sentence = explain(&slow, &expected(), &[]);
        assert!(
            sentence.contains(&format!("in the {phase} phase")) && sentence.contains(layer),
            "{phase}: {sentence}"
        );
    }
}

#[test]
fn a_refusal_is_weighed_against_the_tokens_expiry() {
    let forbidden = *HTTP_STATUSES.iter().find(|e| e.code == 403).unwrap();
    let expired = Expectations {
        token_seconds_left: Some(-300),
        ..expected()
    };
    let sentence = explain(&rejected(&forbidden), &expired, &[]);
    assert!(
        sentence.contains("had expired 5 minutes before"),
        "{sentence}"
    );
    let fresh = Expectations {
        token_seconds_left: Some(600),
        ..expected()
    };
    let sentence = explain(&rejected(&forbidden), &fresh, &[]);
    assert!(sentence.contains("so not its expiry"), "{sentence}");
    // And a 403 to an upgrade without Origin names the Origin check (RFC 6455 §10.2).
    let no_origin = base(Verdict::UpgradeRejected).http_status(403).build();
    let sentence = explain(&no_origin, &expected(), &[]);
    assert!(sentence.contains("sent no Origin header"), "{sentence}");
}

#[test]
fn a_connection_closed_without_any_answer_reads_as_a_proxy_dropping_it() {
    let dropped = base(Verdict::ProtocolError)
        .error("the server closed the connection without answering the upgrade")
        .build();
    let sentence = explain(&dropped, &expected(), &[]);
    assert!(sentence.contains("return 444"), "{sentence}");
    assert!(
        sentence.contains("proxy layer, a proxy or gateway acted"),
        "{sentence}"
    );
}

#[test]
fn a_message_before_a_reasonless_close_is_read_as_its_reason() {
    let before_ready = base(Verdict::ClosedBeforeReady)
        .close_code(1011)
        .close_reason("")
        .messages(vec!["database unavailable".into()])
        .build();
    let sentence = explain(&before_ready, &expected(), &[]);
    assert!(
        sentence.contains("sent \"database unavailable\" and then closed with 1011"),
        "{sentence}"
    );
    let mid_session = base(Verdict::StepFailed)
        .close_code(1011)
        .close_reason("")
        .failed_step(1)
        .messages(vec![
            "{\"type\":\"system_message\"}".into(),
            "quota exceeded".into(),
        ])
        .build();
    let sentence = explain(&mid_session, &expected(), &[]);
    assert!(
        sentence.contains("sent \"quota exceeded\" and then closed with 1011"),
        "{sentence}"
    );
}
