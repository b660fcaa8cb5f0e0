//! `auth.kind: session` against a real Django site (Django's own login view with CSRF on, a
//! Channels consumer that accepts only a logged-in session behind Channels' origin check):
//! the login, its cookies on the upgrade, and every way it can go wrong, named.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use wsprobe::probe::{ProbeResult, Prober, Verdict};
use wsprobe::store::{NewRun, Store};

use crate::helpers::assert_schema_accepts;
use crate::helpers::django::Django;

const PASSWORD: &str = "correct-horse-battery";

/// The environment as a user writes it for a Django + Channels app; `csrf` and `origin` can be
/// left out to see what the site makes of that.
fn yaml(site: &Django, csrf: bool, origin: Option<&str>) -> String {
    let base = site.origin();
    let mut yaml = format!(
        "environments:\n  - name: django\n    url: ws://127.0.0.1:{port}/ws/chat/\n    cookies: {{ locale: en }}\n    auth:\n      kind: session\n      login: {{ url: {base}/accounts/login/, form: {{ username: probe, password: \"${{DJANGO_PW}}\" }} }}\n",
        port = site.port
    );
    if csrf {
        yaml.push_str(&format!(
            "      csrf: {{ url: {base}/accounts/login/, cookie: csrftoken, field: csrfmiddlewaretoken }}\n"
        ));
    }
    if let Some(origin) = origin {
        yaml.push_str(&format!("    origin: {origin}\n"));
    }
    yaml.push_str("    steps:\n      - expect: { json: { /type: welcome, /user: probe } }\n");
    yaml
}

async fn probe(yaml: &str, password: &str) -> ProbeResult {
    assert_schema_accepts(yaml, "a session config");
    let password = password.to_owned();
    let config = wsprobe::config::load_str(Path::new("django.yaml"), yaml, &move |name| {
        (name == "DJANGO_PW").then(|| password.clone())
    })
    .unwrap_or_else(|err| panic!("{err}"));
    Prober::for_config(&config)
        .probe(&config.environments[0])
        .await
}

fn assert_says(result: &ProbeResult, verdict: Verdict, words: &[&str]) {
    let sentence = &result.diagnosis;
    assert_eq!(result.verdict, verdict, "{sentence}");
    for word in words {
        assert!(sentence.contains(word), "{sentence:?} lacks {word:?}");
    }
}

#[tokio::test]
async fn a_django_login_carries_its_session_cookie_to_the_channels_upgrade() {
    let Some(site) = Django::start(PASSWORD).await else {
        return;
    };
    let yaml = yaml(&site, true, Some(&site.origin()));
    let result = probe(&yaml, PASSWORD).await;
    assert_says(&result, Verdict::Ok, &["All steps passed"]);
    assert!(result.phases_ms.login.is_some_and(|ms| ms > 0.0));
    assert_eq!(result.phases_ms.token, None);
    let sent = &result.headers.sent;
    let mut cookies: Vec<&str> = sent["cookie"].split("; ").collect();
    cookies.sort_unstable();
    assert_eq!(
        cookies,
        [
            "csrftoken=[redacted]",
            "locale=[redacted]",
            "sessionid=[redacted]"
        ],
        "{sent:?}"
    );
    assert_eq!(sent.get("origin"), Some(&site.origin()));
    // The consumer welcomes with the session key, as a leaky app might: it comes back scrubbed.
    assert!(
        result.messages[0].contains("\"session\": \"[redacted]\""),
        "{:?}",
        result.messages
    );

    // Nowhere a session key leaves: not the result, its JSON, the store, or `check`'s output
    // and debug log.
    let keys = site.session_keys().await;
    assert!(!keys.is_empty(), "Django holds the probe's session");
    let json = serde_json::to_string(&result).unwrap();
    let stored = stored_bytes(&result).await;
    let (stdout, stderr) = check_json(&yaml);
    for key in &keys {
        assert!(
            !json.contains(key.as_str()),
            "the result's JSON holds {key}"
        );
        assert!(!stdout.contains(key.as_str()), "check's JSON holds {key}");
        assert!(!stderr.contains(key.as_str()), "check's log holds {key}");
        let in_store = stored
            .windows(key.len())
            .any(|window| window == key.as_bytes());
        assert!(!in_store, "the store holds {key}");
    }
    let checked: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(checked["results"][0]["verdict"], "ok", "{stdout}\n{stderr}");
    assert!(checked["results"][0]["phases_ms"]["login"].is_number());
}

/// The login's replay command (shown with a failed login) run by bash with the real curl: its
/// CSRF dance gets Django to log the probe in.
#[tokio::test]
async fn the_logins_replay_logs_in_with_curl() {
    let Some(site) = Django::start(PASSWORD).await else {
        return;
    };
    let yaml = yaml(&site, true, Some(&site.origin()));
    let config = wsprobe::config::load_str(Path::new("django.yaml"), &yaml, &|name| {
        (name == "DJANGO_PW").then(|| PASSWORD.to_owned())
    })
    .unwrap();
    let replay = wsprobe::probe::replay::command(&config.environments[0], &config.variables, true);
    assert!(!replay.contains(PASSWORD), "{replay}");
    let out = Command::new("bash")
        .args(["-c", &replay])
        .env("DJANGO_PW", PASSWORD)
        .env("LOGIN_USERNAME", "probe")
        .output()
        .expect("bash runs");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.starts_with("HTTP/1.1 302"), "{replay}\n{answer}");
    assert!(answer.contains("Set-Cookie: sessionid="), "{answer}");
}

/// The result written to a fresh SQLite store (its login phase read back as written), the
/// database's bytes.
async fn stored_bytes(result: &ProbeResult) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Store::open(&path).await.unwrap();
    let run = NewRun {
        result: Arc::new(result.clone()),
        in_maintenance: false,
        silence: None,
        slot: None,
    };
    store.runs().insert_runs(&[&run]).await.unwrap();
    let back = store.runs().latest().await.unwrap();
    assert_eq!(back[0].result.phases_ms.login, result.phases_ms.login);
    assert_eq!(back[0].result.headers.sent, result.headers.sent);
    store.close().await;
    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        bytes.extend(std::fs::read(format!("{}{suffix}", path.display())).unwrap_or_default());
    }
    bytes
}

/// `wsprobe check --format json` on `yaml`, its log at debug level: (stdout, stderr).
fn check_json(yaml: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("django.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["check", "--format", "json", "--config"])
        .arg(&path)
        .env("DJANGO_PW", PASSWORD)
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .env_remove("WSPROBE_CONFIG")
        .output()
        .expect("wsprobe runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_wrong_password_csrf_left_out_and_origins_are_each_named() {
    let Some(site) = Django::start(PASSWORD).await else {
        return;
    };
    let origin = site.origin();

    // Django refuses a wrong password by showing its form again: 200, and no session cookie.
    let wrong = probe(&yaml(&site, true, Some(&origin)), "not-the-password").await;
    assert_says(
        &wrong,
        Verdict::TokenFailed,
        &[
            "/accounts/login/ (HTTP 200) set no session cookie",
            "credentials were likely refused",
            "Please enter a correct username and password",
            "auth layer, the server acted",
        ],
    );
    assert_eq!(wrong.attempts, 0, "no WebSocket was attempted");
    assert!(wrong.phases_ms.login.is_some());
    assert!(!wrong.diagnosis.contains("not-the-password"));

    // Without the CSRF token Django's CsrfViewMiddleware answers 403 before the view.
    let no_csrf = probe(&yaml(&site, false, Some(&origin)), PASSWORD).await;
    assert_says(
        &no_csrf,
        Verdict::TokenFailed,
        &[
            "answered HTTP 403",
            "CSRF verification failed",
            "wsprobe sent no CSRF token: set auth.csrf",
        ],
    );
    assert_eq!(no_csrf.http_status, Some(403));

    // Channels' AllowedHostsOriginValidator refuses an upgrade without an Origin, and one from
    // another site.
    let no_origin = probe(&yaml(&site, true, None), PASSWORD).await;
    assert_says(
        &no_origin,
        Verdict::UpgradeRejected,
        &["HTTP 403", "sent no Origin header", "may require an Origin"],
    );
    assert!(no_origin.headers.sent.contains_key("cookie"));
    let elsewhere = probe(&yaml(&site, true, Some("https://evil.example")), PASSWORD).await;
    assert_says(
        &elsewhere,
        Verdict::UpgradeRejected,
        &["refused the upgrade from the Origin wsprobe sent (https://evil.example)"],
    );
}
