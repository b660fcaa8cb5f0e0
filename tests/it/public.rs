//! The public page (`server.public`) and incident notes on the real daemon: a note posted over
//! HTTP reaches both pages, both feeds and a recording webhook; and a page built while servers
//! close with markup, send markers in messages and headers, and sit at marked URLs shows none
//! of it, nor any diagnosis, nor any configured URL.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::SinkExt as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::receiver::Receiver;
use crate::helpers::{App, PATIENCE, env_status, free_port, spawn_app};

const TOKEN: &str = "test-admin-token";

async fn post_note(app: &App, id: i64, token: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/incidents/{id}/notes", app.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn fetch(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Every environment's open incident, once each named one has one.
async fn open_incidents(app: &App, names: &[&str]) -> Vec<(String, i64)> {
    let status = app
        .wait_for("an incident open for each failing environment", |status| {
            names
                .iter()
                .all(|name| env_status(status, name)["open_incident"].is_i64())
        })
        .await;
    names
        .iter()
        .map(|name| {
            let id = env_status(&status, name)["open_incident"].as_i64().unwrap();
            ((*name).to_owned(), id)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_reaches_both_pages_both_feeds_and_the_incident_s_webhook() {
    let hook = Receiver::spawn().await;
    let public = free_port();
    let envs = r#"
  - name: broken
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
"#;
    let extra = format!(
        "server: {{ admin_token: {TOKEN}, public: {{ listen: \"{public}\", title: Acme }} }}\n\
         alerts:\n  defaults: {{ failure_threshold: 1 }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
        hook.url("/hook")
    );
    let mut app = spawn_app(envs, &extra).await;
    let id = open_incidents(&app, &["broken"]).await[0].1;
    hook.wait_for(1).await;

    let note = json!({ "status": "identified", "message": "The <b>pool</b> is exhausted\nrestarting", "author": "Ana Q. Author" });
    let (status, refused) = post_note(&app, id, "guess", &note).await;
    assert_eq!(status, 401, "{refused}");
    let (status, unknown) = post_note(&app, id + 1000, TOKEN, &note).await;
    assert_eq!(status, 404, "{unknown}");
    let (status, stored) = post_note(&app, id, TOKEN, &note).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(
        stored["message"],
        "The <b>pool</b> is exhausted\nrestarting"
    );

    // Sent to the incident's channel as an update.
    let started = Instant::now();
    let sent = loop {
        let requests = hook.requests();
        if let Some(sent) = requests
            .iter()
            .find(|r| r.header("x-wsprobe-event") == Some("note"))
        {
            break sent.clone();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no note reached the webhook: {requests:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let body = sent.json();
    assert_eq!(body["event"], "note");
    assert_eq!(body["environment"], "broken");
    assert_eq!(body["incident"]["id"], id);
    assert_eq!(body["incident"]["state"], "open");
    assert_eq!(body["note"], stored);
    assert_eq!(body["result"], Value::Null);

    // The on-call page and feed, the public page, JSON and feed.
    let escaped = "The &lt;b&gt;pool&lt;/b&gt; is exhausted\nrestarting";
    let (_, env_page) = app.get("/environments/broken").await;
    assert!(env_page.contains(escaped), "{env_page}");
    assert!(env_page.contains("Ana Q. Author"));
    let (_, feed) = app.get("/feed.atom").await;
    assert!(feed.contains("<title>broken incident #"), "{feed}");
    assert!(
        feed.contains("Identified: The &lt;b&gt;pool&lt;/b&gt;"),
        "{feed}"
    );
    let base = format!("http://{public}");
    let (status, page) = fetch(&format!("{base}/")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Acme</h1>"), "{page}");
    assert!(page.contains(escaped), "{page}");
    assert!(
        !page.contains("Ana Q. Author"),
        "the public page names no author"
    );
    let (_, json) = fetch(&format!("{base}/status.json")).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["incidents"][0]["notes"][0]["status"], "identified");
    let (_, public_feed) = fetch(&format!("{base}/feed.atom")).await;
    assert!(
        public_feed.contains("<title>broken: Identified</title>"),
        "{public_feed}"
    );
    let (status, _) = fetch(&format!("{base}/api/v1/status")).await;
    assert_eq!(status, 404, "nothing but the public page on its listener");
    app.shutdown().await.unwrap();
}

/// Markers a hostile server puts everywhere it can, and the configured URL and header carry.
const MARKERS: [&str; 7] = [
    "MARK-CLOSE-7f3a",
    "MARK-MSG-7f3a",
    "MARK-URL-7f3a",
    "MARK-HDR-7f3a",
    "MARK-PATH-7f3a",
    "MARK-QUERY-7f3a",
    "MARK-KEY-7f3a",
];

/// Adds a marked header to the upgrade's answer.
struct MarkedHeader;

impl Callback for MarkedHeader {
    fn on_request(self, _: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        response
            .headers_mut()
            .insert("x-leak", "MARK-HDR-7f3a <i>".parse().unwrap());
        Ok(response)
    }
}

/// A WebSocket server that answers the upgrade with a marked header, sends a marked message
/// with markup and a link, and closes 1011 with markup in the reason.
async fn hostile_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, MarkedHeader).await
                else {
                    return;
                };
                let message = r#"{"type":"error","detail":"MARK-MSG-7f3a <script>alert(1)</script> https://leak.example/MARK-URL-7f3a"}"#;
                let _ = ws.send(Message::text(message)).await;
                let close = CloseFrame {
                    code: CloseCode::Error,
                    reason: "<script>MARK-CLOSE-7f3a</script>".into(),
                };
                let _ = ws.close(Some(close)).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_page_shows_nothing_a_probed_server_said_nor_any_url() {
    let hostile = hostile_server().await;
    let envs = format!(
        r#"
  - name: hostile
    url: "ws://{hostile}/ws/MARK-PATH-7f3a?token=MARK-QUERY-7f3a"
    headers: {{ X-Api-Key: MARK-KEY-7f3a }}
    steps: [ {{ expect: {{ json: {{ /type: welcome }} }} }} ]
  - name: html-close
    url: ws://${{LAB}}/ws/html-close
    steps: [ {{ expect: {{ json: {{ /type: system_message }} }} }} ]
  - name: strip-auth
    url: ws://${{LAB}}/ws/strip-auth
    auth: {{ kind: bearer, token: lab-bearer-token-7f3a }}
    steps: [ {{ expect: {{ json: {{ /type: system_message }} }} }} ]
  - name: error-message
    url: ws://${{LAB}}/ws/error-message
    steps: [ {{ expect: {{ json: {{ /type: system_message }} }} }} ]
  - name: healthy
    url: ws://${{LAB}}/ws/healthy
    health: {{ url: "http://${{LAB}}/health" }}
"#
    );
    let extra = format!(
        "server: {{ admin_token: {TOKEN}, public: {{ path: /public }} }}\n\
         alerts:\n  defaults: {{ failure_threshold: 1 }}\n"
    );
    let mut app = spawn_app(&envs, &extra).await;
    let failing = ["hostile", "html-close", "strip-auth", "error-message"];
    let incidents = open_incidents(&app, &failing).await;
    for (_, id) in &incidents {
        let note = json!({ "status": "investigating", "message": "Looking into it <b>now</b>" });
        let (status, body) = post_note(&app, *id, TOKEN, &note).await;
        assert_eq!(status, 201, "{body}");
    }

    // The markers were there to leak: on-call's page has them (escaped).
    let (_, hostile_page) = app.get("/environments/hostile").await;
    for marker in [
        "MARK-CLOSE-7f3a",
        "MARK-MSG-7f3a",
        "MARK-HDR-7f3a",
        "MARK-PATH-7f3a",
    ] {
        assert!(
            hostile_page.contains(marker),
            "{marker} not on the on-call page"
        );
    }
    let status = app.get_json("/api/v1/status").await;
    let mut internal: Vec<String> = Vec::new();
    for env in status["environments"].as_array().unwrap() {
        for key in ["diagnosis"] {
            if let Some(text) = env[key].as_str() {
                internal.push(text.to_owned());
            }
        }
        if let Some(reason) = env["last_result"]["close_reason"].as_str() {
            internal.push(reason.to_owned());
        }
        if let Some(url) = env["last_result"]["url"].as_str() {
            internal.push(url.to_owned());
        }
    }
    assert!(internal.len() >= failing.len() * 2, "{internal:?}");

    let lab = app.lab.addr().to_string();
    let forbidden: Vec<&str> = MARKERS
        .iter()
        .copied()
        .chain(internal.iter().map(String::as_str))
        .chain([
            lab.as_str(),
            "127.0.0.1",
            "ws://",
            "lab-bearer-token-7f3a",
            TOKEN,
        ])
        .chain(["closed_before_ready", "headers_stripped", "<script"])
        .collect();
    for path in [
        "/public/",
        "/public/status.json",
        "/public/feed.atom",
        "/public/badge/hostile.svg",
        "/public/badge/strip-auth.svg?kind=uptime&window=7d",
    ] {
        let (code, body) = app.get(path).await;
        assert_eq!(code, 200, "{path}: {body}");
        for text in &forbidden {
            assert!(!body.contains(text), "{path} shows {text:?}:\n{body}");
        }
    }
    let (_, page) = app.get("/public/").await;
    for name in failing {
        assert!(
            page.contains(&format!("id=\"environment-{name}\"")),
            "{name} listed: {page}"
        );
    }
    // A note is a person's text: there, and as text, not markup (JSON carries it as written).
    assert!(
        page.contains("Looking into it &lt;b&gt;now&lt;/b&gt;"),
        "the notes are there: {page}"
    );
    assert!(!page.contains("<b>now"), "{page}");
    app.shutdown().await.unwrap();
}
