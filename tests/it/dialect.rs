//! What a browser or a framework's client sends besides a header token, over real sockets to
//! the lab: a token in the URL (fetched with a form-encoded OAuth2 request), the `Origin`, and
//! the synthetic-request baggage, each checked where it arrived.

use serde_json::Value;
use wsprobe::probe::{ProbeResult, Prober, Verdict};

use crate::helpers::{TestLab, config, spawn_lab};

async fn probe(lab: &TestLab, environment: &str, vars: &[(&str, &str)]) -> ProbeResult {
    let config = config(&format!("environments:\n{environment}"), lab, vars);
    Prober::for_config(&config)
        .probe(&config.environments[0])
        .await
}

/// What the lab's backend reports having received on the upgrade, from its welcome.
fn received(result: &ProbeResult) -> Value {
    let welcome: Value = serde_json::from_str(&result.messages[0]).unwrap();
    welcome["data"]["headers_received"].clone()
}

/// The lab's welcome as the ready check: the probe waits for it, and it reports the headers.
const WELCOME: &str =
    "    steps:\n      - expect: { json: { /data/event: connection_established } }\n";

const OAUTH_FORM: &str = "form: { grant_type: client_credentials, client_id: wsprobe-lab, client_secret: \"${CLIENT_SECRET}\" }";

#[tokio::test]
async fn a_token_from_a_form_encoded_oauth2_request_goes_in_the_urls_query_and_stays_secret() {
    let lab = spawn_lab().await;
    let secret = wsprobe::lab::OAUTH_CLIENT_SECRET;
    let environment = format!(
        "  - name: query\n    url: ws://${{LAB}}/ws/query-token?v=2&token={{token}}\n    auth:\n      kind: token_endpoint\n      url: http://${{LAB}}/oauth/token\n      {OAUTH_FORM}\n    steps:\n      - expect: {{ json: {{ /data/event: connection_established }} }}\n"
    );
    let result = probe(&lab, &environment, &[("CLIENT_SECRET", secret)]).await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
    // The lab checked the form's media type and fields, then the query's token against it.
    let issued = lab.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        result.url,
        format!("ws://{}/ws/query-token?…", lab.addr()),
        "the query is not shown"
    );
    // The URL carries the token, so no Authorization header is added.
    assert_eq!(received(&result)["authorization"], "[MISSING]");
    let json = serde_json::to_string(&result).unwrap();
    for hidden in [issued[0].as_str(), secret] {
        assert!(!json.contains(hidden), "{hidden} in {json}");
    }

    // The wrong client secret: the endpoint's RFC 6749 refusal, the secret nowhere.
    let refused = probe(&lab, &environment, &[("CLIENT_SECRET", "not-the-secret")]).await;
    assert_eq!(
        refused.verdict,
        Verdict::TokenFailed,
        "{}",
        refused.diagnosis
    );
    assert_eq!(refused.http_status, Some(401));
    assert!(
        refused.diagnosis.contains("client authentication failed"),
        "{}",
        refused.diagnosis
    );
    assert!(
        !serde_json::to_string(&refused)
            .unwrap()
            .contains("not-the-secret")
    );
}

#[tokio::test]
async fn a_url_token_is_percent_encoded_and_scrubbed_wherever_it_comes_back() {
    let lab = spawn_lab().await;
    // The lab closes with the query's `reason`, decoded: the token exactly as configured, so
    // a `+`, `/`, `=` or `&` in it survived the URL, and the close reason shows it redacted.
    let token = "t0k+en/with=odd&chars";
    let environment = format!(
        "  - name: close\n    url: ws://${{LAB}}/ws/close/4000?reason={{token}}\n    auth: {{ kind: bearer, token: \"${{TOKEN}}\" }}\n{WELCOME}"
    );
    let result = probe(&lab, &environment, &[("TOKEN", token)]).await;
    assert_eq!(result.close_code, Some(4000), "{}", result.diagnosis);
    assert_eq!(result.close_reason.as_deref(), Some("[redacted]"));
    assert!(!serde_json::to_string(&result).unwrap().contains("t0k"));

    // A token the lab never issued: refused at the upgrade, the token nowhere in the result.
    let environment = "  - name: query\n    url: ws://${LAB}/ws/query-token?access_token={token}\n    auth: { kind: bearer, token: \"${TOKEN}\" }\n";
    let refused = probe(&lab, environment, &[("TOKEN", token)]).await;
    assert_eq!(refused.verdict, Verdict::UpgradeRejected);
    assert_eq!(refused.http_status, Some(401));
    assert!(!serde_json::to_string(&refused).unwrap().contains("t0k"));
}

#[tokio::test]
async fn the_origin_is_sent_and_a_refusal_weighs_it() {
    let lab = spawn_lab().await;
    let own = format!("http://{}", lab.addr());
    let with = |origin: &str| {
        format!("  - name: origin\n    url: ws://${{LAB}}/ws/origin\n{origin}{WELCOME}")
    };
    let accepted = probe(&lab, &with("    origin: http://${LAB}\n"), &[]).await;
    assert_eq!(accepted.verdict, Verdict::Ok, "{}", accepted.diagnosis);
    assert_eq!(received(&accepted)["origin"], own.as_str());
    assert_eq!(accepted.headers.sent.get("origin"), Some(&own));

    let none = probe(&lab, &with(""), &[]).await;
    assert_eq!(none.verdict, Verdict::UpgradeRejected);
    for words in [
        "HTTP 403",
        "sent no Origin header",
        "may require an Origin",
        "origin required",
    ] {
        assert!(none.diagnosis.contains(words), "{}", none.diagnosis);
    }

    let other = probe(&lab, &with("    origin: https://app.example.com\n"), &[]).await;
    assert_eq!(other.verdict, Verdict::UpgradeRejected);
    assert!(
        other
            .diagnosis
            .contains("refused the upgrade from the Origin wsprobe sent (https://app.example.com)"),
        "{}",
        other.diagnosis
    );
}

#[tokio::test]
async fn synthetic_baggage_crosses_the_socket_unless_turned_off() {
    let lab = spawn_lab().await;
    let healthy = "  - name: healthy\n    url: ws://${LAB}/ws/healthy\n";
    let rows = [
        ("", "synthetic_request=true"),
        (
            "    headers: { baggage: \"tenant=acme\" }\n",
            "tenant=acme,synthetic_request=true",
        ),
        ("    synthetic_baggage: false\n", "[MISSING]"),
    ];
    for (extra, arrived) in rows {
        let result = probe(&lab, &format!("{healthy}{extra}{WELCOME}"), &[]).await;
        assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
        assert_eq!(received(&result)["baggage"], arrived, "{extra}");
    }
}

/// A session login whose JSON answer carries a token (`login.token_pointer`): the token fills
/// `{token}` in the URL, as the SPEC's chat example writes it, and stays secret. The lab's
/// OAuth2 endpoint stands in for such a login: it answers `{"access_token": …}` and the
/// socket checks the token in its query. A pointer to nothing is named as such.
#[tokio::test]
async fn a_login_answer_s_token_fills_the_url_template() {
    let lab = spawn_lab().await;
    let secret = wsprobe::lab::OAUTH_CLIENT_SECRET;
    let environment = |pointer: &str| {
        format!(
            "  - name: spa\n    url: ws://${{LAB}}/ws/query-token?token={{token}}\n    auth:\n      kind: session\n      login: {{ url: \"http://${{LAB}}/oauth/token\", {OAUTH_FORM}, token_pointer: {pointer} }}\n{WELCOME}"
        )
    };
    let result = probe(
        &lab,
        &environment("/access_token"),
        &[("CLIENT_SECRET", secret)],
    )
    .await;
    assert_eq!(result.verdict, Verdict::Ok, "{}", result.diagnosis);
    assert!(result.phases_ms.login.is_some(), "the login phase ran");
    let issued = lab.issued_tokens();
    assert_eq!(issued.len(), 1, "the socket was given the login's token");
    let json = serde_json::to_string(&result).unwrap();
    assert!(
        !json.contains(issued[0].as_str()),
        "the token is secret: {json}"
    );

    let missing = probe(&lab, &environment("/token"), &[("CLIENT_SECRET", secret)]).await;
    assert_eq!(
        missing.verdict,
        Verdict::TokenFailed,
        "{}",
        missing.diagnosis
    );
    assert!(
        missing.diagnosis.contains("carried no token at /token"),
        "{}",
        missing.diagnosis
    );
}
