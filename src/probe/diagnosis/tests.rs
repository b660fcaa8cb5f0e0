//! The sentences, one table row per pattern of evidence.
use super::*;
use crate::probe::result::{HealthInfo, Phases};

fn result(verdict: Verdict) -> ProbeResult {
    ProbeResult::builder("staging", verdict)
        .url("wss://api.example.com/ws")
        .attempts(1)
        .phases_ms(Phases {
            connect: Some(1.1),
            upgrade: Some(3.2),
            total: Some(70.3),
            ..Phases::default()
        })
        .build()
}

fn closed(code: u16, reason: &str, after: f64) -> ProbeResult {
    ProbeResult {
        close_code: Some(code),
        close_reason: Some(reason.into()),
        close_after_ms: Some(after),
        http_status: Some(101),
        ..result(Verdict::ClosedBeforeReady)
    }
}

fn expected() -> Expectations {
    Expectations {
        target: "api.example.com:443".into(),
        expect_subprotocol: Some("jwt-auth".into()),
        offered_subprotocols: vec!["jwt-auth".into()],
        degraded_after_ms: 2000.0,
        cert_warn_days: 14,
        token_url: Some("https://auth.example.com/token".into()),
        login_url: None,
        csrf_cookie: None,
        health_url: Some("https://api.example.com/health".into()),
        expect_health_status: Some(200),
        steps: vec![
            "expect welcome".into(),
            "send ping".into(),
            "expect pong".into(),
        ],
        retries: 2,
        timeout_ms: 15000.0,
        ..Expectations::default()
    }
}

#[test]
fn sentences_name_the_layer_with_the_numbers() {
    let healthy = Some(HealthInfo {
        http_status: Some(200),
        ok: true,
        error: None,
    });
    let cases: Vec<(&str, ProbeResult, &[&str])> = vec![
        (
            "1011 while health is green points inside the WebSocket path",
            ProbeResult {
                health: healthy.clone(),
                ..closed(1011, "Internal error", 63.0)
            },
            &[
                "1011 \"Internal error\" 63 ms after accept",
                "answered 200",
                "inside the backend's WebSocket path",
            ],
        ),
        (
            "1011 without a health check: an internal error, no claim about the service",
            closed(1011, "Internal error", 63.0),
            &["internal error while setting up the session"],
        ),
        (
            "clean 1000 before ready: the server chose to end it",
            closed(1000, "main cleanup", 2.0),
            &["1000 \"main cleanup\"", "chose to end the session"],
        ),
        (
            "startup reason is called out",
            closed(1011, "Service startup incomplete", 1.0),
            &["startup is incomplete"],
        ),
        (
            "a drop is 1006",
            closed(1006, "", 10.0),
            &["without a close frame (1006)", "crashed"],
        ),
        (
            "stripped headers name the proxy",
            ProbeResult {
                headers: crate::probe::result::Headers {
                    missing: vec!["authorization".into()],
                    ..Default::default()
                },
                verdict: Verdict::HeadersStripped,
                ..closed(1011, "Internal error", 5.0)
            },
            &[
                "authorization as missing",
                "proxy or load balancer",
                "then closed with 1011",
            ],
        ),
        (
            "a dropped traceparent says the traces part at the proxy",
            ProbeResult {
                headers: crate::probe::result::Headers {
                    missing: vec!["traceparent".into()],
                    ..Default::default()
                },
                verdict: Verdict::HeadersStripped,
                ..result(Verdict::HeadersStripped)
            },
            &[
                "traceparent as missing",
                "strips it on the upgrade request",
                "instead of joining the probe's",
            ],
        ),
        (
            "token refused with status and body",
            ProbeResult {
                http_status: Some(401),
                body_excerpt: Some("{\"detail\":\"Invalid E2E bypass key\"}".into()),
                ..result(Verdict::TokenFailed)
            },
            &[
                "https://auth.example.com/token answered HTTP 401 (\"Invalid E2E bypass key\")",
                "were refused",
            ],
        ),
        (
            "502 at upgrade blames the load balancer",
            ProbeResult {
                http_status: Some(502),
                ..result(Verdict::UpgradeRejected)
            },
            &[
                "HTTP 502 instead of 101",
                "load balancer could not reach a healthy backend",
            ],
        ),
        (
            "refused after retries",
            ProbeResult {
                attempts: 3,
                ..result(Verdict::ConnectRefused)
            },
            &["api.example.com:443 was refused after 3 attempts"],
        ),
        (
            "upgrade timeout cites the configured timeout",
            result(Verdict::UpgradeTimeout),
            &["15 s timeout", "hung"],
        ),
        (
            "health failing while the socket works",
            ProbeResult {
                health: Some(HealthInfo {
                    http_status: Some(503),
                    ok: false,
                    error: None,
                }),
                phases_ms: Phases {
                    ready: Some(4.0),
                    ..Phases::default()
                },
                ..result(Verdict::HealthFailed)
            },
            &["https://api.example.com/health answered HTTP 503 instead of 200"],
        ),
        (
            "a later step names its index and description",
            ProbeResult {
                failed_step: Some(2),
                error: Some("no matching message within 2000 ms".into()),
                phases_ms: Phases {
                    ready: Some(4.0),
                    ..Phases::default()
                },
                ..result(Verdict::StepFailed)
            },
            &[
                "steps[2] (expect pong) got no answer in time",
                "no matching message within 2000 ms",
            ],
        ),
        (
            "oversized message points at max_message_bytes",
            ProbeResult {
                error: Some("the server sent a message over the size limit (x)".into()),
                ..result(Verdict::ProtocolError)
            },
            &["max_message_bytes"],
        ),
    ];
    for (name, result, words) in cases {
        let sentence = explain(&result, &expected(), &[]);
        for word in words {
            assert!(
                sentence.contains(word),
                "{name}: {sentence:?} lacks {word:?}"
            );
        }
        assert!(sentence.ends_with('.'), "{name}: one sentence: {sentence}");
    }
}

/// The rules read properties of the evidence, so each row is a pattern, not one server.
#[test]
fn rules_read_bodies_headers_reasons_and_errors() {
    let headers = |pairs: &[(&str, &str)]| crate::probe::result::Headers {
        response: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let rejected = |status: u16, pairs: &[(&str, &str)], body: &str| ProbeResult {
        http_status: Some(status),
        headers: headers(pairs),
        body_excerpt: Some(body.into()),
        ..result(Verdict::UpgradeRejected)
    };
    let failed = |verdict: Verdict, error: &str| ProbeResult {
        error: Some(error.into()),
        ..result(verdict)
    };
    let nginx_large = "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>";
    let mut expired_cert = failed(Verdict::TlsFailed, "invalid peer certificate: Expired");
    expired_cert.tls = Some(crate::probe::result::TlsInfo {
        version: "TLSv1.3".into(),
        cert_subject: None,
        cert_issuer: None,
        cert_not_after: Some(expired_cert.started_at - chrono::Duration::days(5)),
    });
    let mut mid_session = ProbeResult {
        close_code: Some(1006),
        close_after_ms: Some(61_000.0),
        failed_step: Some(2),
        phases_ms: Phases {
            ready: Some(4.0),
            ..Phases::default()
        },
        ..result(Verdict::StepFailed)
    };
    mid_session.http_status = Some(101);
    let cases: Vec<(&str, ProbeResult, &[&str], &[&str])> = vec![
        (
            "a proxy's header-size page names the proxy and the buffer",
            rejected(400, &[("server", "nginx")], nginx_large),
            &["nginx answered", "HTTP 400", "Request Header Or Cookie Too Large", "large_client_header_buffers"],
            &["<", "\n"],
        ),
        (
            "a proxy's bare 400 is the proxy refusing, not the backend",
            rejected(400, &[], "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>"),
            &["\"400 Bad request — Your browser sent an invalid request.\"", "malformed"],
            &["<h1>"],
        ),
        (
            "a redirect names where to go",
            rejected(301, &[("Location", "https://api.example.com/ws")], "<html><head><title>301 Moved Permanently</title></head></html>"),
            &["redirects (Moved Permanently) to https://api.example.com/ws", "use the wss:// URL"],
            &["<"],
        ),
        (
            "a 200 page on the WebSocket path serves a page",
            rejected(200, &[("server", "Caddy")], "<!doctype html><html><head><title>Acme Dashboard</title></head><body><div id=app></div></body></html>"),
            &["Caddy answered", "\"Acme Dashboard\"", "serves an HTTP page, not a WebSocket"],
            &["<div"],
        ),
        (
            "a token endpoint's 500 page is the identity service",
            ProbeResult {
                http_status: Some(500),
                body_excerpt: Some("<html><head><title>500 Internal Server Error</title></head><body><p>upstream identity provider failed</p></body></html>".into()),
                ..result(Verdict::TokenFailed)
            },
            &["HTTP 500 (\"500 Internal Server Error — upstream identity provider failed\")", "identity service itself is failing"],
            &["<p>"],
        ),
        (
            "an application close code carries its own message",
            closed(4401, "token expired", 12.0),
            &["4401 \"token expired\"", "application itself refused", "clock skew"],
            &["backend's WebSocket path"],
        ),
        (
            "4000-4999 without auth words is the application's decision",
            closed(4003, "room is full", 12.0),
            &["application itself chose to close", "4003 \"room is full\""],
            &[],
        ),
        (
            "1011 whose reason speaks of a JWT points at auth",
            ProbeResult {
                health: Some(HealthInfo { http_status: Some(200), ok: true, error: None }),
                ..closed(1011, "JWT signature invalid", 30.0)
            },
            &["points at authentication", "clock skew"],
            &["inside the backend's WebSocket path"],
        ),
        (
            "markup and line breaks in a close reason are summarised",
            closed(1011, "<html><title>Oops</title>\r\n<b>bad</b></html>", 5.0),
            &["1011 \"Oops — bad\""],
            &["<", "\r", "\\r"],
        ),
        (
            "a 1006 mid-session is an idle or read timeout",
            mid_session,
            &["during steps[2]", "1006", "idle or read timeout", "61 s after accept"],
            &[],
        ),
        (
            "an expired certificate says when, in days",
            expired_cert,
            &["expired 5 days ago", "renew"],
            &["tls.ca_file"],
        ),
        (
            "rustls's seconds become days",
            failed(Verdict::TlsFailed, "invalid peer certificate: certificate expired: verification time 1796000000 (UNIX), but certificate is not valid after 1795568000 (432000 seconds ago)"),
            &["expired 5 days ago"],
            &["432000", "seconds"],
        ),
        (
            "an unknown issuer points at the CA",
            failed(Verdict::TlsFailed, "invalid peer certificate: UnknownIssuer"),
            &["authority wsprobe does not trust", "tls.ca_file"],
            &[],
        ),
        (
            "a wrong host name is the certificate's names",
            failed(Verdict::TlsFailed, "invalid peer certificate: NotValidForName"),
            &["not valid for the host name"],
            &["tls.ca_file"],
        ),
        (
            "plain HTTP on a wss port",
            failed(Verdict::TlsFailed, "received corrupt message of type InvalidContentType"),
            &["does not speak TLS", "plain HTTP"],
            &["tls.ca_file"],
        ),
        (
            "a protocol version refused",
            failed(Verdict::TlsFailed, "received fatal alert: ProtocolVersion"),
            &["no TLS version or cipher suite"],
            &["tls.ca_file"],
        ),
        (
            "a resolver that does not answer is not a missing record",
            failed(Verdict::DnsFailed, "api.example.com did not resolve: failed to lookup address information: Temporary failure in name resolution"),
            &["resolver did not answer"],
            &["record is missing"],
        ),
        (
            "a missing record",
            failed(Verdict::DnsFailed, "api.example.com did not resolve: failed to lookup address information: Name or service not known"),
            &["record is missing"],
            &["resolver did not answer"],
        ),
        (
            "a binary frame where text was expected",
            ProbeResult {
                messages: vec!["<binary message, 12 bytes>".into()],
                ..result(Verdict::ReadyMismatch)
            },
            &["binary frame of 12 bytes"],
            &[],
        ),
        (
            "a welcome with another event name quotes what came",
            ProbeResult {
                messages: vec!["{\"type\":\"hello\",\"v\":2}".into()],
                ..result(Verdict::ReadyMismatch)
            },
            &["type \"hello\"", "another event"],
            &[],
        ),
    ];
    for (name, result, words, never) in cases {
        let sentence = explain(&result, &expected(), &[]);
        for word in words {
            assert!(
                sentence.contains(word),
                "{name}: {sentence:?} lacks {word:?}"
            );
        }
        for word in never {
            assert!(
                !sentence.contains(word),
                "{name}: {sentence:?} has {word:?}"
            );
        }
        assert!(
            !sentence.contains(['\n', '\r']),
            "{name}: one line: {sentence:?}"
        );
        assert!(sentence.ends_with('.'), "{name}: {sentence}");
    }
}

#[test]
fn a_new_build_just_before_a_failure_names_both_builds() {
    let previous = ProbeResult {
        version: Some("rev-4811".into()),
        ..result(Verdict::Ok)
    };
    let now = ProbeResult {
        version: Some("rev-4812".into()),
        ..closed(1011, "Internal error", 63.0)
    };
    let sentence = explain(&now, &expected(), std::slice::from_ref(&previous));
    assert!(
        sentence.contains("changed from rev-4811 to rev-4812"),
        "{sentence}"
    );
    let same = ProbeResult {
        version: Some("rev-4811".into()),
        ..closed(1011, "x", 1.0)
    };
    assert!(!explain(&same, &expected(), &[previous]).contains("changed"));
}
