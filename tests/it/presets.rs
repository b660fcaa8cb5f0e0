//! Each protocol preset against the real thing, run by the test on a loopback port: the
//! graphql-ws library's server, subscriptions-transport-ws, Socket.IO, RabbitMQ's Web-STOMP
//! and mosquitto. Good credentials pass through the protocol's handshake and keepalive; bad
//! ones are refused the protocol's own way, and the diagnosis names that refusal.

use std::path::Path;

use wsprobe::config::{self, Config};
use wsprobe::probe::{ProbeResult, Prober, Verdict};

use crate::helpers::preset_servers::{self as servers, Server};

const GOOD: &str = "good-token-0123456789";
const BAD: &str = "bad-token-9876543210";

/// `yaml` with `${SERVER}` the server's `ws://127.0.0.1:port`, `${GOOD}` and `${BAD}` the
/// credentials.
fn load(yaml: &str, server: &Server) -> Config {
    crate::helpers::assert_schema_accepts(yaml, "a preset test config");
    let base = server.ws_url("");
    let lookup = move |name: &str| match name {
        "SERVER" => Some(base.clone()),
        "GOOD" => Some(GOOD.to_owned()),
        "BAD" => Some(BAD.to_owned()),
        _ => None,
    };
    config::load_str(Path::new("probes.yaml"), yaml, &lookup)
        .unwrap_or_else(|err| panic!("the test config loads: {err}"))
}

/// Every environment of `config`, probed at once, by name.
async fn probe_all(config: &Config) -> Vec<ProbeResult> {
    let prober = Prober::for_config(config);
    futures_util::future::join_all(config.environments.iter().map(|env| prober.probe(env))).await
}

fn find<'r>(results: &'r [ProbeResult], name: &str) -> &'r ProbeResult {
    results.iter().find(|r| r.environment == name).unwrap()
}

/// The verdict, the preset in the result, no credential anywhere in it, and each of `words`
/// in the diagnosis.
fn assert_result(result: &ProbeResult, verdict: Verdict, protocol: &str, words: &[&str]) {
    let json = serde_json::to_string(result).unwrap();
    eprintln!("{}: {}", result.environment, result.diagnosis);
    assert_eq!(result.verdict, verdict, "{json}");
    assert_eq!(result.protocol.as_deref(), Some(protocol), "{json}");
    for secret in [GOOD, BAD] {
        assert!(!json.contains(secret), "a credential in the result: {json}");
    }
    for word in words {
        assert!(
            result.diagnosis.contains(word),
            "{:?} lacks {word:?}",
            result.diagnosis
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_transport_ws_against_the_graphql_ws_librarys_server() {
    let Some(server) = servers::node("graphql-transport-ws.mjs", GOOD).await else {
        return;
    };
    let yaml = r#"environments:
  - name: good
    url: ${SERVER}/graphql
    auth: { kind: bearer, token: "${GOOD}" }
    protocol: graphql-transport-ws
    protocol_options:
      payload: { token: "{token}" }
      subscribe: { query: "subscription { greetings }" }
  - name: refused
    url: ${SERVER}/graphql
    auth: { kind: bearer, token: "${BAD}" }
    protocol: graphql-transport-ws
    protocol_options: { payload: { token: "{token}" } }
"#;
    let results = probe_all(&load(yaml, &server)).await;
    let good = find(&results, "good");
    assert_result(good, Verdict::Ok, "graphql-transport-ws", &[]);
    assert_eq!(good.subprotocol.as_deref(), Some("graphql-transport-ws"));
    assert_eq!(
        good.messages[0], r#"{"type":"connection_ack"}"#,
        "{:?}",
        good.messages
    );
    assert!(
        good.messages[1].contains(r#""greetings":"Hi""#),
        "{:?}",
        good.messages
    );

    let refused = find(&results, "refused");
    assert_result(
        refused,
        Verdict::ClosedBeforeReady,
        "graphql-transport-ws",
        &[
            "4403",
            "Forbidden",
            "graphql-ws",
            "connection_init",
            "auth layer",
        ],
    );
    assert_eq!(
        refused.close_code.zip(refused.close_reason.as_deref()),
        Some((4403, "Forbidden")),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_against_subscriptions_transport_ws() {
    let Some(server) = servers::node("graphql-ws-legacy.mjs", GOOD).await else {
        return;
    };
    let yaml = r#"environments:
  - name: good
    url: ${SERVER}/graphql
    auth: { kind: bearer, token: "${GOOD}" }
    protocol: graphql-ws
    protocol_options:
      payload: { token: "{token}" }
      subscribe: { query: "subscription { greetings }" }
  - name: refused
    url: ${SERVER}/graphql
    auth: { kind: bearer, token: "${BAD}" }
    protocol: graphql-ws
    protocol_options: { payload: { token: "{token}" } }
"#;
    let results = probe_all(&load(yaml, &server)).await;
    let good = find(&results, "good");
    assert_result(good, Verdict::Ok, "graphql-ws", &[]);
    assert_eq!(good.subprotocol.as_deref(), Some("graphql-ws"));
    assert!(
        good.messages.iter().any(|m| m.contains(r#""type":"data""#)),
        "the subscription's data passed the ka keep-alives: {:?}",
        good.messages
    );
    let refused = find(&results, "refused");
    assert_result(
        refused,
        Verdict::ReadyMismatch,
        "graphql-ws",
        &["connection_error", "\"not authorized\"", "auth layer"],
    );
    assert_eq!(refused.close_code, Some(1011), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_namespace_auth_pings_and_events() {
    let Some(server) = servers::node("socket-io.mjs", GOOD).await else {
        return;
    };
    // The server pings every 300 ms and drops a client silent for 2 s; `late` comes 2.5 s
    // after `wait`, so the pongs must go out while the step waits.
    let yaml = r#"environments:
  - name: good
    url: ${SERVER}/socket.io/
    degraded_after: 10s
    auth: { kind: bearer, token: "${GOOD}" }
    protocol: socket.io
    protocol_options: { namespace: /chat, auth: { token: "{token}" } }
    steps:
      - expect: { prefix: "42/chat,", json: { /0: welcome, /1/user: probe } }
      - send: '42/chat,["wait"]'
      - expect: { within: 8s, prefix: "42/chat,", json: { /0: late } }
  - name: refused
    url: ${SERVER}/socket.io/
    auth: { kind: bearer, token: "${BAD}" }
    protocol: socket.io
    protocol_options: { namespace: /chat, auth: { token: "{token}" } }
"#;
    let results = probe_all(&load(yaml, &server)).await;
    let good = find(&results, "good");
    assert_result(good, Verdict::Ok, "socket.io", &[]);
    let pings = good.messages.iter().filter(|m| *m == "2").count();
    assert_eq!(pings, 2, "the first pings only: {:?}", good.messages);
    assert!(
        good.messages.iter().any(|m| m.contains("late")),
        "{:?}",
        good.messages
    );

    let refused = find(&results, "refused");
    assert_result(
        refused,
        Verdict::ReadyMismatch,
        "socket.io",
        &["connect_error", "/chat", "\"not authorized\"", "auth layer"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stomp_against_rabbitmq_web_stomp() {
    let Some(server) = servers::rabbitmq_web_stomp("probe", GOOD).await else {
        return;
    };
    // RabbitMQ reads `host` as its virtual host: `/`, not the URL's host.
    let yaml = r#"environments:
  - name: good
    url: ${SERVER}/ws
    protocol: stomp
    protocol_options: { host: /, login: probe, passcode: "${GOOD}", destination: /queue/wsprobe }
    steps:
      - send: "SEND\ndestination:/queue/wsprobe\ncontent-type:text/plain\n\nhello from the probe\0"
      - expect: { regex: '^MESSAGE\n(?s:.*)\n\nhello from the probe' }
  - name: heart-beats
    url: ${SERVER}/ws
    protocol: stomp
    protocol_options: { host: /, login: probe, passcode: "${GOOD}", heart_beat: 1s }
    steps:
      - expect: { within: 4s, regex: "^never" }
  - name: refused
    url: ${SERVER}/ws
    protocol: stomp
    protocol_options: { host: /, login: probe, passcode: "${BAD}" }
  - name: wrong-vhost
    url: ${SERVER}/ws
    protocol: stomp
    protocol_options: { login: probe, passcode: "${GOOD}" }
"#;
    let results = probe_all(&load(yaml, &server)).await;
    let good = find(&results, "good");
    assert_result(good, Verdict::Ok, "stomp", &[]);
    assert_eq!(good.subprotocol.as_deref(), Some("v12.stomp"));

    // Both sides beat every second: wsprobe's keep the broker from dropping the session
    // while the step waits, and the broker's are recognised, not taken for frames.
    let beats = find(&results, "heart-beats");
    assert_result(
        beats,
        Verdict::StepFailed,
        "stomp",
        &["no matching message"],
    );
    assert_eq!(
        beats.close_code,
        None,
        "the broker kept the session: {}",
        server.log()
    );
    assert!(
        beats.messages.iter().any(|m| m == "\n"),
        "{:?}",
        beats.messages
    );

    let refused = find(&results, "refused");
    assert_result(
        refused,
        Verdict::ReadyMismatch,
        "stomp",
        &[
            "ERROR frame",
            "Access refused for user 'probe'",
            "auth layer",
        ],
    );
    let vhost = find(&results, "wrong-vhost");
    assert_result(
        vhost,
        Verdict::ReadyMismatch,
        "stomp",
        &["ERROR frame", "Virtual host '127.0.0.1' access denied"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_3_1_1_and_5_against_mosquitto() {
    let Some(server) = servers::mosquitto("probe", GOOD).await else {
        return;
    };
    let yaml = r#"environments:
  - name: good
    url: ${SERVER}/
    protocol: mqtt
    protocol_options: { username: probe, password: "${GOOD}", topic: probe/# }
  - name: good-5
    url: ${SERVER}/
    protocol: mqtt
    protocol_options: { version: 5, username: probe, password: "${GOOD}", topic: probe/# }
  - name: refused
    url: ${SERVER}/
    protocol: mqtt
    protocol_options: { username: probe, password: "${BAD}" }
  - name: refused-5
    url: ${SERVER}/
    protocol: mqtt
    protocol_options: { version: "5", username: probe, password: "${BAD}" }
"#;
    let results = probe_all(&load(yaml, &server)).await;
    for name in ["good", "good-5"] {
        let good = find(&results, name);
        assert_result(good, Verdict::Ok, "mqtt", &[]);
        assert_eq!(good.subprotocol.as_deref(), Some("mqtt"));
        assert!(
            good.messages[0].starts_with("<binary message, "),
            "{:?}",
            good.messages
        );
    }
    assert_eq!(
        find(&results, "good").messages[1],
        "<binary message, 2 bytes: d0 00>"
    );
    let refused = find(&results, "refused");
    assert_result(
        refused,
        Verdict::ReadyMismatch,
        "mqtt",
        &["CONNACK return code 5", "not authorized", "auth layer"],
    );
    assert_eq!(
        refused.messages[0],
        "<binary message, 4 bytes: 20 02 00 05>"
    );
    let refused_5 = find(&results, "refused-5");
    assert_result(
        refused_5,
        Verdict::ReadyMismatch,
        "mqtt",
        &["0x87", "Not authorized", "MQTT 5.0", "auth layer"],
    );
}
