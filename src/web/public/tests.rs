//! The public page through the routers, one request each, against the web tests' fake
//! source: what it shows, what it never shows, where it is served and what is not served there.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::probe::Status;
use crate::web::tests::{
    ADMIN_TOKEN, Answer, FakeSource, HOSTILE, note_request, result, seed_incident, send_to,
};
use crate::web::{public_router, router};

/// `api` down with a hostile diagnosis and an open incident with a note; `internal` not
/// shown; a resolved incident of each.
async fn source(public: &str) -> Arc<FakeSource> {
    let mut source = FakeSource::from_yaml(&format!(
        "environments:\n  - name: api\n    url: wss://api.example.com/ws?token=s3cr3t-query\n\
         \x20 - name: internal\n    url: wss://internal.example.com/ws\n\
         server: {{ admin_token: {ADMIN_TOKEN}, public: {public} }}\n"
    ))
    .await;
    source.latest = Some(Arc::new(result("api", 0, Status::Down, HOSTILE)));
    seed_incident(&source.store, 1, "api", HOSTILE, false).await;
    seed_incident(
        &source.store,
        2,
        "internal",
        "internal-only diagnosis",
        true,
    )
    .await;
    seed_incident(&source.store, 3, "api", "an earlier failure", true).await;
    let source = Arc::new(source);
    let note = r#"{"status": "identified", "message": "Fixing <i>it</i> & more", "author": "Ana Q. Author"}"#;
    let added = send_to(
        router(source.clone()),
        note_request("1", Some(ADMIN_TOKEN), note),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    source
}

async fn get(router: axum::Router, uri: &str) -> Answer {
    send_to(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// What must never reach the public page: the diagnoses, the URLs, the verdict, the author,
/// the hidden environment, the admin token.
fn assert_nothing_internal(what: &str, body: &str) {
    for secret in [
        "script",
        "alert(",
        "owned",
        "api.example.com",
        "wss://",
        "s3cr3t",
        "closed_before_ready",
        "an earlier failure",
        "internal",
        "Q. Author",
        ADMIN_TOKEN,
        "/environments/",
        "/api/v1",
    ] {
        assert!(!body.contains(secret), "{what} shows {secret:?}: {body}");
    }
}

#[tokio::test]
async fn the_public_page_shows_status_uptime_incidents_and_notes_and_nothing_else() {
    let source = source("{ path: /status, title: \"Acme <status>\", environments: [api] }").await;
    let page = get(router(source.clone()), "/status/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let html = &page.body;
    assert!(html.contains("<h1>Acme &lt;status&gt;</h1>"), "{html}");
    assert!(html.contains("Major outage"), "{html}");
    assert!(
        html.contains("id=\"incident-1\""),
        "the open incident: {html}"
    );
    assert!(
        html.contains("id=\"incident-3\""),
        "a resolved one of the last 14 days: {html}"
    );
    assert!(
        !html.contains("id=\"incident-2\""),
        "not of a hidden environment"
    );
    assert!(
        html.contains(
            "<b>Identified</b> — <span class=\"note-message\">Fixing &lt;i&gt;it&lt;/i&gt; &amp; more</span>"
        ),
        "{html}"
    );
    assert!(
        html.contains("svg class=\"days\""),
        "the 90 daily bars: {html}"
    );
    assert_nothing_internal("the page", html);

    let json = get(router(source.clone()), "/status/status.json").await;
    assert_eq!(json.status, StatusCode::OK);
    assert_nothing_internal("status.json", &json.body);
    let json = json.json();
    assert_eq!(json["title"], "Acme <status>");
    assert_eq!(json["status"], "down");
    assert_eq!(json["environments"].as_array().unwrap().len(), 1);
    assert_eq!(json["environments"][0]["name"], "api");
    assert_eq!(json["environments"][0]["open_incident"], 1);
    assert_eq!(json["incidents"][0]["id"], 1);
    assert_eq!(json["incidents"][0]["state"], "open");
    assert_eq!(
        json["incidents"][0]["notes"][0]["message"],
        "Fixing <i>it</i> & more"
    );
    assert_eq!(json["incidents"][0]["notes"][0].get("author"), None);
    assert_eq!(json["incidents"][1]["id"], 3);
    assert_eq!(json["incidents"][1]["duration_s"], 660);

    let feed = get(router(source.clone()), "/status/feed.atom").await;
    assert_eq!(feed.status, StatusCode::OK);
    let document = roxmltree::Document::parse(&feed.body).expect("the feed is XML");
    let titles: Vec<&str> = document
        .descendants()
        .filter(|n| n.has_tag_name("entry"))
        .filter_map(|e| e.children().find(|n| n.has_tag_name("title")))
        .filter_map(|n| n.text())
        .collect();
    assert!(titles.contains(&"api: Identified"), "{titles:?}");
    assert!(titles.contains(&"api recovered"), "{titles:?}");
    assert_nothing_internal("the public feed", &feed.body);

    let badge = get(router(source.clone()), "/status/badge/api.svg").await;
    assert_eq!(badge.status, StatusCode::OK);
    let hidden = get(router(source), "/status/badge/internal.svg").await;
    assert_eq!(
        hidden.status,
        StatusCode::NOT_FOUND,
        "no badge of a hidden environment"
    );
}

#[tokio::test]
async fn a_prefix_redirects_to_its_page_and_a_listener_of_its_own_serves_nothing_else() {
    let source = source("{ path: /status }").await;
    let bare = get(router(source.clone()), "/status").await;
    assert_eq!(bare.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers[header::LOCATION], "/status/");
    // The internal page is still where it was, beside the prefix.
    assert_eq!(get(router(source), "/").await.status, StatusCode::OK);

    let source = source_with_listener().await;
    let public = || public_router(source.clone());
    assert_eq!(get(public(), "/").await.status, StatusCode::OK);
    for uri in [
        "/api/v1/status",
        "/api/v1/incidents",
        "/environments/api",
        "/metrics",
        "/readyz",
        "/feed.atom/../api/v1/status",
    ] {
        let answer = get(public(), uri).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{uri}: {}",
            answer.body
        );
    }
    let note = send_to(
        public(),
        note_request("1", Some(ADMIN_TOKEN), r#"{"message": "x"}"#),
    )
    .await;
    assert_eq!(
        note.status,
        StatusCode::NOT_FOUND,
        "no admin API on the public listener"
    );
    let page = get(public(), "/").await;
    assert!(
        page.body.contains("href=\"status.json\""),
        "links are relative"
    );
    assert_nothing_internal("the page", &page.body);
}

async fn source_with_listener() -> Arc<FakeSource> {
    source("{ listen: \"127.0.0.1:0\", environments: [api] }").await
}
