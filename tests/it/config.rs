//! probes.yaml loading through the public API: the SPEC example end to end, defaults merging,
//! and the exact text (file:line:column included) of each kind of config error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wsprobe::config::{
    self, Auth, ChannelKind, Config, ConfigError, JwtAlgorithm, JwtKey, MaintenanceTime, Matcher,
    OtlpProtocol, PublicAt, RequestBody, Step, VersionSource,
};

/// The SPEC's probes.yaml example, verbatim.
const SPEC_EXAMPLE: &str = r#"location: us-central1            # optional label on every result and metric
defaults:                        # any environment key can be defaulted here
  schedule: "*/5 * * * *"        # standard 5-field cron, UTC; a 6-field form with leading seconds is accepted
  jitter: 0s                     # deterministic per-environment offset in [0, jitter)
  timeout: 15s                   # hard budget for one whole probe
  retries: 0                     # extra attempts for dns/connect/tls failures only
  degraded_after: 2s             # passed but slower than this => degraded
  cert_warn_days: 14             # wss: certificate expiring sooner => degraded
environments:
  - name: staging                # [a-z0-9-_], unique
    url: wss://api.staging.example.com/ws
    health:                      # optional HTTP pre-check, recorded beside the probe
      url: https://api.staging.example.com/health
      expect_status: 200
    auth:                        # kind: none | bearer | jwt | token_endpoint
      kind: jwt
      secret: ${STAGING_JWT_SECRET}
      algorithm: HS256           # HS256/384/512, RS256, ES256 (key: file path for RS/ES)
      claims: { sub: synthetic-monitor, email: probe@example.com }
      ttl: 10m
      # kind: bearer          -> token: ${TOKEN}
      # kind: token_endpoint  -> url, method (POST), headers, body (JSON), token_pointer (/access_token)
    headers:
      Authorization: "Bearer {token}"
      X-E2E-Test: "true"
    subprotocols: ["jwt-auth", "jwt.{token_base64url}"]
    expect_subprotocol: jwt-auth
    tls: { ca_file: ./staging-ca.pem, insecure_skip_verify: false }
    steps:                       # first `expect` is the ready (welcome) check
      - expect: { within: 5s, json: { /type: system_message, /data/event: connection_established } }
      - send: '{"type":"ping"}'
      - expect: { within: 2s, json: { /type: pong } }
    echo:                        # where the backend reports the headers it received
      pointer: /data/headers_received   # JSON pointer, searched in every received message
      require: [authorization, sec-websocket-protocol]
    version:                     # optional: which build answered (deploy correlation)
      header: x-revision         # from the 101 response, or `pointer:` into the welcome
    alert: { channels: [oncall, team-slack], failure_threshold: 2 }
alerts:
  defaults: { failure_threshold: 2, success_threshold: 1, repeat_every: 1h, send_resolved: true, alert_on_degraded: false }
  channels:
    - { name: team-slack, kind: slack, webhook_url: "${SLACK_WEBHOOK_URL}" }
    - { name: oncall, kind: pagerduty, routing_key: "${PAGERDUTY_ROUTING_KEY}", severity: critical }
      # events_url defaults to PagerDuty's Events API v2 enqueue address; set it for a proxy or a test receiver
    - { name: audit, kind: webhook, url: "https://hooks.example.com/wsprobe", secret: "${HOOK_SECRET}" }
    - { name: console, kind: log }
  maintenance:                   # notifications held back; probes still run, results marked
    - { environments: [staging], schedule: "0 2 * * 0", duration: 1h }   # cron start + duration
    - { from: "2026-12-01T22:00:00Z", until: "2026-12-01T23:00:00Z" }     # all environments
server: { listen: "127.0.0.1:8080", public_url: "http://localhost:8080", admin_token: "${WSPROBE_ADMIN_TOKEN}" }
storage: { path: wsprobe.db, retention: 30d }
telemetry: { otlp: { endpoint: "http://localhost:4318", protocol: http/protobuf, interval: 30s } }
"#;

/// The SPEC example's variables. `TOKEN`, which it names only in a comment, is left unset on
/// purpose: comments are not interpolated.
fn vars(name: &str) -> Option<String> {
    let value = match name {
        "STAGING_JWT_SECRET" => "jwt-secret-value",
        "SLACK_WEBHOOK_URL" => "https://hooks.slack.com/services/T0/B0/XYZ",
        "PAGERDUTY_ROUTING_KEY" => "pd-routing-key",
        "HOOK_SECRET" => "hook-secret",
        "WSPROBE_ADMIN_TOKEN" => "admin-token",
        "EMPTY" => "",
        _ => return None,
    };
    Some(value.to_owned())
}

fn write_ca(dir: &Path, name: &str) -> PathBuf {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, certified.cert.pem()).unwrap();
    path
}

fn load_in(dir: &Path, yaml: &str) -> Result<Config, ConfigError> {
    config::load_str(&dir.join("probes.yaml"), yaml, &vars)
}

/// Load `yaml` as `probes.yaml` in the current directory: for configs that name no files.
fn load(yaml: &str) -> Result<Config, ConfigError> {
    config::load_str(Path::new("probes.yaml"), yaml, &vars)
}

fn error_of(yaml: &str) -> String {
    match load(yaml) {
        Ok(_) => panic!("loaded, expected an error:\n{yaml}"),
        Err(err) => err.to_string(),
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn the_spec_example_loads_into_typed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), "staging-ca.pem");
    let config = load_in(dir.path(), SPEC_EXAMPLE).unwrap();

    assert_eq!(config.source, dir.path().join("probes.yaml"));
    assert_eq!(config.location.as_deref(), Some("us-central1"));
    assert_eq!(config.environments.len(), 1);

    let env = config.environment("staging").unwrap();
    assert_eq!(env.name.as_str(), "staging");
    assert_eq!(env.url.as_str(), "wss://api.staging.example.com/ws");
    assert_eq!(env.schedule.expression(), "*/5 * * * *");
    assert_eq!(env.jitter, Duration::ZERO);
    assert_eq!(env.timeout, secs(15));
    assert_eq!(env.retries, 0);
    assert_eq!(env.degraded_after, secs(2));
    assert_eq!(env.cert_warn_days, 14);

    let health = env.health.as_ref().unwrap();
    assert_eq!(
        health.url.as_str(),
        "https://api.staging.example.com/health"
    );
    assert_eq!(health.expect_status, 200);

    let Auth::Jwt {
        algorithm,
        key,
        claims,
        ttl,
    } = &env.auth
    else {
        panic!("expected jwt auth, got {:?}", env.auth);
    };
    assert_eq!(*algorithm, JwtAlgorithm::HS256);
    let JwtKey::Secret(secret) = key else {
        panic!("expected an HMAC secret, got {key:?}");
    };
    assert_eq!(secret.expose(), "jwt-secret-value");
    assert_eq!(
        serde_json::Value::Object(claims.clone()),
        serde_json::json!({"sub": "synthetic-monitor", "email": "probe@example.com"})
    );
    assert_eq!(*ttl, secs(600));

    assert_eq!(
        env.headers,
        vec![
            ("Authorization".to_owned(), "Bearer {token}".to_owned()),
            ("X-E2E-Test".to_owned(), "true".to_owned()),
        ]
    );
    assert_eq!(env.subprotocols, ["jwt-auth", "jwt.{token_base64url}"]);
    assert_eq!(env.expect_subprotocol.as_deref(), Some("jwt-auth"));
    assert_eq!(env.tls.ca_file.as_deref(), Some(ca.as_path()));
    assert!(!env.tls.insecure_skip_verify);

    assert_eq!(env.steps.len(), 3);
    let Step::Expect {
        within,
        matcher: Matcher::Json(pairs),
    } = &env.steps[0]
    else {
        panic!("expected a json expect, got {:?}", env.steps[0]);
    };
    assert_eq!(*within, secs(5));
    assert_eq!(
        pairs,
        &vec![
            ("/type".to_owned(), serde_json::json!("system_message")),
            (
                "/data/event".to_owned(),
                serde_json::json!("connection_established")
            ),
        ]
    );
    let Step::Send { text } = &env.steps[1] else {
        panic!("expected a send, got {:?}", env.steps[1]);
    };
    assert_eq!(text, r#"{"type":"ping"}"#);
    let Step::Expect {
        within,
        matcher: Matcher::Json(pairs),
    } = &env.steps[2]
    else {
        panic!("expected a json expect, got {:?}", env.steps[2]);
    };
    assert_eq!(*within, secs(2));
    assert_eq!(
        pairs,
        &vec![("/type".to_owned(), serde_json::json!("pong"))]
    );

    let echo = env.echo.as_ref().unwrap();
    assert_eq!(echo.pointer, "/data/headers_received");
    assert_eq!(echo.require, ["authorization", "sec-websocket-protocol"]);
    assert!(matches!(&env.version, Some(VersionSource::Header(h)) if h == "x-revision"));
    assert_eq!(
        env.alert.channels.as_deref(),
        Some(&["oncall".to_owned(), "team-slack".to_owned()][..])
    );
    assert_eq!(env.alert.failure_threshold, Some(2));
    assert_eq!(env.alert.success_threshold, None);
    assert_eq!(env.limits.max_message_bytes, 1024 * 1024);
    assert_eq!(env.limits.max_messages, 64);

    let defaults = &config.alerts.defaults;
    assert_eq!(defaults.failure_threshold, 2);
    assert_eq!(defaults.success_threshold, 1);
    assert_eq!(defaults.repeat_every, secs(3600));
    assert!(defaults.send_resolved);
    assert!(!defaults.alert_on_degraded);

    let channels = &config.alerts.channels;
    let names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["team-slack", "oncall", "audit", "console"]);
    let ChannelKind::Slack(slack) = &channels[0].kind else {
        panic!("{:?}", channels[0]);
    };
    assert_eq!(
        slack.webhook_url.expose(),
        "https://hooks.slack.com/services/T0/B0/XYZ"
    );
    let ChannelKind::PagerDuty(pagerduty) = &channels[1].kind else {
        panic!("{:?}", channels[1]);
    };
    assert_eq!(pagerduty.routing_key.expose(), "pd-routing-key");
    assert_eq!(pagerduty.severity, "critical");
    assert_eq!(pagerduty.events_url.as_str(), config::PAGERDUTY_EVENTS_URL);
    let ChannelKind::Webhook(webhook) = &channels[2].kind else {
        panic!("{:?}", channels[2]);
    };
    assert_eq!(webhook.url.as_str(), "https://hooks.example.com/wsprobe");
    assert_eq!(webhook.secret.as_ref().unwrap().expose(), "hook-secret");
    assert!(matches!(channels[3].kind, ChannelKind::Log(_)));

    let maintenance = &config.alerts.maintenance;
    assert_eq!(maintenance.len(), 2);
    assert_eq!(maintenance[0].environments, std::slice::from_ref(&env.name));
    let MaintenanceTime::Recurring { schedule, duration } = &maintenance[0].when else {
        panic!("{:?}", maintenance[0]);
    };
    assert_eq!(schedule.expression(), "0 2 * * 0");
    assert_eq!(*duration, secs(3600));
    assert!(maintenance[1].environments.is_empty());
    let MaintenanceTime::Fixed { from, until } = &maintenance[1].when else {
        panic!("{:?}", maintenance[1]);
    };
    assert_eq!(from.to_rfc3339(), "2026-12-01T22:00:00+00:00");
    assert_eq!(until.to_rfc3339(), "2026-12-01T23:00:00+00:00");

    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.server.public_url.as_ref().map(|u| u.as_str()),
        Some("http://localhost:8080/")
    );
    assert_eq!(
        config.server.admin_token.as_ref().map(|t| t.expose()),
        Some("admin-token")
    );
    assert_eq!(config.storage.path, dir.path().join("wsprobe.db"));
    assert_eq!(config.storage.retention, secs(30 * 24 * 3600));
    let otlp = config.telemetry.otlp.as_ref().unwrap();
    assert_eq!(otlp.endpoint.as_str(), "http://localhost:4318/");
    assert_eq!(otlp.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(otlp.interval, secs(30));
    assert!(otlp.headers.is_empty());

    let mut secrets = config.secret_values();
    secrets.sort();
    assert_eq!(
        secrets,
        [
            "admin-token",
            "hook-secret",
            "https://hooks.slack.com/services/T0/B0/XYZ",
            "jwt-secret-value",
            "pd-routing-key",
        ]
    );
}

const BASE: &str = "\
environments:
  - name: staging
    url: wss://staging.example.com/ws
";

/// One row per kind of mistake: the YAML after [`BASE`], and the whole message.
#[test]
fn errors_name_file_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        // Unknown keys, at the top level and nested (block and flow style).
        (
            "bogus: 1\n",
            "probes.yaml:4:1: bogus: unknown key `bogus` (expected one of: location, defaults, environments, alerts, server, storage, telemetry)",
        ),
        (
            "    tls:\n      insecure_skip_verfy: true\n",
            "probes.yaml:5:7: environments[0].tls.insecure_skip_verfy: unknown key `insecure_skip_verfy`: did you mean `insecure_skip_verify`?",
        ),
        (
            "    tls: { insecure_skip_verfy: true }\n",
            "probes.yaml:4:12: environments[0].tls.insecure_skip_verfy: unknown key `insecure_skip_verfy`: did you mean `insecure_skip_verify`?",
        ),
        (
            "    steps:\n      - sned: x\n",
            "probes.yaml:5:9: environments[0].steps[0].sned: unknown key `sned`: did you mean `send`?",
        ),
        // Types and durations.
        (
            "    retries: many\n",
            "probes.yaml:4:14: environments[0].retries: expected a whole number from 0 to 4294967295",
        ),
        (
            "    timeout: 5x\n",
            "probes.yaml:4:14: environments[0].timeout: \"5x\" has the unknown unit \"x\": units are ns, us, ms, s, m, h, d, w (or their long names)",
        ),
        (
            "    timeout: 0s\n",
            "probes.yaml:4:14: environments[0].timeout: must be greater than 0",
        ),
        (
            "    timeout: banana\n",
            "probes.yaml:4:14: environments[0].timeout: \"banana\" is not a duration: write a number and a unit, like 500ms, 15s, 2m, 1h or 30d",
        ),
        (
            "    schedul: \"*/5 * * * *\"\n",
            "probes.yaml:4:5: environments[0].schedul: unknown key `schedul`: did you mean `schedule`?",
        ),
        (
            "    schedule: \"*/70 * * * *\"\n",
            "probes.yaml:4:15: environments[0].schedule: cron schedule \"*/70 * * * *\": `*/70`: a step of 70 is larger than the minute field (0–59): it would fire only at minute 0, not every 70 minutes",
        ),
        (
            "    schedule: \"61 * * * *\"\n",
            "probes.yaml:4:15: environments[0].schedule: cron schedule \"61 * * * *\": minute 61 is out of range: the minute field takes 0–59",
        ),
        (
            "    schedule: \"*/5 * *\"\n",
            "probes.yaml:4:15: environments[0].schedule: invalid cron schedule \"*/5 * *\": expected 5 fields (minute hour day month weekday), or 6 with leading seconds",
        ),
        // Names and URLs.
        (
            "  - name: staging\n    url: wss://other.example.com/ws\n",
            "probes.yaml:4:11: environments[1].name: duplicate environment name \"staging\" (first used at line 2)",
        ),
        (
            "    name: again\n",
            "probes.yaml:4:5: environments[0].name: duplicate mapping key `name` is not allowed here",
        ),
        (
            "  - url: wss://other.example.com/ws\n",
            "probes.yaml:4:5: environments[1]: missing key `name`",
        ),
        (
            "  - name: Prod\n    url: wss://other.example.com/ws\n",
            "probes.yaml:4:11: environments[1].name: invalid environment name \"Prod\": use 1 to 64 characters of a-z, 0-9, '-' and '_'",
        ),
        (
            "  - name: prod\n    url: https://prod.example.com/ws?token=abc\n",
            "probes.yaml:5:10: environments[1].url: URL scheme must be ws or wss, not https",
        ),
        (
            "    health: { url: ws://staging.example.com/health }\n",
            "probes.yaml:4:20: environments[0].health.url: URL scheme must be http or https, not ws",
        ),
        // Interpolation.
        (
            "    auth: { kind: bearer, token: \"${PROBE_TOKEN}\" }\n",
            "probes.yaml:4:35: environment variable PROBE_TOKEN is not set and ${PROBE_TOKEN} has no default",
        ),
        (
            "    auth: { kind: bearer, token: \"${PROBE_TOKEN:-}\" }\n",
            "probes.yaml:4:34: environments[0].auth.token: is empty (if it comes from a ${VARIABLE}, that variable is set but empty)",
        ),
        // Auth.
        (
            "    auth: { kind: basic }\n",
            "probes.yaml:4:19: environments[0].auth.kind: unknown auth kind \"basic\": expected none, bearer, jwt, token_endpoint or session",
        ),
        (
            "    auth: { kind: bearer, token: t, secret: s }\n",
            "probes.yaml:4:45: environments[0].auth.secret: not used by auth kind bearer (it takes: token)",
        ),
        (
            "    auth: { kind: jwt, claims: { sub: x } }\n",
            "probes.yaml:4:11: environments[0].auth: missing key `secret`",
        ),
        (
            "    auth: { kind: jwt, algorithm: RS256, key: missing.pem }\n",
            "probes.yaml:4:47: environments[0].auth.key: cannot read missing.pem: No such file or directory (os error 2)",
        ),
        (
            "    auth: { kind: jwt, algorithm: PS256, secret: s }\n",
            "probes.yaml:4:35: environments[0].auth.algorithm: unknown algorithm \"PS256\": expected HS256, HS384, HS512, RS256 or ES256",
        ),
        // Subprotocols and templates.
        (
            "    subprotocols: [jwt-auth]\n    expect_subprotocol: jwt\n",
            "probes.yaml:5:25: environments[0].expect_subprotocol: \"jwt\" is not one of the offered subprotocols; offered (environments[0].subprotocols): jwt-auth",
        ),
        (
            "    expect_subprotocol: jwt\n",
            "probes.yaml:4:25: environments[0].expect_subprotocol: \"jwt\" is not one of the offered subprotocols; none are offered: add it to `subprotocols`",
        ),
        (
            "    auth: { kind: bearer, token: t }\n    headers: { Authorization: \"Bearer {tokn}\" }\n",
            "probes.yaml:5:31: environments[0].headers.Authorization: unknown template {tokn}: the templates are {token} and {token_base64url}",
        ),
        (
            "    auth: { kind: bearer, token: t }\n    subprotocols: [\"jwt.{token64}\"]\n",
            "probes.yaml:5:20: environments[0].subprotocols[0]: unknown template {token64}: the templates are {token} and {token_base64url}",
        ),
        (
            "    headers: { Authorization: \"Bearer {token}\" }\n",
            "probes.yaml:4:31: environments[0].headers.Authorization: uses {token} but auth is none: set `auth` or remove the template",
        ),
        (
            "    headers: { Sec-WebSocket-Protocol: jwt-auth }\n",
            "probes.yaml:4:16: environments[0].headers.Sec-WebSocket-Protocol: set by the WebSocket handshake itself: list them under `subprotocols`",
        ),
        // Steps.
        (
            "    timeout: 2s\n    steps:\n      - expect: { within: 5s }\n",
            "probes.yaml:6:27: environments[0].steps[0].expect.within: 5s is longer than the probe's timeout 2s",
        ),
        (
            "    steps:\n      - expect: {}\n        send: x\n",
            "probes.yaml:6:15: environments[0].steps[0]: a step is either `expect` or `send`, not both: make them two steps",
        ),
        (
            "    steps:\n      - expect: { json: { type: pong } }\n",
            "probes.yaml:5:27: environments[0].steps[0].expect.json.type: invalid JSON pointer \"type\": it starts with / (like /data/event)",
        ),
        // Alerts.
        (
            "    alert: { channels: [oncall] }\nalerts:\n  channels:\n    - { name: console, kind: log }\n",
            "probes.yaml:4:25: environments[0].alert.channels[0]: unknown channel \"oncall\" (alerts.channels defines: console)",
        ),
        (
            "alerts:\n  channels:\n    - { name: console, kind: log }\n    - { name: console, kind: log }\n",
            "probes.yaml:7:15: alerts.channels[1].name: duplicate channel name \"console\"",
        ),
        (
            "alerts:\n  channels:\n    - { name: hook, kind: webhook, webhook_url: \"https://x\" }\n",
            "probes.yaml:6:49: alerts.channels[0].webhook_url: not used by channel kind webhook (it takes: url, secret)",
        ),
        (
            "alerts:\n  maintenance:\n    - { environments: [prod], schedule: \"0 2 * * 0\", duration: 1h }\n",
            "probes.yaml:6:24: alerts.maintenance[0].environments[0]: unknown environment \"prod\" (environments: staging)",
        ),
        (
            "alerts:\n  maintenance:\n    - { schedule: \"0 2 * * 0\", until: \"2026-12-01T23:00:00Z\" }\n",
            "probes.yaml:6:7: alerts.maintenance[0]: a maintenance window is `schedule` + `duration` (recurring) or `from` + `until` (once), not a mix",
        ),
        // Elsewhere.
        (
            "server: { listen: \"localhost:8080\" }\n",
            "probes.yaml:4:19: server.listen: invalid address \"localhost:8080\": expected IP:port, like 127.0.0.1:8080 or [::]:8080",
        ),
        (
            "server:\n  public: { title: Acme }\n",
            "probes.yaml:5:11: server.public: needs `listen` (like 0.0.0.0:8081) or `path` (like /public)",
        ),
        (
            "server:\n  public: { listen: \"0.0.0.0:8081\", path: /public }\n",
            "probes.yaml:5:43: server.public: set `listen` (an address of its own) or `path` (a prefix on server.listen), not both",
        ),
        (
            "server:\n  public: { listen: \"0.0.0.0:8080\" }\n",
            "probes.yaml:5:21: server.public.listen: is server.listen's port (127.0.0.1:8080): give the public page a port of its own, or use `path`",
        ),
        (
            "server:\n  public: { path: /api/status }\n",
            "probes.yaml:5:19: server.public.path: /api is the internal page's own: choose another prefix, like /public",
        ),
        (
            "server:\n  public: { path: \"public\" }\n",
            "probes.yaml:5:19: server.public.path: \"public\" is not a path prefix: expected one like /public (letters, digits, - . _ ~ between slashes)",
        ),
        (
            "server:\n  public: { path: \"/a/../b\" }\n",
            "probes.yaml:5:19: server.public.path: \"/a/../b\" is not a path prefix: expected one like /public (letters, digits, - . _ ~ between slashes)",
        ),
        (
            "server:\n  public: { path: /public, environments: [staging, prod] }\n",
            "probes.yaml:5:52: server.public.environments[1]: unknown environment \"prod\" (environments: staging)",
        ),
        (
            "server:\n  public: { path: /public, title: \"\" }\n",
            "probes.yaml:5:35: server.public.title: must be one line of text",
        ),
        (
            "telemetry: { otlp: { endpoint: \"http://localhost:4318\", protocol: json } }\n",
            "probes.yaml:4:67: telemetry.otlp.protocol: unknown protocol \"json\": expected http/protobuf or grpc",
        ),
        (
            "    tls: { ca_file: staging-ca.pem }\n",
            "probes.yaml:4:21: environments[0].tls.ca_file: cannot read staging-ca.pem: No such file or directory (os error 2)",
        ),
        (
            "    headers: [a\n",
            "probes.yaml:4:14: expected mapping start",
        ),
    ];
    for (tail, expected) in cases {
        let yaml = format!("{BASE}{tail}");
        assert_eq!(error_of(&yaml), *expected, "YAML:\n{yaml}");
    }
}

/// The keys of the client's dialect (URL templates, form bodies, the session login, origin,
/// cookies, baggage): each mistake at its key, in the file as written.
#[test]
fn dialect_mistakes_name_their_key() {
    let session = "auth: { kind: session, login: { url: \"https://a.example.com/login\"";
    let cases: Vec<(String, &str)> = vec![
        (
            "  - name: chat\n    url: wss://x.example.com/ws?token={tokn}\n".into(),
            "probes.yaml:5:10: environments[1].url: unknown template {tokn}: the templates are {token} and {token_base64url}",
        ),
        (
            "  - name: chat\n    url: wss://x.example.com/ws?token={token}\n".into(),
            "probes.yaml:5:10: environments[1].url: uses {token} but auth is none: set `auth` or remove the template",
        ),
        (
            "  - name: chat\n    url: \"wss://{token}.example.com/ws\"\n    auth: { kind: bearer, token: t }\n".into(),
            "probes.yaml:5:10: environments[1].url: templates are filled in the URL's path and query only",
        ),
        (
            "    auth: { kind: token_endpoint, url: \"https://a.example.com/token\", body: { a: b }, form: { a: b } }\n".into(),
            "probes.yaml:4:93: environments[0].auth.form: a request sends `body` (JSON) or `form` (form-encoded), not both: keep one",
        ),
        (
            "    auth: { kind: bearer, token: t, form: { a: b } }\n".into(),
            "probes.yaml:4:43: environments[0].auth.form: not used by auth kind bearer (it takes: token)",
        ),
        (
            "    auth: { kind: session }\n".into(),
            "probes.yaml:4:11: environments[0].auth: missing key `login`",
        ),
        (
            format!("    {session} }}, csrf: {{ url: \"https://a.example.com/login\", cookie: csrftoken }} }}\n"),
            "probes.yaml:4:81: environments[0].auth.csrf: missing key `field` (the form field the token goes back in) or `header` (the header it goes back in)",
        ),
        (
            format!("    {session}, body: [1] }}, csrf: {{ url: \"https://a.example.com/login\", cookie: csrftoken, field: x }} }}\n"),
            "probes.yaml:4:156: environments[0].auth.csrf.field: the login's `body` is not a JSON object, so the token has no field to go in: use `header`",
        ),
        (
            format!("    {session} }}, csrf: {{ url: \"https://a.example.com/login\", cookie: \"csrf token\", header: X-CSRFToken }} }}\n"),
            "probes.yaml:4:127: environments[0].auth.csrf.cookie: \"csrf token\" is not a cookie name: ' ' is not allowed (RFC 6265 §4.1.1)",
        ),
        (
            format!("    {session} }} }}\n    headers: {{ Cookie: \"a=b\" }}\n"),
            "probes.yaml:5:16: environments[0].headers.Cookie: wsprobe builds `Cookie` from `cookies` and the session's cookies: list these under `cookies`",
        ),
        (
            "    origin: https://app.example.com/login\n".into(),
            "probes.yaml:4:13: environments[0].origin: an origin is a scheme, a host and a port only (RFC 6454): write scheme://host[:port], like https://app.example.com",
        ),
        (
            "    origin: https://app.example.com\n    headers: { Origin: \"https://x.example.com\" }\n".into(),
            "probes.yaml:5:16: environments[0].headers.Origin: set by `origin` too: keep one",
        ),
        (
            "    cookies: { \"a b\": x }\n".into(),
            "probes.yaml:4:16: environments[0].cookies.a b: \"a b\" is not a cookie name: ' ' is not allowed (RFC 6265 §4.1.1)",
        ),
        (
            "    cookies: { locale: \"e n\" }\n".into(),
            "probes.yaml:4:24: environments[0].cookies.locale: ' ' is not allowed in a cookie value (RFC 6265 §4.1.1: no spaces, quotes, commas, semicolons or backslashes; percent-encode them)",
        ),
        (
            "    synthetic_baggage: maybe\n".into(),
            "probes.yaml:4:24: environments[0].synthetic_baggage: expected true or false",
        ),
    ];
    for (tail, expected) in &cases {
        let yaml = format!("{BASE}{tail}");
        assert_eq!(error_of(&yaml), *expected, "YAML:\n{yaml}");
    }
}

#[test]
fn the_public_page_is_a_path_or_a_listener_of_its_own() {
    let path = load(&format!(
        "{BASE}  - name: internal\n    url: wss://internal.example.com/ws\n\
         server:\n  public: {{ path: \"/status/acme/\", title: \" Acme status \", environments: [staging] }}\n"
    ))
    .unwrap();
    let public = path.server.public.as_ref().unwrap();
    assert_eq!(public.at, PublicAt::Path("/status/acme".into()));
    assert_eq!(public.title, "Acme status");
    assert!(public.shows("staging") && !public.shows("internal"));

    let own = load(&format!(
        "{BASE}server:\n  listen: \"127.0.0.1:8080\"\n  public: {{ listen: \"0.0.0.0:8081\" }}\n"
    ))
    .unwrap();
    let public = own.server.public.as_ref().unwrap();
    assert_eq!(public.at, PublicAt::Listen("0.0.0.0:8081".parse().unwrap()));
    assert_eq!(public.title, "Status");
    assert!(public.shows("staging"), "every environment by default");
    assert!(load(BASE).unwrap().server.public.is_none());
}

#[test]
fn errors_without_a_single_position_name_the_key() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "probes.yaml: environments: at least one environment is required",
        ),
        (
            "# nothing but a comment\n",
            "probes.yaml: environments: at least one environment is required",
        ),
        (
            "location: x\n",
            "probes.yaml: environments: at least one environment is required",
        ),
        (
            "environments: []\n",
            "probes.yaml:1:15: environments: at least one environment is required",
        ),
        (
            "defaults:\n  url: wss://x/ws\nenvironments: []\n",
            "probes.yaml:2:8: defaults.url: not allowed in defaults: every environment sets its own",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error_of(yaml), *expected, "YAML:\n{yaml}");
    }
}

/// Positions are in the file as written: a long value interpolated earlier on the line does
/// not shift the column, and a value with a newline does not shift later lines.
#[test]
fn positions_refer_to_the_file_before_interpolation() {
    let lookup = |name: &str| match name {
        "LONG" => Some("a-much-longer-value-than-the-placeholder".to_owned()),
        "TWO_LINES" => Some("first\nsecond".to_owned()),
        _ => None,
    };
    let yaml =
        format!("{BASE}    tls: {{ ca_file: \"${{LONG}}\", insecure_skip_verify: maybe }}\n");
    let err = config::load_str(Path::new("probes.yaml"), &yaml, &lookup).unwrap_err();
    // The file ca_file names does not exist either: that is the first of the two mistakes.
    assert_eq!(
        err.to_string(),
        "probes.yaml:4:21: environments[0].tls.ca_file: cannot read a-much-longer-value-than-the-placeholder: No such file or directory (os error 2)\n\
         probes.yaml:4:54: environments[0].tls.insecure_skip_verify: expected true or false"
    );

    let yaml = format!("location: \"${{TWO_LINES}}\"\n{BASE}    retries: -1\n");
    let err = config::load_str(Path::new("probes.yaml"), &yaml, &lookup).unwrap_err();
    assert_eq!(
        err.to_string(),
        "probes.yaml:5:14: environments[0].retries: expected a whole number from 0 to 4294967295"
    );
}

#[test]
fn defaults_merge_into_each_environment() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path(), "ca.pem");
    let yaml = r#"
defaults:
  schedule: "0 * * * *"
  timeout: 4s
  auth: { kind: bearer, token: default-token }
  headers: { Authorization: "Bearer {token}", X-Team: probes }
  subprotocols: [v1]
  tls: { ca_file: ca.pem }
  steps:
    - expect: {}
  alert: { channels: [console], failure_threshold: 3 }
  max_messages: 10
environments:
  - name: staging
    url: wss://staging.example.com/ws
  - name: prod
    url: wss://prod.example.com/ws
    timeout: 30s
    auth: { kind: bearer, token: prod-token }
    headers: { x-team: prod-probes, X-Extra: "1" }
    subprotocols: []
    tls: { insecure_skip_verify: true }
    steps:
      - send: hello
      - expect: { contains: hello }
    alert: { failure_threshold: 1 }
alerts:
  channels:
    - { name: console, kind: log }
    - { name: audit, kind: webhook, url: "https://hooks.example.com/x", secret: "${EMPTY}" }
"#;
    let config = load_in(dir.path(), yaml).unwrap();

    let staging = config.environment("staging").unwrap();
    assert_eq!(staging.schedule.expression(), "0 * * * *");
    assert_eq!(staging.timeout, secs(4));
    assert!(matches!(&staging.auth, Auth::Bearer { token } if token.expose() == "default-token"));
    assert_eq!(
        staging.headers,
        vec![
            ("Authorization".to_owned(), "Bearer {token}".to_owned()),
            ("X-Team".to_owned(), "probes".to_owned()),
        ]
    );
    assert_eq!(staging.subprotocols, ["v1"]);
    assert_eq!(staging.tls.ca_file.as_deref(), Some(ca.as_path()));
    assert!(!staging.tls.insecure_skip_verify);
    // The default `within` (5s) is capped at the 4s timeout.
    assert!(matches!(
        staging.steps[..],
        [Step::Expect { within, matcher: Matcher::Any }] if within == secs(4)
    ));
    assert_eq!(
        staging.alert.channels.as_deref(),
        Some(&["console".to_owned()][..])
    );
    assert_eq!(staging.alert.failure_threshold, Some(3));
    assert_eq!(staging.limits.max_messages, 10);
    let names: Vec<&str> = config
        .channels_for(staging)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["console"]);
    let policy = config.alert_policy(staging);
    assert_eq!(policy.failure_threshold, 3);
    assert_eq!(policy.success_threshold, 1);

    // An environment's own value wins; maps (headers, tls, alert) merge key by key, with
    // header names compared case-insensitively; lists and everything else are replaced whole.
    let prod = config.environment("prod").unwrap();
    assert_eq!(prod.schedule.expression(), "0 * * * *");
    assert_eq!(prod.timeout, secs(30));
    assert!(matches!(&prod.auth, Auth::Bearer { token } if token.expose() == "prod-token"));
    assert_eq!(
        prod.headers,
        vec![
            ("Authorization".to_owned(), "Bearer {token}".to_owned()),
            ("X-Team".to_owned(), "prod-probes".to_owned()),
            ("X-Extra".to_owned(), "1".to_owned()),
        ]
    );
    assert!(prod.subprotocols.is_empty());
    assert_eq!(prod.tls.ca_file.as_deref(), Some(ca.as_path()));
    assert!(prod.tls.insecure_skip_verify);
    assert_eq!(prod.steps.len(), 2);
    assert!(
        matches!(&prod.steps[1], Step::Expect { within, matcher: Matcher::Contains(text) } if *within == secs(5) && text == "hello")
    );
    assert_eq!(
        prod.alert.channels.as_deref(),
        Some(&["console".to_owned()][..])
    );
    assert_eq!(prod.alert.failure_threshold, Some(1));

    // An empty webhook secret means unsigned.
    assert!(matches!(
        &config.alerts.channels[1].kind,
        ChannelKind::Webhook(config::channels::WebhookSettings { secret: None, .. })
    ));
}

/// A value inherited from `defaults` is reported where it is written, naming the environment
/// it failed for.
#[test]
fn errors_in_inherited_values_point_at_defaults() {
    let yaml = "\
defaults:
  headers: { Authorization: \"Bearer {token}\" }
  steps:
    - expect: { within: 16s }
environments:
  - name: staging
    url: wss://staging.example.com/ws
    auth: { kind: bearer, token: t }
  - name: lab
    url: ws://127.0.0.1:9000/ws
    timeout: 20s
";
    // Both environments fail, each on a value it inherits: both are named, in file order.
    assert_eq!(
        error_of(yaml),
        "probes.yaml:2:29: defaults.headers.Authorization: uses {token} but auth is none (in environment lab): set `auth` or remove the template\n\
         probes.yaml:4:25: defaults.steps[0].expect.within: 16s is longer than the probe's timeout 15s (in environment staging)"
    );
    let yaml = yaml.replace("16s", "5s");
    assert_eq!(
        error_of(&yaml),
        "probes.yaml:2:29: defaults.headers.Authorization: uses {token} but auth is none (in environment lab): set `auth` or remove the template"
    );
}

#[test]
fn built_in_defaults_fill_what_the_file_leaves_out() {
    let config = load(BASE).unwrap();
    let env = &config.environments[0];
    assert_eq!(env.schedule.expression(), "*/5 * * * *");
    assert_eq!(env.jitter, Duration::ZERO);
    assert_eq!(env.timeout, secs(15));
    assert_eq!(env.retries, 0);
    assert_eq!(env.degraded_after, secs(2));
    assert_eq!(env.cert_warn_days, 14);
    assert!(env.health.is_none());
    assert!(matches!(env.auth, Auth::None));
    assert!(env.headers.is_empty() && env.subprotocols.is_empty() && env.steps.is_empty());
    assert!(env.expect_subprotocol.is_none() && env.echo.is_none() && env.version.is_none());
    assert!(env.tls.ca_file.is_none() && !env.tls.insecure_skip_verify);
    assert!(env.alert.channels.is_none());
    assert!(config.location.is_none());
    assert!(config.alerts.channels.is_empty() && config.alerts.maintenance.is_empty());
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert!(config.server.public_url.is_none() && config.server.admin_token.is_none());
    assert_eq!(config.storage.path, Path::new("wsprobe.db"));
    assert_eq!(config.storage.retention, secs(30 * 24 * 3600));
    assert!(config.telemetry.otlp.is_none());
    assert!(
        config.telemetry.prometheus,
        "GET /metrics is on unless turned off"
    );
    assert!(config.secret_values().is_empty());
}

#[test]
fn auth_kinds_load_with_their_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("probe-key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("not-a-key.pem"), "hello").unwrap();
    let yaml = r#"
environments:
  - name: bearer
    url: wss://x.example.com/ws
    auth: { kind: bearer, token: "${BEARER_TOKEN:-fallback-token}" }
  - name: es
    url: wss://x.example.com/ws
    auth: { kind: jwt, algorithm: ES256, key: probe-key.pem, ttl: 1m }
  - name: endpoint
    url: wss://x.example.com/ws?ticket=1
    auth:
      kind: token_endpoint
      url: https://auth.example.com/token
      headers: { X-Api-Key: key-123 }
      body: { key: e2e-bypass-key, scopes: [probe], ttl: 60 }
  - name: endpoint-get
    url: wss://x.example.com/ws
    auth: { kind: token_endpoint, url: "http://127.0.0.1:9000/t", method: get, token_pointer: /data/token }
    version: { pointer: /data/build }
"#;
    let config = load_in(dir.path(), yaml).unwrap();

    let Auth::Bearer { token } = &config.environments[0].auth else {
        panic!("{:?}", config.environments[0].auth);
    };
    assert_eq!(token.expose(), "fallback-token");

    let Auth::Jwt {
        algorithm,
        key: JwtKey::Pem { path, pem },
        ttl,
        claims,
    } = &config.environments[1].auth
    else {
        panic!("{:?}", config.environments[1].auth);
    };
    assert_eq!(*algorithm, JwtAlgorithm::ES256);
    assert_eq!(path, &dir.path().join("probe-key.pem"));
    assert_eq!(pem.expose(), key.serialize_pem());
    assert_eq!(*ttl, secs(60));
    assert!(claims.is_empty());

    let Auth::TokenEndpoint {
        url,
        method,
        headers,
        body,
        token_pointer,
    } = &config.environments[2].auth
    else {
        panic!("{:?}", config.environments[2].auth);
    };
    assert_eq!(url.as_str(), "https://auth.example.com/token");
    assert_eq!(method, "POST");
    assert_eq!(headers.len(), 1);
    assert_eq!(
        (headers[0].0.as_str(), headers[0].1.expose()),
        ("X-Api-Key", "key-123")
    );
    assert_eq!(
        body.as_ref().unwrap(),
        &RequestBody::Json(
            serde_json::json!({"key": "e2e-bypass-key", "scopes": ["probe"], "ttl": 60})
        )
    );
    assert_eq!(token_pointer, "/access_token");

    let Auth::TokenEndpoint {
        method,
        token_pointer,
        ..
    } = &config.environments[3].auth
    else {
        panic!("{:?}", config.environments[3].auth);
    };
    assert_eq!(method, "GET");
    assert_eq!(token_pointer, "/data/token");
    assert!(
        matches!(&config.environments[3].version, Some(VersionSource::Pointer(p)) if p == "/data/build")
    );

    let secrets = config.secret_values();
    for expected in ["fallback-token", "key-123", "e2e-bypass-key", "probe"] {
        assert!(
            secrets.iter().any(|s| s == expected),
            "{expected} missing from {secrets:?}"
        );
    }

    let summary = config::describe(&config);
    assert!(
        summary.contains("  url           wss://x.example.com/ws?…\n"),
        "{summary}"
    );
    assert!(
        summary.contains("  auth          token_endpoint (POST https://auth.example.com/token), sent as Authorization: Bearer {token}\n"),
        "{summary}"
    );
    assert!(
        summary.contains("  auth          jwt (ES256), sent as Authorization: Bearer {token}\n"),
        "{summary}"
    );

    let bad_key = yaml.replace("key: probe-key.pem", "key: not-a-key.pem");
    let err = load_in(dir.path(), &bad_key).unwrap_err().to_string();
    let expected_prefix = format!(
        "{}:8:47: environments[1].auth.key: {} is not a PKCS#8 P-256 EC private key in PEM form: ",
        dir.path().join("probes.yaml").display(),
        dir.path().join("not-a-key.pem").display()
    );
    assert!(err.starts_with(&expected_prefix), "{err}");
}

#[test]
fn maintenance_windows_cover_their_environments_and_times() {
    let yaml = format!(
        "{BASE}  - name: prod\n    url: wss://prod.example.com/ws\nalerts:\n  maintenance:\n    \
         - {{ environments: [staging], schedule: \"0 2 * * 0\", duration: 1h }}\n    \
         - {{ from: \"2026-12-01T22:00:00Z\", until: \"2026-12-01T23:00:00+00:00\" }}\n"
    );
    let config = load(&yaml).unwrap();
    let staging = &config.environments[0].name;
    let prod = &config.environments[1].name;
    let at = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let [weekly, once] = &config.alerts.maintenance[..] else {
        panic!("{:?}", config.alerts.maintenance);
    };
    // 2026-11-29 is a Sunday.
    let cases = [
        (weekly, staging, "2026-11-29T01:59:59Z", false),
        (weekly, staging, "2026-11-29T02:00:00Z", true),
        (weekly, staging, "2026-11-29T02:59:59Z", true),
        (weekly, staging, "2026-11-29T03:00:00Z", false),
        (weekly, staging, "2026-11-30T02:30:00Z", false),
        (weekly, prod, "2026-11-29T02:30:00Z", false),
        (once, prod, "2026-12-01T21:59:59Z", false),
        (once, prod, "2026-12-01T22:00:00Z", true),
        (once, staging, "2026-12-01T22:59:59Z", true),
        (once, staging, "2026-12-01T23:00:00Z", false),
    ];
    for (window, env, now, expected) in cases {
        assert_eq!(
            window.covers(env, at(now)),
            expected,
            "{env} at {now}: {window:?}"
        );
    }
}

#[test]
fn describe_prints_what_would_run() {
    let dir = tempfile::tempdir().unwrap();
    write_ca(dir.path(), "staging-ca.pem");
    let config = load_in(dir.path(), SPEC_EXAMPLE).unwrap();
    let summary = config::describe(&config).replace(&dir.path().display().to_string(), "DIR");
    let expected = "\
environment staging
  url           wss://api.staging.example.com/ws
  schedule      */5 * * * * (at every 5 minutes, UTC)
  timeout       15s
  auth          jwt (HS256), sent as Authorization: Bearer {token}, subprotocol jwt.{token_base64url}
  health        https://api.staging.example.com/health expecting 200
  subprotocols  jwt-auth, jwt.{token_base64url} (expecting jwt-auth)
  steps         3
  alert         oncall, team-slack after 2 failures
channels
  team-slack    slack
  oncall        pagerduty
  audit         webhook
  console       log
maintenance
  staging: 0 2 * * 0 (at 02:00, on Sunday, UTC) for 1h
  all environments: 2026-12-01T22:00:00Z to 2026-12-01T23:00:00Z
server          listen 127.0.0.1:8080, public http://localhost:8080/
storage         DIR/wsprobe.db (raw results kept 30 days)
telemetry       OTLP to http://localhost:4318/ (http/protobuf, every 30s); GET /metrics on
";
    assert_eq!(summary, expected);
    for secret in config.secret_values() {
        assert!(!summary.contains(&secret), "{secret:?} leaked:\n{summary}");
    }
}

#[test]
fn health_expect_body_takes_json_or_contains_and_names_the_key_otherwise() {
    let load = |health: &str| {
        wsprobe::config::load_str(
            std::path::Path::new("probes.yaml"),
            &format!("environments:\n  - name: a\n    url: ws://x/ws\n    health: {health}\n"),
            &|_| None,
        )
    };
    let config =
        load("{ url: http://x/health, expect_body: { json: { /status: healthy } } }").unwrap();
    let health = config.environments[0].health.as_ref().unwrap();
    assert_eq!(
        health.expect_body,
        Some(wsprobe::config::Matcher::Json(vec![(
            "/status".into(),
            serde_json::json!("healthy")
        )]))
    );
    for (health, words) in [
        (
            "{ url: http://x/health, expect_body: { json: { /a: 1 }, contains: ok } }",
            "environments[0].health.expect_body.contains",
        ),
        (
            "{ url: http://x/health, expect_body: {} }",
            "environments[0].health.expect_body",
        ),
        (
            "{ url: http://x/health, expect_body: { json: { status: ok } } }",
            "environments[0].health.expect_body.json.status",
        ),
        (
            "{ url: http://x/health, expect_body: { binary: any } }",
            "unknown key `binary`",
        ),
    ] {
        let err = load(health).unwrap_err().to_string();
        assert!(err.contains(words), "{health}: {err}");
        assert!(
            err.contains("probes.yaml:"),
            "names the file and line: {err}"
        );
    }
}

/// A shared store: its URL is a secret, it needs a location, and it is one store or the other.
#[test]
fn a_shared_store_needs_a_postgres_url_and_a_location() {
    let envs = "environments:\n  - { name: api, url: \"ws://127.0.0.1:1/\" }\n";
    let config = load(&format!(
        "location: eu-west\n{envs}storage: {{ url: \"postgres://wsprobe:pw-from-vault@db.internal/wsprobe\" }}\nalerts: {{ defaults: {{ min_locations: 2 }} }}\n"
    ))
    .unwrap();
    let url = config.storage.url.as_ref().unwrap();
    assert_eq!(
        url.expose(),
        "postgres://wsprobe:pw-from-vault@db.internal/wsprobe"
    );
    assert!(
        !format!("{config:?}").contains("pw-from-vault"),
        "the URL is a secret"
    );
    assert_eq!(config.alerts.defaults.min_locations, 2);
    assert_eq!(
        load(envs).unwrap().alerts.defaults.min_locations,
        1,
        "one location is enough by default"
    );
    let cases = [
        (
            format!("{envs}storage: {{ url: \"postgres://db/wsprobe\" }}\n"),
            "probes.yaml:3:17: location: is required with storage.url: each instance of a fleet says where it probes from (location: eu-west)",
        ),
        (
            format!("location: a\n{envs}storage: {{ url: \"mysql://db/wsprobe\" }}\n"),
            "probes.yaml:4:17: storage.url: must be a PostgreSQL URL (postgres://user@host/database)",
        ),
        (
            format!("location: a\n{envs}storage: {{ path: x.db, url: \"postgres://db/w\" }}\n"),
            "probes.yaml:4:29: storage.url: set storage.path (one SQLite file) or storage.url (a shared PostgreSQL), not both",
        ),
        (
            format!("{envs}alerts: {{ defaults: {{ min_locations: 0 }} }}\n"),
            "probes.yaml:3:38: alerts.defaults.min_locations: must be at least 1",
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(error_of(&yaml), expected, "{yaml}");
    }
}

/// Which `${VAR}` values are secrets: credentials are, and stay scrubbed from every text;
/// what wsprobe publishes anyway (ports, addresses, its public URL, its location) and values
/// too short to be credentials read as what they are.
#[test]
fn variable_values_are_secrets_only_when_they_can_be_credentials() {
    let yaml = "location: ${LOCATION}
environments:
  - name: a
    url: ws://${LAB}/ws
    auth: { kind: bearer, token: \"${ECHO_TOKEN}\" }
    headers: { X-Api-Key: \"${API_KEY}\", X-Build: \"${BUILD}\" }
server: { listen: \"127.0.0.1:${PORT}\", public_url: \"${PUBLIC_URL}\" }
alerts:
  channels:
    - { name: hook, kind: webhook, url: \"${HOOK_URL}\" }
";
    let variables = |name: &str| {
        Some(
            match name {
                "LOCATION" => "eu-west-1",
                "LAB" => "127.0.0.1:8765",
                "ECHO_TOKEN" => "wrong",
                "API_KEY" => "k3y-0f-the-api-2026",
                "BUILD" => "20261207",
                "PORT" => "18080",
                "PUBLIC_URL" => "https://status.example.com",
                "HOOK_URL" => "https://hooks.example.com/T000/B000/xyzzy-hook-secret",
                _ => return None,
            }
            .to_owned(),
        )
    };
    let config = config::load_str(Path::new("probes.yaml"), yaml, &variables).unwrap();
    let redactor = wsprobe::probe::redact::Redactor::new(config.secret_values());
    // (text as written, as it leaves the process)
    let rows: &[(&str, &str)] = &[
        ("listen=127.0.0.1:18080", "listen=127.0.0.1:18080"),
        (
            "link https://status.example.com/environments/a",
            "link https://status.example.com/environments/a",
        ),
        ("location=eu-west-1", "location=eu-west-1"),
        ("connect 127.0.0.1:8765", "connect 127.0.0.1:8765"),
        ("build 20261207", "build 20261207"),
        (
            "an expired or wrong token, a missing header",
            "an expired or wrong token, a missing header",
        ),
        (
            "echo {\"x-api-key\":\"k3y-0f-the-api-2026\"}",
            "echo {\"x-api-key\":\"[redacted]\"}",
        ),
        (
            "POST https://hooks.example.com/T000/B000/xyzzy-hook-secret failed",
            "POST [redacted] failed",
        ),
    ];
    for (text, shown) in rows {
        assert_eq!(&redactor.text(text), shown, "{text}");
    }
    let secret_names: Vec<String> = config
        .secret_variables()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        secret_names,
        ["API_KEY", "HOOK_URL"],
        "replay writes $VAR for these"
    );
}

/// Several mistakes in one file are all named in one run, in file order, each with its
/// position: YAML and type errors (the run reads on past each), and every environment's own.
#[test]
fn every_mistake_is_reported_in_one_run() {
    let cases: &[(&str, &[&str])] = &[
        (
            "environments:\n  - name: a\n    url: ws://x/ws\n    schedul: \"* * * * *\"\n    retries: many\n    tls: { insecure_skip_verfy: true, ca_file: x }\n",
            &[
                "probes.yaml:4:5: environments[0].schedul: unknown key `schedul`: did you mean `schedule`?",
                "probes.yaml:5:14: environments[0].retries: expected a whole number from 0 to 4294967295",
                "probes.yaml:6:12: environments[0].tls.insecure_skip_verfy: unknown key `insecure_skip_verfy`: did you mean `insecure_skip_verify`?",
                "probes.yaml:6:48: environments[0].tls.ca_file: cannot read x",
            ],
        ),
        (
            "environments:\n  - name: a\n    url: ws://x/ws\n    timeout: banana\n  - name: b\n    url: ws://x/ws\n    schedule: \"*/70 * * * *\"\n  - name: a\n    url: ws://x/ws\nserver: { listen: \"not an address\" }\n",
            &[
                "probes.yaml:4:14: environments[0].timeout: \"banana\" is not a duration",
                "probes.yaml:7:15: environments[1].schedule: cron schedule \"*/70 * * * *\"",
                "probes.yaml:8:11: environments[2].name: duplicate environment name \"a\" (first used at line 2)",
                "probes.yaml:10:19: server.listen:",
            ],
        ),
        (
            "environments:\n  - name: a\n    url: ws://x/ws\n    bogus: 1\n    timeout: banana\n",
            &[
                "probes.yaml:4:5: environments[0].bogus: unknown key `bogus`",
                "probes.yaml:5:14: environments[0].timeout: \"banana\" is not a duration",
            ],
        ),
    ];
    for (yaml, expected) in cases {
        let message = error_of(yaml);
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(
            lines.len(),
            expected.len(),
            "YAML:\n{yaml}\nerrors:\n{message}"
        );
        for (line, want) in lines.iter().zip(*expected) {
            assert!(
                line.starts_with(want),
                "{line:?} should start {want:?}\n{message}"
            );
        }
    }
}

/// A session login with CSRF, an OAuth2 form, an origin and cookies: what they load into, what
/// counts as a secret, and what `validate` says of them.
#[test]
fn the_clients_dialect_loads_with_its_secrets() {
    let yaml = "\
environments:
  - name: app
    url: \"wss://app.example.com/ws?tenant=acme&token={token}\"
    origin: https://app.example.com
    cookies: { locale: en, consent: yes-to-all }
    synthetic_baggage: false
    auth:
      kind: token_endpoint
      url: https://auth.example.com/oauth/token
      form: { grant_type: client_credentials, client_id: probes, client_secret: \"${CLIENT_SECRET}\" }
  - name: rails
    url: wss://rails.example.com/cable
    auth:
      kind: session
      login: { url: https://rails.example.com/login, method: post, headers: { X-Requested-With: XMLHttpRequest }, body: { user: probe, password: \"${PW}\" } }
      csrf: { url: https://rails.example.com/login, cookie: XSRF-TOKEN, header: X-XSRF-TOKEN }
";
    let vars = [
        ("CLIENT_SECRET", "client-secret-123"),
        ("PW", "pass-word-456"),
    ];
    let config = config::load_str(Path::new("probes.yaml"), yaml, &move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    let app = &config.environments[0];
    assert_eq!(app.origin.as_deref(), Some("https://app.example.com"));
    let cookies: Vec<(&str, &str)> = app
        .cookies
        .iter()
        .map(|(n, v)| (n.as_str(), v.expose()))
        .collect();
    assert_eq!(cookies, [("locale", "en"), ("consent", "yes-to-all")]);
    assert!(!app.synthetic_baggage);
    assert!(config.environments[1].synthetic_baggage, "on by default");
    // The URL carries the token: no Authorization header is added for it.
    assert!(app.headers.is_empty(), "{:?}", app.headers);
    let Auth::TokenEndpoint {
        body: Some(RequestBody::Form(fields)),
        ..
    } = &app.auth
    else {
        panic!("{:?}", app.auth);
    };
    assert_eq!(fields[2].0, "client_secret");
    let Auth::Session(session) = &config.environments[1].auth else {
        panic!("{:?}", config.environments[1].auth);
    };
    assert_eq!(session.login.method, "POST");
    let csrf = session.csrf.as_ref().unwrap();
    assert_eq!(
        (
            csrf.cookie.as_str(),
            csrf.field.as_deref(),
            csrf.header.as_deref()
        ),
        ("XSRF-TOKEN", None, Some("X-XSRF-TOKEN"))
    );

    let secrets = config.secret_values();
    for secret in [
        "client-secret-123",
        "pass-word-456",
        "yes-to-all",
        "client_credentials",
        "XMLHttpRequest",
    ] {
        assert!(
            secrets.iter().any(|s| s == secret),
            "{secret} missing from {secrets:?}"
        );
    }
    let summary = config::describe(&config);
    for line in [
        "  url           wss://app.example.com/ws?…\n",
        "  auth          token_endpoint (POST https://auth.example.com/oauth/token), sent as the URL\n",
        "  origin        https://app.example.com\n",
        "  cookies       locale, consent\n",
        "  auth          session (POST https://rails.example.com/login, CSRF cookie XSRF-TOKEN from https://rails.example.com/login), sent as the session's cookies\n",
    ] {
        assert!(summary.contains(line), "{line:?} not in\n{summary}");
    }
    for secret in ["client-secret-123", "pass-word-456", "yes-to-all"] {
        assert!(!summary.contains(secret));
    }
}

/// `confirm` and `flapping`: in `alerts.defaults` and per environment, their defaults, and a
/// mistake in either named with its key.
#[test]
fn confirm_and_flapping_load_with_defaults_and_named_errors() {
    let envs = "environments:\n  - name: a\n    url: ws://h/ws\n";
    let config = load(envs).unwrap();
    let policy = config.alert_policy(&config.environments[0]);
    assert_eq!(policy.confirm.attempts, 0, "confirmation is opt-in");
    assert!(
        policy.flapping.enabled,
        "flap detection is on, as in Nagios"
    );
    assert_eq!(
        (
            policy.flapping.window,
            policy.flapping.high,
            policy.flapping.low
        ),
        (21, 50.0, 25.0)
    );
    let yaml = format!(
        "{envs}    alert: {{ confirm: {{ attempts: 3 }}, flapping: {{ enabled: false }} }}\n  - name: b\n    url: ws://h/ws\nalerts:\n  defaults:\n    confirm: {{ attempts: 2, every: 5s }}\n    flapping: {{ window: 10, high: 40, low: 20 }}\n"
    );
    let config = load(&yaml).unwrap();
    let own = config.alert_policy(&config.environments[0]);
    assert_eq!((own.confirm.attempts, own.confirm.every), (3, secs(10)));
    assert!(!own.flapping.enabled);
    let defaults = config.alert_policy(&config.environments[1]);
    assert_eq!(
        (defaults.confirm.attempts, defaults.confirm.every),
        (2, secs(5))
    );
    assert_eq!(
        (
            defaults.flapping.window,
            defaults.flapping.high,
            defaults.flapping.low
        ),
        (10, 40.0, 20.0)
    );
    let cases = [
        (
            "alerts: { defaults: { confirm: { attempts: 11 } } }\n",
            "probes.yaml:4:44: alerts.defaults.confirm.attempts: must be at most 10: a failure confirmed that often is no blip",
        ),
        (
            "alerts: { defaults: { confirm: { every: 0s } } }\n",
            "probes.yaml:4:41: alerts.defaults.confirm.every: must be greater than 0",
        ),
        (
            "alerts: { defaults: { flapping: { window: 40 } } }\n",
            "probes.yaml:4:43: alerts.defaults.flapping.window: must be from 3 to 32 results",
        ),
        (
            "alerts: { defaults: { flapping: { high: 120 } } }\n",
            "probes.yaml:4:41: alerts.defaults.flapping.high: must be a percentage above 0 and at most 100",
        ),
        (
            "alerts: { defaults: { flapping: { high: 30, low: 40 } } }\n",
            "probes.yaml:4:50: alerts.defaults.flapping: low (40) must be below high (30): flapping stops below low and starts at high",
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(error_of(&format!("{envs}{extra}")), expected, "{extra}");
    }
}

/// `depends_on` names environments of the file, makes no cycle, and is each environment's own.
#[test]
fn depends_on_names_known_environments_without_cycles() {
    let envs = "environments:\n  - name: auth\n    url: ws://h/ws\n  - name: chat\n    url: ws://h/ws\n    depends_on: [auth]\n";
    let config = load(envs).unwrap();
    assert_eq!(config.environments[1].depends_on, ["auth"]);
    let cases = [
        (
            "environments:\n  - name: auth\n    url: ws://h/ws\n  - name: chat\n    url: ws://h/ws\n    depends_on: [auht]\n",
            "probes.yaml:6:18: environments[1].depends_on[0]: no environment is named \"auht\" (did you mean \"auth\"?)",
        ),
        (
            "environments:\n  - name: a\n    url: ws://h/ws\n    depends_on: [b]\n  - name: b\n    url: ws://h/ws\n    depends_on: [a]\n",
            "probes.yaml:4:18: environments[0].depends_on[0]: a cycle: a → b → a; an environment cannot wait for one that waits for it",
        ),
        (
            "environments:\n  - name: a\n    url: ws://h/ws\n    depends_on: [a]\n",
            "probes.yaml:4:18: environments[0].depends_on[0]: a cycle: a → a; an environment cannot wait for one that waits for it",
        ),
        (
            "defaults: { depends_on: [a] }\nenvironments:\n  - name: a\n    url: ws://h/ws\n",
            "probes.yaml:1:26: defaults.depends_on: not allowed in defaults: an environment cannot depend on itself",
        ),
    ];
    for (yaml, expected) in cases {
        let error = error_of(yaml);
        assert!(error.starts_with(expected), "{yaml}\n{error}");
    }
}

/// A session whose templates use `{token}` reads it from the login's answer: where
/// `login.token_pointer` says, else where a token endpoint's answer has it.
#[test]
fn a_session_using_token_reads_it_from_the_login_answer() {
    let yaml = |pointer: &str| {
        format!(
            "environments:\n  - name: chat\n    url: \"wss://chat.example.com/socket.io/?EIO=4&transport=websocket&token={{token}}\"\n    auth:\n      kind: session\n      login: {{ url: https://app.example.com/login, method: POST, form: {{ user: probe, password: pw-0123456789 }}{pointer} }}\n"
        )
    };
    let pointer_of = |config: &Config| match &config.environments[0].auth {
        Auth::Session(session) => session.login.token_pointer.clone(),
        other => panic!("not a session: {other:?}"),
    };
    assert_eq!(
        pointer_of(&load(&yaml("")).unwrap()).as_deref(),
        Some("/access_token")
    );
    assert_eq!(
        pointer_of(&load(&yaml(", token_pointer: /data/token")).unwrap()).as_deref(),
        Some("/data/token")
    );
    let no_template = "environments:\n  - name: chat\n    url: wss://chat.example.com/ws\n    auth:\n      kind: session\n      login: { url: https://app.example.com/login, form: { user: probe } }\n";
    assert_eq!(
        pointer_of(&load(no_template).unwrap()),
        None,
        "cookies only"
    );
}

/// A fleet past serde-saphyr's default budget of 250,000 YAML nodes (about 50,000 one-line
/// environments) loads: 100,000 environments must (bench/validate.sh times that size).
#[test]
fn more_than_fifty_thousand_environments_load() {
    let mut yaml =
        String::from("defaults: { schedule: \"*/5 * * * *\", jitter: 4m }\nenvironments:\n");
    for i in 0..55_000 {
        yaml.push_str(&format!(
            "  - {{ name: env-{i}, url: \"ws://127.0.0.1:9/ws\" }}\n"
        ));
    }
    let config = load(&yaml).unwrap();
    assert_eq!(config.environments.len(), 55_000);
    assert_eq!(config.environments[54_999].name.as_str(), "env-54999");
}

#[test]
fn describe_says_confirmation_and_dependencies() {
    let yaml = format!(
        "{BASE}  - name: chat\n    url: wss://chat.example.com/ws\n    depends_on: [staging]\n\
         alerts:\n  defaults: {{ confirm: {{ attempts: 2, every: 10s }} }}\n  channels:\n    \
         - {{ name: hook, kind: webhook, url: \"http://127.0.0.1:9/x\" }}\n"
    );
    let config = load(&yaml).unwrap();
    let summary = config::describe(&config);
    assert!(
        summary.contains(
            "alert         hook after 2 failures, each confirmed by 2 re-probes 10s apart\n"
        ),
        "{summary}"
    );
    assert!(
        summary.contains(", each confirmed by 2 re-probes 10s apart, held while staging is down\n"),
        "{summary}"
    );
}
