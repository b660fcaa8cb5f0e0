//! The incident endpoints through the router: notes, acknowledgements and silences, each
//! with its admin token, its refusals and what it leaves in the store, the pages and the queue.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use serde_json::Value;

use super::*;

/// Incident `id` of `env` in the store, opened at `at(0)` with `diagnosis`; resolved at
/// `at(600)` when `resolved`.
pub(in crate::web) async fn seed_incident(
    store: &Store,
    id: i64,
    env: &str,
    diagnosis: &str,
    resolved: bool,
) {
    let open = crate::incident::Open {
        since: at(-60),
        opened_at: at(0),
        verdict: Verdict::ClosedBeforeReady,
        last_notice_at: at(0),
        announced: true,
        acknowledged: false,
        flapping: false,
    };
    let mut tx = store.alerts().begin_alerts(env).await.unwrap();
    tx.insert_incident(id, &open, diagnosis).await.unwrap();
    if resolved {
        tx.resolve_incident(id, at(600)).await.unwrap();
    }
    tx.commit().await.unwrap();
}

pub(in crate::web) fn note_request(id: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post(format!("/api/v1/incidents/{id}/notes"));
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

const NOTE: &str =
    r#"{"status": "identified", "message": "The <b>pool</b> & the DB", "author": "ana"}"#;

#[tokio::test]
async fn a_note_needs_the_admin_token_a_good_body_and_a_known_incident() {
    let with_incident = || async {
        let source = FakeSource::with_admin().await;
        seed_incident(&source.store, 1, "api", "closed", false).await;
        source
    };
    let cases = [
        (note_request("1", None, NOTE), StatusCode::UNAUTHORIZED),
        (
            note_request("1", Some("guess"), NOTE),
            StatusCode::UNAUTHORIZED,
        ),
        (
            note_request("1", Some(ADMIN_TOKEN), r#"{"message": ""}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            note_request(
                "1",
                Some(ADMIN_TOKEN),
                r#"{"status": "fixed", "message": "x"}"#,
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            note_request("one", Some(ADMIN_TOKEN), NOTE),
            StatusCode::BAD_REQUEST,
        ),
        (
            note_request("2", Some(ADMIN_TOKEN), NOTE),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (request, want) in cases {
        let what = format!(
            "{} {:?}",
            request.uri(),
            request.headers().get(header::AUTHORIZATION)
        );
        let answer = send(with_incident().await, request).await;
        assert_eq!(answer.status, want, "{what}: {}", answer.body);
        assert!(answer.json()["error"].is_string(), "{what}: a JSON error");
    }
    let off = FakeSource::new("{}").await;
    seed_incident(&off.store, 1, "api", "closed", false).await;
    let answer = send(off, note_request("1", Some(ADMIN_TOKEN), NOTE)).await;
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "no admin token configured"
    );

    let source = with_incident().await;
    let store = source.store.clone();
    let answer = send(source, note_request("1", Some(ADMIN_TOKEN), NOTE)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let note = answer.json();
    assert_eq!(note["incident_id"], 1);
    assert_eq!(note["status"], "identified");
    assert_eq!(note["message"], "The <b>pool</b> & the DB");
    assert_eq!(note["author"], "ana");
    assert!(note["id"].is_i64() && note["created_at"].is_string());
    let stored = store.alerts().incident(1).await.unwrap().unwrap();
    assert_eq!(stored.notes.len(), 1);
    assert_eq!(stored.notes[0].message, "The <b>pool</b> & the DB");
}

#[tokio::test]
async fn a_note_is_on_the_environment_page_in_the_incidents_and_the_feed_and_queued() {
    let source = FakeSource::from_yaml(&format!(
        "environments:\n  - name: api\n    url: wss://api.example.com/ws\n\
         server: {{ admin_token: {ADMIN_TOKEN} }}\n\
         alerts:\n  channels:\n    - {{ name: hook, kind: webhook, url: \"http://127.0.0.1:9/hook\" }}\n"
    ))
    .await;
    seed_incident(&source.store, 1, "api", "closed", false).await;
    let store = source.store.clone();
    let source = Arc::new(source);
    let answer = send_to(
        router(source.clone()),
        note_request("1", Some(ADMIN_TOKEN), NOTE),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);

    let incidents = send_to(
        router(source.clone()),
        Request::get("/api/v1/incidents")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let incidents = incidents.json();
    assert_eq!(
        incidents["incidents"][0]["notes"][0]["status"],
        "identified"
    );
    let page = send_to(
        router(source.clone()),
        Request::get("/environments/api")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(page.body.contains("<b>Identified</b> — <span class=\"note-message\">The &lt;b&gt;pool&lt;/b&gt; &amp; the DB</span>"), "{}", page.body);
    assert!(page.body.contains("· ana"), "on-call sees who wrote it");
    let feed = send_to(
        // A clone: `source` owns the store's directory, which must outlive the queue check.
        router(source.clone()),
        Request::get("/feed.atom").body(Body::empty()).unwrap(),
    )
    .await;
    let document = roxmltree::Document::parse(&feed.body).expect("the feed is XML");
    let note = document
        .descendants()
        .find(|n| n.has_tag_name("category") && n.attribute("term") == Some("note"))
        .and_then(|c| c.parent())
        .expect("a note entry");
    let text = |tag: &str| {
        note.children()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(text("title"), "api incident #1: Identified");
    assert_eq!(
        text("summary"),
        "Identified: The <b>pool</b> & the DB — ana"
    );

    // Queued for the incident's channel, as a `note` carrying the note.
    let due = store
        .alerts()
        .due_notifications(Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].channel.as_str(), due[0].event.as_str()),
        ("hook", "note")
    );
    let payload: Value = serde_json::from_str(&due[0].payload).unwrap();
    assert_eq!(payload["note"]["message"], "The <b>pool</b> & the DB");
    assert_eq!(payload["incident"]["id"], 1);
    assert_eq!(payload["result"], Value::Null);
}

/// A request with a JSON body (as text: malformed ones too) and, when given, the token.
fn admin_request(method: &str, uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn acknowledging_takes_the_admin_token_and_an_open_incident() {
    let source = FakeSource::with_admin().await;
    seed_incident(&source.store, 1, "api", "closed 1011", false).await;
    seed_incident(&source.store, 2, "api", "closed 1011", true).await;
    let (open, resolved) = (1, 2);
    let app = router(Arc::new(source));
    let ack = |id: i64, token: Option<&str>, body: &str| {
        admin_request("POST", &format!("/api/v1/incidents/{id}/ack"), token, body)
    };
    let good = r#"{ "by": "alice", "comment": "looking into it <b>now</b>" }"#;

    let refused = call(&app, ack(open, None, good)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert_eq!(refused.headers[header::WWW_AUTHENTICATE], "Bearer");
    let guessed = call(&app, ack(open, Some("guess"), "not even JSON")).await;
    assert_eq!(guessed.status, StatusCode::UNAUTHORIZED, "the token first");
    #[rustfmt::skip]
    let bad = [
        ("/api/v1/incidents/1/ack", "{}", StatusCode::BAD_REQUEST, "by is required"),
        ("/api/v1/incidents/1/ack", "not JSON", StatusCode::BAD_REQUEST, "not the JSON expected"),
        ("/api/v1/incidents/1/ack", r#"{ "who": "alice" }"#, StatusCode::BAD_REQUEST, "unknown field `who`"),
        ("/api/v1/incidents/abc/ack", good, StatusCode::BAD_REQUEST, "incident id \"abc\" is not a number"),
        ("/api/v1/incidents/99/ack", good, StatusCode::NOT_FOUND, "no incident 99"),
        ("/api/v1/incidents/2/ack", good, StatusCode::CONFLICT, "incident 2 is resolved"),
    ];
    for (uri, body, want, says) in bad {
        let answer = call(&app, admin_request("POST", uri, Some(ADMIN_TOKEN), body)).await;
        assert_eq!(answer.status, want, "{uri} {body}: {}", answer.body);
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(says), "{uri} {body}: {error}");
    }
    assert_eq!(resolved, 2);

    let done = call(&app, ack(open, Some(ADMIN_TOKEN), good)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let incident = done.json();
    assert_eq!(incident["id"], open);
    assert_eq!(incident["acknowledged"]["by"], "alice");
    assert_eq!(
        incident["acknowledged"]["comment"],
        "looking into it <b>now</b>"
    );
    assert!(
        incident["acknowledged"]["at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let again = call(&app, ack(open, Some(ADMIN_TOKEN), r#"{ "by": "bob" }"#)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.body.contains("already acknowledged by alice"),
        "{}",
        again.body
    );

    let listed = call(
        &app,
        Request::get("/api/v1/incidents?state=open")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(listed.json()["incidents"][0]["acknowledged"]["by"], "alice");
    let page = call(
        &app,
        Request::get("/environments/api")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        page.body.contains("acknowledged by <b>alice</b>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("looking into it &lt;b&gt;now"),
        "escaped"
    );

    let off = FakeSource::new("{}").await;
    let answer = send(off, ack(open, Some(ADMIN_TOKEN), good)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
}

#[tokio::test]
async fn silences_are_added_listed_and_expired_through_the_api() {
    let app = router(Arc::new(FakeSource::with_admin().await));
    let in_an_hour = crate::wire::format(Utc::now() + chrono::Duration::hours(1));
    let an_hour_ago = crate::wire::format(Utc::now() - chrono::Duration::hours(1));
    let good = serde_json::json!({
        "matchers": { "environment": "api", "verdict": "connect_*" },
        "ends_at": in_an_hour, "comment": "deploy <script>", "created_by": "alice",
    })
    .to_string();
    let post =
        |token: Option<&str>, body: &str| admin_request("POST", "/api/v1/silences", token, body);

    let refused = call(&app, post(None, &good)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    #[rustfmt::skip]
    let bad = [
        (serde_json::json!({ "matchers": { "environment": "api" }, "comment": "c", "created_by": "a" }), "ends_at is required"),
        (serde_json::json!({ "matchers": { "environment": "api" }, "ends_at": an_hour_ago, "comment": "c", "created_by": "a" }), "is not in the future"),
        (serde_json::json!({ "matchers": {}, "ends_at": in_an_hour, "comment": "c", "created_by": "a" }), "at least one of"),
        (serde_json::json!({ "matchers": { "environment": "nope" }, "ends_at": in_an_hour, "comment": "c", "created_by": "a" }), "no environment named \"nope\""),
        (serde_json::json!({ "matchers": { "verdict": "broken" }, "ends_at": in_an_hour, "comment": "c", "created_by": "a" }), "is not a verdict"),
        (serde_json::json!({ "matchers": { "environment": "api" }, "ends_at": "soon", "comment": "c", "created_by": "a" }), "not an RFC 3339 time"),
    ];
    for (body, says) in bad {
        let answer = call(&app, post(Some(ADMIN_TOKEN), &body.to_string())).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(says), "{body}: {error}");
    }

    let made = call(&app, post(Some(ADMIN_TOKEN), &good)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let silence = made.json();
    let id = silence["id"].as_i64().unwrap();
    assert_eq!(silence["state"], "active");
    assert_eq!(silence["matchers"]["environment"], "api");
    assert_eq!(silence["matchers"]["location"], Value::Null);
    assert_eq!(silence["created_by"], "alice");
    assert_eq!(silence["expired_at"], Value::Null);

    let list = |uri: &'static str| Request::get(uri).body(Body::empty()).unwrap();
    let listed = call(&app, list("/api/v1/silences")).await.json();
    assert_eq!(listed["silences"][0]["id"], id, "no token needed to read");
    let status = call(&app, list("/api/v1/status")).await.json();
    assert_eq!(status["silences"][0]["id"], id);
    let page = call(&app, list("/")).await;
    assert!(
        page.body.contains(&format!("id=\"silence-{id}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("deploy &lt;script&gt;"), "escaped");

    let delete = |token: Option<&str>, id: &str| {
        admin_request("DELETE", &format!("/api/v1/silences/{id}"), token, "")
    };
    assert_eq!(
        call(&app, delete(None, &id.to_string())).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, delete(Some(ADMIN_TOKEN), "999")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, delete(Some(ADMIN_TOKEN), "x")).await.status,
        StatusCode::BAD_REQUEST
    );
    let expired = call(&app, delete(Some(ADMIN_TOKEN), &id.to_string())).await;
    assert_eq!(expired.status, StatusCode::OK, "{}", expired.body);
    assert_eq!(expired.json()["state"], "expired");
    assert!(expired.json()["expired_at"].is_string());
    let again = call(&app, delete(Some(ADMIN_TOKEN), &id.to_string())).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("already ended"), "{}", again.body);

    let current = call(&app, list("/api/v1/silences")).await.json();
    assert_eq!(current["silences"], serde_json::json!([]));
    let all = call(&app, list("/api/v1/silences?all=true")).await.json();
    assert_eq!(all["silences"][0]["id"], id, "kept for history");
    assert_eq!(all["silences"][0]["state"], "expired");
    let bad = call(&app, list("/api/v1/silences?all=maybe")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}
