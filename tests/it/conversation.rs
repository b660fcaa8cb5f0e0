//! The client's dialect without a preset: the matchers (`equals`, `prefix` with `json` after
//! it, `regex`, `binary`) and `keepalive`, loaded from probes.yaml and run against the lab over
//! real sockets.

use std::path::Path;

use wsprobe::config::{self, Matcher};
use wsprobe::probe::{Prober, Verdict};

use crate::helpers::{config, spawn_lab};

fn load_error(environment_tail: &str) -> String {
    let yaml =
        format!("environments:\n  - name: a\n    url: ws://127.0.0.1:9/ws\n{environment_tail}");
    match config::load_str(Path::new("probes.yaml"), &yaml, &|_| None) {
        Ok(_) => panic!("loaded, expected an error:\n{yaml}"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn text_matchers_pass_against_the_lab() {
    let lab = spawn_lab().await;
    let yaml = r#"environments:
  - name: matchers
    url: ws://${LAB}/ws/healthy
    health: { url: "http://${LAB}/health", expect_body: { regex: '"status":\s*"healthy"' } }
    steps:
      - expect: { regex: '"event":\s*"connection_established"' }
      - send: '{"type":"ping","id":7}'
      - expect: { prefix: '{"id":7,' }
      - send: '{"type":"ping"}'
      - expect: { equals: '{"type":"pong"}' }
      - send: hello
      - expect: { prefix: "", json: { /type: echo, /data: hello } }
"#;
    let config = config(yaml, &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
    assert_eq!(result.health.map(|h| h.ok), Some(true));
}

#[tokio::test]
async fn a_step_that_does_not_match_names_the_matcher() {
    let lab = spawn_lab().await;
    let yaml = r#"environments:
  - name: mismatch
    url: ws://${LAB}/ws/healthy
    steps:
      - expect: {}
      - send: '{"type":"ping"}'
      - expect: { within: 1s, regex: '^\{"type":"pang"' }
"#;
    let config = config(yaml, &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::StepFailed, "{}", result.diagnosis);
    assert_eq!(result.failed_step, Some(2));
    assert!(
        result
            .diagnosis
            .contains("matching /^\\{\"type\":\"pang\"/"),
        "{}",
        result.diagnosis
    );
}

#[tokio::test]
async fn binary_matches_a_binary_frame_by_its_leading_bytes() {
    let lab = spawn_lab().await;
    for (binary, verdict) in [
        ("any", Verdict::Ok),
        ("82 00 01", Verdict::Ok),
        ("ff", Verdict::ClosedBeforeReady),
    ] {
        let yaml = format!(
            "environments:\n  - name: binary\n    url: ws://${{LAB}}/ws/binary-welcome\n    steps:\n      - expect: {{ within: 2s, binary: \"{binary}\" }}\n"
        );
        let config = config(&yaml, &lab, &[]);
        let result = Prober::for_config(&config)
            .probe(&config.environments[0])
            .await;
        assert_eq!(result.verdict, verdict, "{binary}: {}", result.diagnosis);
    }
}

#[test]
fn matchers_load_typed_and_refuse_mixtures_bad_regexes_and_bad_hex() {
    let yaml = "environments:\n  - name: a\n    url: ws://127.0.0.1:9/ws\n    steps:\n      - expect: { prefix: \"42/chat,\", json: { /0: welcome } }\n      - expect: { binary: \"20 02\" }\n      - expect: { regex: \"^CONNECTED\" }\n";
    let config = config::load_str(Path::new("probes.yaml"), yaml, &|_| None).unwrap();
    let matchers: Vec<&Matcher> = config.environments[0]
        .steps
        .iter()
        .map(|step| match step {
            config::Step::Expect { matcher, .. } => matcher,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        matchers[0],
        &Matcher::Prefix {
            prefix: "42/chat,".into(),
            json: vec![("/0".into(), serde_json::json!("welcome"))]
        }
    );
    assert_eq!(matchers[1], &Matcher::Binary(vec![0x20, 0x02]));
    assert_eq!(matchers[2].describe(), "matching /^CONNECTED/");

    let cases = [
        (
            "    steps:\n      - expect: { contains: a, equals: b }\n",
            "probes.yaml:5:40: environments[0].steps[0].expect.equals: one kind of match per mapping: `contains` or `equals`, not both (`json` may go with `prefix`, for what follows the prefix)",
        ),
        (
            "    steps:\n      - expect: { json: { /a: 1 }, regex: x }\n",
            "probes.yaml:5:43: environments[0].steps[0].expect.regex: one kind of match per mapping: `json` or `regex`, not both (`json` may go with `prefix`, for what follows the prefix)",
        ),
        (
            "    steps:\n      - expect: { regex: \"(unclosed\" }\n",
            "probes.yaml:5:26: environments[0].steps[0].expect.regex: invalid regular expression \"(unclosed\": unclosed group",
        ),
        (
            "    steps:\n      - expect: { binary: \"2 0\" }\n",
            "probes.yaml:5:27: environments[0].steps[0].expect.binary: \"2 0\" is neither `any` nor bytes in hex: write the message's first bytes as pairs of hex digits (like \"20 02 00 00\")",
        ),
        (
            "    steps:\n      - expect: { prefix: \"42\", json: { 0: welcome } }\n",
            "probes.yaml:5:41: environments[0].steps[0].expect.json.0: invalid JSON pointer \"0\": it starts with / (like /data/event)",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(tail, expected)| load_error(tail) != *expected)
        .map(|(tail, _)| load_error(tail))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A lab environment of the bundled probes.yaml, with its keepalive or without it.
async fn probe_lab(
    lab: &crate::helpers::TestLab,
    name: &str,
    keepalive: bool,
) -> wsprobe::probe::ProbeResult {
    let config = wsprobe::demo::bundled_config(lab.addr()).expect("bundled config loads");
    let mut env = config.environment(name).expect("in probes.yaml").clone();
    assert!(!env.keepalive.is_empty(), "{name} has a keepalive");
    if !keepalive {
        env.keepalive.clear();
    }
    Prober::for_config(&config).probe(&env).await
}

/// The backend's heartbeats arrive while the probe waits 5 s for the pong: answered, the
/// session lives and passes; unanswered (as before keepalives existed), the backend closes it.
/// The heartbeats are never taken for the pong, and only the first are kept as evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_answered_between_steps_keep_the_session() {
    let lab = spawn_lab().await;
    let (answered, unanswered, timer, silent) = tokio::join!(
        probe_lab(&lab, "heartbeat", true),
        probe_lab(&lab, "heartbeat", false),
        probe_lab(&lab, "idle-timeout", true),
        probe_lab(&lab, "idle-timeout", false),
    );
    assert_eq!(answered.verdict, Verdict::Ok, "{}", answered.diagnosis);
    assert_eq!(answered.failed_step, None);
    let heartbeats = answered
        .messages
        .iter()
        .filter(|m| m.contains(r#""type":"heartbeat""#))
        .count();
    assert_eq!(
        heartbeats, 2,
        "the first heartbeats only: {:?}",
        answered.messages
    );
    assert!(
        answered.messages.iter().any(|m| m.contains("pong")),
        "{:?}",
        answered.messages
    );

    assert_eq!(
        unanswered.verdict,
        Verdict::StepFailed,
        "{}",
        unanswered.diagnosis
    );
    assert_eq!(unanswered.failed_step, Some(2));
    assert_eq!(
        unanswered
            .close_code
            .zip(unanswered.close_reason.as_deref()),
        Some((4000, "heartbeat not answered"))
    );

    assert_eq!(timer.verdict, Verdict::Ok, "{}", timer.diagnosis);
    assert_eq!(silent.verdict, Verdict::StepFailed, "{}", silent.diagnosis);
    assert_eq!(
        silent.close_code.zip(silent.close_reason.as_deref()),
        Some((1000, "idle timeout"))
    );
}

#[test]
fn keepalive_loads_and_refuses_what_cannot_run() {
    let yaml = "environments:\n  - name: a\n    url: ws://127.0.0.1:9/ws\n    keepalive:\n      - { when: { equals: \"2\" }, send: \"3\" }\n      - { when: { json: { /type: ka } } }\n      - { every: 30s, send: '{\"type\":\"ping\"}' }\n";
    let config = config::load_str(Path::new("probes.yaml"), yaml, &|_| None).unwrap();
    assert_eq!(
        config.environments[0].keepalive,
        vec![
            config::Keepalive::Answer {
                when: Matcher::Equals("2".into()),
                send: Some("3".into())
            },
            config::Keepalive::Answer {
                when: Matcher::Json(vec![("/type".into(), serde_json::json!("ka"))]),
                send: None
            },
            config::Keepalive::Every {
                every: std::time::Duration::from_secs(30),
                send: r#"{"type":"ping"}"#.into()
            },
        ]
    );
    let described = config::describe(&config);
    assert!(
        described.contains(r#"keepalive     answer a message equal to "2" with "3"; ignore a message {"/type":"ka"}; send "{\"type\":\"ping\"}" every 30s"#),
        "{described}"
    );
    let cases = [
        (
            "    keepalive:\n      - { when: {} , send: x }\n",
            "probes.yaml:5:17: environments[0].keepalive[0].when: `when` needs a matcher (json, contains, equals, prefix, regex or binary): an empty one would take every message from the steps",
        ),
        (
            "    keepalive:\n      - { every: 10ms, send: x }\n",
            "probes.yaml:5:18: environments[0].keepalive[0].every: more often than every 100ms floods the server rather than keeping the session alive",
        ),
        (
            "    keepalive:\n      - { every: 10s }\n",
            "probes.yaml:5:9: environments[0].keepalive[0]: a timer needs `send`: the message to send every time",
        ),
        (
            "    keepalive:\n      - { when: { equals: \"2\" }, every: 1s }\n",
            "probes.yaml:5:41: environments[0].keepalive[0].every: a keepalive answers a message (`when`) or sends on a timer (`every`), not both: make them two entries",
        ),
        (
            "    keepalive:\n      - { send: x }\n",
            "probes.yaml:5:9: environments[0].keepalive[0]: a keepalive needs `when: {...}` (answer a heartbeat) or `every: 30s` (send on a timer)",
        ),
        (
            "    keepalive:\n      - { every: 1s, send: \"{token}\" }\n",
            "probes.yaml:5:28: environments[0].keepalive[0].send: uses {token} but auth is none: set `auth` or remove the template",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(tail, expected)| load_error(tail) != *expected)
        .map(|(tail, _)| load_error(tail))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn presets_load_typed_and_refuse_what_their_protocol_does_not_read() {
    let yaml = "environments:\n  - name: a\n    url: ws://127.0.0.1:9/ws\n    protocol: mqtt\n    protocol_options: { version: 5, username: probe, password: \"${PW}\", topic: probe/# }\n    subprotocols: [mqttv3.1]\n    expect_subprotocol: mqtt\n";
    let lookup = |name: &str| (name == "PW").then(|| "mqtt-password-123".to_owned());
    let config = config::load_str(Path::new("probes.yaml"), yaml, &lookup).unwrap();
    let env = &config.environments[0];
    // The preset's subprotocol is offered first, so `expect_subprotocol` may name it.
    assert_eq!(env.subprotocols, ["mqtt", "mqttv3.1"]);
    let Some(config::Protocol {
        preset: config::Preset::Mqtt(options),
        ..
    }) = &env.protocol
    else {
        panic!("{:?}", env.protocol)
    };
    assert_eq!(options.version, config::protocols::MqttVersion::V5);
    assert!(
        config
            .secret_values()
            .contains(&"mqtt-password-123".to_owned())
    );

    let cases = [
        (
            "    protocol: socketio\n",
            "probes.yaml:4:15: environments[0].protocol: unknown protocol \"socketio\": expected graphql-transport-ws, graphql-ws, socket.io, stomp, mqtt or none",
        ),
        (
            "    protocol: socket.io\n    protocol_options: { namespace: /chat, passcode: x }\n",
            "probes.yaml:5:53: environments[0].protocol_options.passcode: not used by protocol socket.io (it takes: namespace, auth, within)",
        ),
        (
            "    protocol_options: { namespace: /chat }\n",
            "probes.yaml:4:23: environments[0].protocol_options: protocol_options without `protocol`: name the preset they are for",
        ),
        (
            "    protocol: socket.io\n    protocol_options: { namespace: chat }\n",
            "probes.yaml:5:36: environments[0].protocol_options.namespace: a Socket.IO namespace starts with / (like /chat) and has no comma",
        ),
        (
            "    protocol: graphql-transport-ws\n    protocol_options: { payload: [1] }\n",
            "probes.yaml:5:34: environments[0].protocol_options.payload: connection_init's payload is a mapping (the server's connectionParams)",
        ),
        (
            "    protocol: graphql-ws\n    protocol_options: { payload: { token: \"{token}\" } }\n",
            "probes.yaml:5:34: environments[0].protocol_options.payload: uses {token} but auth is none: set `auth` or remove the template",
        ),
        (
            "    protocol: mqtt\n    protocol_options: { version: 4 }\n",
            "probes.yaml:5:34: environments[0].protocol_options.version: the MQTT versions are \"3.1.1\" and 5",
        ),
        (
            "    protocol: mqtt\n    protocol_options: { keep_alive: 1500ms }\n",
            "probes.yaml:5:37: environments[0].protocol_options.keep_alive: MQTT's Keep Alive is whole seconds, from 1s to 65535s",
        ),
        (
            "    protocol: stomp\n    protocol_options: { login: \"a\\nb\" }\n",
            "probes.yaml:5:32: environments[0].protocol_options.login: a STOMP header value cannot hold a line break or NUL",
        ),
        (
            "    timeout: 2s\n    protocol: stomp\n    protocol_options: { within: 5s }\n",
            "probes.yaml:6:33: environments[0].protocol_options.within: 5s is longer than the probe's timeout 2s",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(tail, expected)| load_error(tail) != *expected)
        .map(|(tail, _)| load_error(tail))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// `wsprobe validate` prints what a preset expands to, templates as written, secrets hidden.
#[test]
fn validate_prints_what_a_preset_expands_to() {
    let yaml = "environments:\n  - name: chat\n    url: ws://127.0.0.1:9/socket.io/\n    auth: { kind: bearer, token: \"${TOKEN}\" }\n    protocol: socket.io\n    protocol_options: { namespace: /chat, auth: { token: \"{token}\", key: \"${KEY}\" } }\n  - name: broker\n    url: ws://127.0.0.1:9/ws\n    protocol: stomp\n    protocol_options: { host: /, login: probe, passcode: \"${KEY}\" }\n";
    let lookup = |name: &str| match name {
        "TOKEN" => Some("token-value-123456".to_owned()),
        "KEY" => Some("key-value-abcdef".to_owned()),
        _ => None,
    };
    let config = config::load_str(Path::new("probes.yaml"), yaml, &lookup).unwrap();
    let described = config::describe_with(&config, &wsprobe::probe::presets::describe);
    for line in [
        "  protocol      socket.io, each answer within 5s",
        "    expect      the Engine.IO open packet: a message starting with \"0\"",
        "    send        \"40/chat,{\\\"key\\\":\\\"[redacted]\\\",\\\"token\\\":\\\"{token}\\\"}\"",
        "    keepalive   answer a message equal to \"2\" with \"3\"",
        "    close       \"41/chat,\", then \"1\"",
        "    send        CONNECT (accept-version:1.2, host:/, heart-beat:10000,10000, login:probe, passcode:[redacted])",
        "  subprotocols  v12.stomp",
    ] {
        assert!(
            described.contains(line),
            "{line:?} missing from:\n{described}"
        );
    }
    for secret in ["token-value-123456", "key-value-abcdef"] {
        assert!(!described.contains(secret), "{described}");
    }
    // The replay command connects where the probe does: Engine.IO's query included.
    let replay = wsprobe::probe::replay::command(&config.environments[0], &config.variables, false);
    assert!(
        replay.contains("/socket.io/?EIO=4&transport=websocket"),
        "{replay}"
    );
    let broker = wsprobe::probe::replay::command(&config.environments[1], &config.variables, false);
    assert!(broker.contains("--protocol \"v12.stomp\""), "{broker}");
    assert!(!broker.contains("key-value-abcdef"), "{broker}");
}
