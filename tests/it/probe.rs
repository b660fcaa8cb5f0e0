//! The whole probe over real sockets: every lab endpoint named correctly, plus the failures the
//! lab cannot stage from inside one listener (refused port, unresolvable name, TLS).

use std::time::Duration;

use wsprobe::probe::{ProbeResult, Prober, Status, Verdict};

use crate::helpers::tls::{TlsFront, tls_front, tls_front_with};
use crate::helpers::{config, spawn_lab, spawn_lab_with};

async fn probe_bundled(lab: &wsprobe::lab::Lab, name: &str) -> ProbeResult {
    let config = wsprobe::demo::bundled_config(lab.addr()).expect("bundled config loads");
    let env = config
        .environment(name)
        .expect("environment in probes.yaml");
    Prober::for_config(&config).probe(env).await
}

/// What one lab endpoint must produce, field by field.
struct Expect {
    env: &'static str,
    verdict: Verdict,
    close: Option<(u16, &'static str)>,
    http_status: Option<u16>,
    missing: &'static [&'static str],
    /// Words the diagnosis must contain.
    diagnosis: &'static [&'static str],
}

#[tokio::test]
async fn every_lab_endpoint_gets_its_verdict_and_evidence() {
    let lab = spawn_lab_with(wsprobe::lab::LabOptions {
        startup_duration: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let table = [
        Expect {
            env: "healthy",
            verdict: Verdict::Ok,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["All steps passed", "jwt-auth", "lab-rev-1"],
        },
        Expect {
            env: "internal-error",
            verdict: Verdict::ClosedBeforeReady,
            close: Some((1011, "Internal error")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &[
                "1011 \"Internal error\"",
                "after accept",
                "health check answered 200",
                "inside the backend's WebSocket path",
            ],
        },
        Expect {
            env: "clean-close",
            verdict: Verdict::ClosedBeforeReady,
            close: Some((1000, "main cleanup")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &["1000 \"main cleanup\"", "chose to end the session"],
        },
        Expect {
            env: "strip-auth",
            verdict: Verdict::HeadersStripped,
            close: Some((1011, "Internal error")),
            http_status: Some(101),
            missing: &["authorization", "sec-websocket-protocol"],
            diagnosis: &[
                "authorization and sec-websocket-protocol",
                "proxy or load balancer",
                "1011",
            ],
        },
        Expect {
            env: "strip-trace",
            verdict: Verdict::HeadersStripped,
            close: None,
            http_status: Some(101),
            missing: &["traceparent"],
            diagnosis: &[
                "traceparent as missing",
                "proxy or load balancer",
                "instead of joining the probe's",
            ],
        },
        Expect {
            env: "no-welcome",
            verdict: Verdict::ReadyTimeout,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["never sent its welcome", "no message at all"],
        },
        Expect {
            env: "reject-401",
            verdict: Verdict::UpgradeRejected,
            close: None,
            http_status: Some(401),
            missing: &[],
            diagnosis: &[
                "HTTP 401 instead of 101",
                "Not authenticated",
                "authentication",
            ],
        },
        Expect {
            env: "no-subprotocol",
            verdict: Verdict::SubprotocolMismatch,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["selected no subprotocol", "\"jwt-auth\" was expected"],
        },
        Expect {
            env: "slow-welcome",
            verdict: Verdict::Slow,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["degraded_after of 2000 ms", "welcome"],
        },
        Expect {
            env: "startup",
            verdict: Verdict::ClosedBeforeReady,
            close: Some((1011, "Service startup incomplete")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &["startup is incomplete"],
        },
        Expect {
            env: "error-message",
            verdict: Verdict::ReadyMismatch,
            close: Some((1008, "Policy Violation")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &["unsupported protocol version", "1008"],
        },
        Expect {
            env: "token-endpoint",
            verdict: Verdict::Ok,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["All steps passed"],
        },
        Expect {
            env: "bad-token",
            verdict: Verdict::TokenFailed,
            close: None,
            http_status: Some(401),
            missing: &[],
            diagnosis: &[
                "HTTP 401",
                "answered HTTP 401 (\"Invalid E2E bypass key\")",
                "no WebSocket was attempted",
            ],
        },
        Expect {
            env: "hang-upgrade",
            verdict: Verdict::UpgradeTimeout,
            close: None,
            http_status: None,
            missing: &[],
            diagnosis: &["no answer to the upgrade request"],
        },
        Expect {
            env: "garbage",
            verdict: Verdict::ProtocolError,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["broke the WebSocket protocol"],
        },
        Expect {
            env: "huge",
            verdict: Verdict::ProtocolError,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["size limit"],
        },
        Expect {
            env: "bad-accept",
            verdict: Verdict::ProtocolError,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["Sec-WebSocket-Accept", "does not match the key"],
        },
        Expect {
            env: "html-close",
            verdict: Verdict::ClosedBeforeReady,
            close: Some((1011, "<script>alert(1)</script>")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &["1011"],
        },
        Expect {
            env: "token-expired",
            verdict: Verdict::ClosedBeforeReady,
            close: Some((4401, "token expired")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &[
                "4401 \"token expired\"",
                "application itself refused",
                "clock skew",
            ],
        },
        Expect {
            env: "binary-welcome",
            verdict: Verdict::ClosedBeforeReady,
            close: Some((1000, "")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &[
                "binary frame of 6 bytes",
                "expects text",
                "closed with 1000",
            ],
        },
        Expect {
            env: "no-pong",
            verdict: Verdict::StepFailed,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &[
                "steps[2] (expect",
                "still answered the close handshake",
                "application handler",
            ],
        },
        Expect {
            env: "frozen",
            verdict: Verdict::StepFailed,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &[
                "steps[2] (expect",
                "close handshake went unanswered",
                "altogether",
            ],
        },
        Expect {
            env: "other-event",
            verdict: Verdict::ClosedBeforeReady,
            close: Some((1000, "")),
            http_status: Some(101),
            missing: &[],
            diagnosis: &["with type \"hello\"", "another event", "\"protocol\":2"],
        },
        Expect {
            env: "query-token",
            verdict: Verdict::Ok,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["All steps passed"],
        },
        Expect {
            env: "origin",
            verdict: Verdict::Ok,
            close: None,
            http_status: Some(101),
            missing: &[],
            diagnosis: &["All steps passed"],
        },
    ];
    let config = wsprobe::demo::bundled_config(lab.addr()).unwrap();
    let prober = Prober::for_config(&config);
    let probes = table
        .iter()
        .map(|row| prober.probe(config.environment(row.env).unwrap()));
    let results = futures_util::future::join_all(probes).await;
    for (row, result) in table.iter().zip(&results) {
        let env = row.env;
        assert_eq!(result.verdict, row.verdict, "{env}: {}", result.diagnosis);
        assert_eq!(result.status, row.verdict.status(), "{env}");
        assert_eq!(
            result.close_code.zip(result.close_reason.as_deref()),
            row.close,
            "{env}: close"
        );
        assert_eq!(result.http_status, row.http_status, "{env}: http status");
        assert_eq!(
            result.headers.missing, row.missing,
            "{env}: missing headers"
        );
        // A refused token means no connection was attempted at all.
        let attempts = if row.verdict == Verdict::TokenFailed {
            0
        } else {
            1
        };
        assert_eq!(result.attempts, attempts, "{env}: attempts");
        // A frame wsprobe refused is closed by wsprobe, and said to be: the server sent no close.
        let own_close = match env {
            "garbage" => Some(1002),
            "huge" => Some(1009),
            _ => None,
        };
        if own_close.is_some() {
            assert_eq!(
                result.client_close_code, own_close,
                "{env}: wsprobe's close"
            );
            assert_eq!(result.close_code, None, "{env}: the server sent no close");
            assert!(
                result
                    .diagnosis
                    .contains("wsprobe, not the server, closed with"),
                "{env}: {}",
                result.diagnosis
            );
        }
        for words in row.diagnosis {
            // Exactly once: a sentence that says a clause twice reads as two findings.
            assert_eq!(
                result.diagnosis.matches(words).count(),
                1,
                "{env}: diagnosis {:?} should say {words:?} once",
                result.diagnosis
            );
        }
    }
}

#[tokio::test]
async fn healthy_probe_records_every_phase_headers_and_echo_redacted() {
    let lab = spawn_lab().await;
    let result = probe_bundled(&lab, "healthy").await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
    assert_eq!(result.subprotocol.as_deref(), Some("jwt-auth"));
    assert_eq!(result.version.as_deref(), Some("lab-rev-1"));
    assert_eq!(
        result.health.as_ref().map(|h| (h.http_status, h.ok)),
        Some((Some(200), true))
    );
    let p = &result.phases_ms;
    for (name, value) in [
        ("token", p.token),
        ("health", p.health),
        ("connect", p.connect),
        ("upgrade", p.upgrade),
        ("ready", p.ready),
        ("exchange", p.exchange),
        ("close", p.close),
        ("total", p.total),
    ] {
        assert!(
            value.is_some_and(|v| v >= 0.0),
            "phase {name} missing: {p:?}"
        );
    }
    assert_eq!(p.dns, None, "an IP literal has no DNS phase");
    assert_eq!(p.tls, None, "ws:// has no TLS phase");

    // Scheme and a 4-character prefix (a JWT always starts "eyJ"), never the token.
    let sent_auth = &result.headers.sent["authorization"];
    assert!(
        sent_auth.starts_with("Bearer eyJ")
            && sent_auth.ends_with("…[redacted]")
            && sent_auth.len() < 30,
        "{sent_auth}"
    );
    let echoed_auth = &result.headers.echoed["authorization"];
    assert_eq!(echoed_auth, sent_auth, "the backend saw the same header");
    assert_eq!(
        result.headers.sent["sec-websocket-protocol"],
        "jwt-auth, jwt.ZXlK…[redacted]"
    );
    assert_eq!(result.headers.response["x-revision"], "lab-rev-1");
    assert_eq!(
        result.messages.len(),
        2,
        "welcome and pong: {:?}",
        result.messages
    );
    let everything = serde_json::to_string(&result).unwrap();
    assert!(
        !everything.contains("lab-jwt-secret"),
        "the JWT secret leaked"
    );
    let token_body = everything.contains("eyJ0eXAi") || everything.contains("eyJhbGci");
    assert!(!token_body, "a whole token leaked: {everything}");
}

#[tokio::test]
async fn flaky_alternates_between_ok_and_1011() {
    let lab = spawn_lab().await;
    let first = probe_bundled(&lab, "flaky").await;
    let second = probe_bundled(&lab, "flaky").await;
    assert_eq!(first.verdict, Verdict::Ok, "{}", first.diagnosis);
    assert_eq!(
        second.verdict,
        Verdict::ClosedBeforeReady,
        "{}",
        second.diagnosis
    );
    assert_eq!(second.close_code, Some(1011));
}

#[tokio::test]
async fn startup_recovers_once_the_backend_is_ready() {
    let lab = spawn_lab().await;
    let result = probe_bundled(&lab, "startup").await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
}

#[tokio::test]
async fn refused_port_is_retried_and_counted() {
    let lab = spawn_lab().await;
    // A port that was just free: bind, read it, release it.
    let port = crate::helpers::free_port().port();
    let yaml = format!(
        "environments:\n  - name: refused\n    url: ws://127.0.0.1:{port}/ws\n    retries: 2\n"
    );
    let config = config(&yaml, &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(
        result.verdict,
        Verdict::ConnectRefused,
        "{}",
        result.diagnosis
    );
    assert_eq!(result.attempts, 3);
    assert!(
        result.diagnosis.contains("refused after 3 attempts"),
        "{}",
        result.diagnosis
    );
    assert!(result.error.as_deref().unwrap().contains(&port.to_string()));
}

#[tokio::test]
async fn unresolvable_name_is_dns_failed() {
    let lab = spawn_lab().await;
    let yaml = "environments:\n  - name: nowhere\n    url: wss://wsprobe-test.invalid/ws\n";
    let config = config(yaml, &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::DnsFailed, "{}", result.diagnosis);
    assert_eq!(result.status, Status::Down);
    assert!(
        result.diagnosis.contains("did not resolve"),
        "{}",
        result.diagnosis
    );
    assert_eq!(result.phases_ms.connect, None);
}

#[tokio::test]
async fn a_server_never_answering_upgrade_times_out_within_the_budget() {
    let lab = spawn_lab().await;
    let yaml =
        "environments:\n  - name: hang\n    url: ws://${LAB}/ws/hang-upgrade\n    timeout: 1s\n";
    let config = config(yaml, &lab, &[]);
    let started = std::time::Instant::now();
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::UpgradeTimeout);
    // Generous: the point is that it ends near its budget, not on the lab's terms.
    assert!(started.elapsed() < Duration::from_secs(8));
}

/// The front's CA written to a file, as `tls.ca_file` takes it; the directory lives as long
/// as the first half.
fn ca_file(front: &TlsFront) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &front.ca_pem).unwrap();
    (dir, ca_path)
}

fn tls_yaml(front: &TlsFront, ca_file: Option<&std::path::Path>) -> String {
    let tls = ca_file
        .map(|p| format!("    tls: {{ ca_file: {} }}\n", p.display()))
        .unwrap_or_default();
    format!(
        "environments:\n  - name: secure\n    url: wss://localhost:{}/ws/healthy\n{tls}    steps:\n      - expect: {{ within: 5s, json: {{ /type: system_message }} }}\n",
        front.addr.port()
    )
}

#[tokio::test]
async fn tls_with_a_private_ca_passes_with_ca_file_and_fails_without() {
    let lab = spawn_lab().await;
    let front = tls_front(lab.addr(), time::Duration::days(90)).await;
    let (_dir, ca_path) = ca_file(&front);

    let trusted = config(&tls_yaml(&front, Some(&ca_path)), &lab, &[]);
    let result = Prober::for_config(&trusted)
        .probe(&trusted.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
    let tls = result.tls.expect("tls info for wss");
    assert_eq!(tls.version, "TLSv1.3");
    assert!(tls.cert_subject.unwrap().contains("localhost"));
    assert!(tls.cert_issuer.unwrap().contains("wsprobe test CA"));
    assert!(result.phases_ms.tls.is_some() && result.phases_ms.dns.is_some());

    let untrusted = config(&tls_yaml(&front, None), &lab, &[]);
    let result = Prober::for_config(&untrusted)
        .probe(&untrusted.environments[0])
        .await;
    assert_eq!(result.verdict, Verdict::TlsFailed, "{}", result.diagnosis);
    assert!(
        result.error.unwrap().to_lowercase().contains("unknown"),
        "issuer not trusted"
    );
    assert!(result.diagnosis.contains("ca_file"), "{}", result.diagnosis);
}

#[tokio::test]
async fn a_certificate_expiring_soon_degrades_a_passing_probe() {
    let lab = spawn_lab().await;
    let front = tls_front(lab.addr(), time::Duration::days(5)).await;
    let (_dir, ca_path) = ca_file(&front);
    let config = config(&tls_yaml(&front, Some(&ca_path)), &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    assert_eq!(
        result.verdict,
        Verdict::CertExpiring,
        "{}",
        result.diagnosis
    );
    assert_eq!(result.status, Status::Degraded);
    assert!(
        result.diagnosis.contains("expires in 4.") || result.diagnosis.contains("expires in 5."),
        "{}",
        result.diagnosis
    );
}

#[tokio::test]
async fn huge_message_is_refused_without_reading_it() {
    let lab = spawn_lab().await;
    let result = probe_bundled(&lab, "huge").await;
    assert_eq!(result.verdict, Verdict::ProtocolError);
    assert!(result.error.unwrap().contains("1048576"), "names the limit");
}

#[tokio::test]
async fn a_health_answer_with_the_right_status_but_the_wrong_body_is_health_failed() {
    let lab = spawn_lab().await;
    let env = |name: &str, expect: &str| {
        format!(
            "  - name: {name}\n    url: ws://${{LAB}}/ws/healthy\n    health: {{ url: \"http://${{LAB}}/health\", expect_body: {expect} }}\n    steps: [ {{ expect: {{ json: {{ /type: system_message }} }} }} ]\n"
        )
    };
    let yaml = format!(
        "environments:\n{}{}{}",
        env("json-ok", "{ json: { /status: healthy } }"),
        env("contains-ok", "{ contains: healthy }"),
        env("json-wrong", "{ json: { /status: degraded } }"),
    );
    let config = config(&yaml, &lab, &[]);
    let prober = Prober::for_config(&config);
    for name in ["json-ok", "contains-ok"] {
        let result = prober.probe(config.environment(name).unwrap()).await;
        assert_eq!(result.verdict, Verdict::Ok, "{name}: {}", result.diagnosis);
        assert!(result.health.unwrap().ok);
    }
    let wrong = prober
        .probe(config.environment("json-wrong").unwrap())
        .await;
    assert_eq!(wrong.verdict, Verdict::HealthFailed, "{}", wrong.diagnosis);
    let health = wrong.health.as_ref().unwrap();
    assert_eq!(health.http_status, Some(200));
    assert!(!health.ok);
    for words in [
        "answered HTTP 200 and body does not match expect_body {\"/status\":\"degraded\"}",
        "got \"{\"status\":\"healthy\"}\"",
        "reports itself unwell",
    ] {
        assert!(
            wrong.diagnosis.contains(words),
            "{:?} lacks {words:?}",
            wrong.diagnosis
        );
    }
}

/// Environments probing the lab's `/ws/{kind}/{n}` for each number, all expecting a welcome.
/// Probes the lab's `/ws/{kind}/{n}` for each number, each expecting a welcome; each number
/// with its result, in order.
async fn probe_numbered(
    lab: &wsprobe::lab::Lab,
    kind: &str,
    numbers: &[(u16, &str)],
) -> Vec<(u16, ProbeResult)> {
    let mut yaml = "environments:\n".to_owned();
    for (n, query) in numbers {
        yaml.push_str(&format!(
            "  - name: {kind}-{n}\n    url: \"ws://${{LAB}}/ws/{kind}/{n}{query}\"\n    timeout: 5s\n    steps: [ {{ expect: {{ within: 2s, json: {{ /type: system_message }} }} }} ]\n"
        ));
    }
    let config = config(&yaml, lab, &[]);
    let prober = Prober::for_config(&config);
    let mut results = Vec::new();
    for (env, (n, _)) in config.environments.iter().zip(numbers) {
        results.push((*n, prober.probe(env).await));
    }
    results
}

#[tokio::test]
async fn every_close_code_of_the_registry_is_the_servers_and_named_for_its_layer() {
    let lab = spawn_lab().await;
    // Every code of the IANA registry a server may send, and one from each range.
    let registry = wsprobe::probe::diagnosis::registry::close_codes::CLOSE_CODES;
    let valid = wsprobe::probe::diagnosis::registry::close_codes::valid_on_wire;
    let mut registered: Vec<u16> = registry
        .iter()
        .map(|entry| entry.code)
        .filter(|code| valid(*code))
        .collect();
    registered.extend([3000, 3999, 4000, 4401, 4999]);
    let mut forbidden: Vec<u16> = registry
        .iter()
        .map(|entry| entry.code)
        .filter(|code| !valid(*code))
        .collect();
    forbidden.extend([999, 2999, 5000]);
    let mut numbers: Vec<(u16, &str)> = registered
        .iter()
        .chain(&forbidden)
        .map(|c| (*c, ""))
        .collect();
    numbers.push((4403, "?reason=&say"));
    let results = probe_numbered(&lab, "close", &numbers).await;
    for (code, result) in &results {
        let code = *code;
        let sentence = &result.diagnosis;
        // `close_code` is only ever what the server sent.
        assert_eq!(result.close_code, Some(code), "{sentence}");
        assert!(sentence.contains(" layer, "), "{code}: {sentence}");
        if forbidden.contains(&code) {
            assert_eq!(result.verdict, Verdict::ProtocolError, "{code}: {sentence}");
            assert_eq!(result.client_close_code, Some(1002), "{code}");
            assert!(
                sentence.contains("wsprobe, not the server"),
                "{code}: {sentence}"
            );
        } else {
            assert_eq!(
                result.verdict,
                Verdict::ClosedBeforeReady,
                "{code}: {sentence}"
            );
            // tungstenite answers 1014 with its own 1002: wsprobe's, never the server's.
            let ours = (code == 1014).then_some(1002);
            assert_eq!(result.client_close_code, ours, "{code}: {sentence}");
        }
        if code == 4403 {
            assert!(
                sentence.contains("the room is closed for maintenance"),
                "the message is the reason: {sentence}"
            );
        } else if !forbidden.contains(&code) {
            assert_eq!(
                result.close_reason.as_deref(),
                Some(format!("lab close {code}").as_str())
            );
        }
    }
    let json = serde_json::to_string(&results[7].1).unwrap();
    assert!(
        json.find("\"trace_id\"").unwrap() < json.find("\"client_close_code\"").unwrap(),
        "wsprobe's own close comes last in the JSON: {json}"
    );
}

#[tokio::test]
async fn every_status_of_the_registry_is_read_with_its_headers_and_decoded_body() {
    let lab = spawn_lab().await;
    // Every registered status a server can answer an upgrade with, a body and all: 1xx are
    // not final answers, 101 is the upgrade itself, and 204/205/304 carry no body.
    let statuses: Vec<u16> = wsprobe::probe::diagnosis::registry::http_status::HTTP_STATUSES
        .iter()
        .map(|entry| entry.code)
        .filter(|code| *code >= 200 && ![204, 205, 304].contains(code))
        .collect();
    let numbers: Vec<(u16, &str)> = statuses.iter().map(|s| (*s, "")).collect();
    let mut sentences = std::collections::HashSet::new();
    for (status, result) in probe_numbered(&lab, "status", &numbers).await {
        let sentence = result.diagnosis.clone();
        assert_eq!(
            result.verdict,
            Verdict::UpgradeRejected,
            "{status}: {sentence}"
        );
        assert_eq!(result.http_status, Some(status));
        // The chunked body is quoted without its chunk sizes.
        assert_eq!(
            result.body_excerpt.as_deref(),
            Some(format!("{{\"detail\":\"lab status {status}\"}}").as_str()),
            "{status}"
        );
        assert!(sentence.contains(" layer, "), "{status}: {sentence}");
        match status {
            401 | 403 => assert!(
                sentence.contains("invalid_token") && sentence.contains("The access token expired"),
                "{sentence}"
            ),
            407 => assert!(
                sentence.contains("Proxy-Authenticate")
                    && sentence.contains("proxy or gateway acted"),
                "{sentence}"
            ),
            429 | 503 => assert!(sentence.contains("Retry-After says 30"), "{sentence}"),
            301 => assert!(
                sentence.contains("wss://elsewhere.example/ws"),
                "{sentence}"
            ),
            _ => {}
        }
        assert!(
            sentences.insert(sentence.replace(&status.to_string(), "")),
            "{status} repeats a sentence: {sentence}"
        );
    }
}

#[tokio::test]
async fn a_front_wanting_a_client_certificate_is_a_tls_failure_naming_the_alert() {
    let lab = spawn_lab().await;
    let front = tls_front_with(lab.addr(), time::Duration::days(90), true).await;
    let (_dir, ca_path) = ca_file(&front);
    let config = config(&tls_yaml(&front, Some(&ca_path)), &lab, &[]);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    let sentence = &result.diagnosis;
    assert_eq!(result.verdict, Verdict::TlsFailed, "{sentence}");
    assert!(
        sentence.contains("certificate_required") && sentence.contains("client certificate"),
        "{sentence}"
    );
    assert!(
        sentence.contains("auth layer, the server acted"),
        "{sentence}"
    );
}

/// A minted or fetched token that no header or subprotocol carries is sent as
/// `Authorization: Bearer <token>`, the way the README's shortest example writes it; one that a
/// header carries goes only there. The lab's backend says what it received.
#[tokio::test]
async fn a_token_no_header_carries_is_sent_as_a_bearer_authorization() {
    let lab = spawn_lab().await;
    let yaml = r#"
environments:
  - name: bare
    url: ws://${LAB}/ws/healthy
    auth: { kind: bearer, token: "${API_TOKEN}" }
    steps: [ { expect: { within: 5s, json: { /type: system_message } } } ]
    echo: { pointer: /data/headers_received, require: [authorization] }
  - name: own-header
    url: ws://${LAB}/ws/healthy
    auth: { kind: bearer, token: "${API_TOKEN}" }
    headers: { X-Api-Key: "{token}" }
    steps: [ { expect: { within: 5s, json: { /type: system_message } } } ]
    echo: { pointer: /data/headers_received }
"#;
    let config = config(yaml, &lab, &[("API_TOKEN", "tok-0123456789abcdef")]);
    let bare = config.environment("bare").unwrap();
    assert!(
        bare.headers
            .iter()
            .any(|(name, value)| name == "Authorization" && value == "Bearer {token}"),
        "{:?}",
        bare.headers
    );
    let described = wsprobe::config::describe(&config);
    assert!(
        described.contains("auth          bearer, sent as Authorization: Bearer {token}\n"),
        "validate shows where the token goes: {described}"
    );

    let prober = Prober::for_config(&config);
    let result = prober.probe(bare).await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
    assert_eq!(
        result
            .headers
            .echoed
            .get("authorization")
            .map(String::as_str),
        Some("Bearer tok-…[redacted]"),
        "the backend received the bearer token: {:?}",
        result.headers.echoed
    );

    let own = prober
        .probe(config.environment("own-header").unwrap())
        .await;
    assert_eq!(own.verdict, Verdict::Ok, "{}", own.diagnosis);
    assert!(
        !own.headers.sent.contains_key("authorization"),
        "a token a header carries is not sent twice: {:?}",
        own.headers.sent
    );
    assert!(own.headers.sent.contains_key("x-api-key"));
}
