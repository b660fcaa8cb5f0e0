//! A large fleet through the router: `GET /api/v1/status`'s pages, filters and summary, and
//! the overview that shows counts, the failing environments and a page of the rest.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use super::*;

fn name(i: usize) -> String {
    format!("env-{i:05}")
}

/// Down, degraded, not probed yet and up, spread through the fleet so that config order and
/// urgency order differ.
fn mixed(i: usize) -> Option<Status> {
    match i % 100 {
        7 | 70 => Some(Status::Down),
        42 => Some(Status::Degraded),
        99 => None,
        _ => Some(Status::Up),
    }
}

/// `size` environments `env-00000`…, in config order from the last name to the first; each
/// with the status `status_of` gives it, failures saying [`HOSTILE`].
async fn fleet(size: usize, status_of: fn(usize) -> Option<Status>) -> FakeSource {
    let mut yaml = String::from("environments:\n");
    for i in (0..size).rev() {
        yaml.push_str(&format!(
            "  - name: {}\n    url: wss://e.example.com/ws\n",
            name(i)
        ));
    }
    let mut source = FakeSource::from_yaml(&yaml).await;
    for i in 0..size {
        if let Some(status) = status_of(i) {
            let diagnosis = if status == Status::Up {
                "fine"
            } else {
                HOSTILE
            };
            let result = result(&name(i), 0, status, diagnosis);
            source.results.insert(name(i), Arc::new(result));
        }
    }
    source
}

fn names_with(size: usize, status: Option<Status>) -> Vec<String> {
    (0..size)
        .filter(|i| mixed(*i) == status)
        .map(name)
        .collect()
}

fn names(body: &Value) -> Vec<String> {
    body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|env| env["name"].as_str().unwrap().to_owned())
        .collect()
}

fn request(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

const SIZE: usize = 1203;

#[tokio::test]
async fn a_large_fleet_gets_its_first_page_failing_first_with_counts() {
    let app = router(Arc::new(fleet(SIZE, mixed).await));
    let answer = call(&app, request("/api/v1/status")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = answer.json();
    let summary = &body["summary"];
    let (down, degraded, unknown) = (
        names_with(SIZE, Some(Status::Down)),
        names_with(SIZE, Some(Status::Degraded)),
        names_with(SIZE, None),
    );
    let up = SIZE - down.len() - degraded.len() - unknown.len();
    assert_eq!(
        summary["by_status"],
        serde_json::json!({ "down": down.len(), "degraded": degraded.len(),
            "unknown": unknown.len(), "up": up })
    );
    assert_eq!(
        (&summary["total"], &summary["matched"], &summary["returned"]),
        (&Value::from(SIZE), &Value::from(SIZE), &Value::from(1000))
    );
    assert_eq!(summary["next_offset"], 1000);
    assert_eq!(summary["order"], "urgency");
    let listed = names(&body);
    let failing_first: Vec<String> = [down, degraded, unknown].concat();
    assert_eq!(listed[..failing_first.len()], failing_first[..]);
    assert_eq!(body["environments"][0]["status"], "down");
    assert!(body["generated_at"].is_string() && body["store"]["ok"] == true);
}

#[tokio::test]
async fn pages_of_a_filter_follow_next_offset_to_every_match_once() {
    let app = router(Arc::new(fleet(SIZE, mixed).await));
    let mut seen = Vec::new();
    let mut uri = "/api/v1/status?status=down,degraded&limit=7".to_owned();
    loop {
        let body = call(&app, request(&uri)).await.json();
        assert!(body["summary"]["returned"].as_u64().unwrap() <= 7);
        seen.extend(names(&body));
        match body["summary"]["next_offset"].as_u64() {
            Some(next) => {
                uri = format!("/api/v1/status?status=down,degraded&limit=7&offset={next}")
            }
            None => break,
        }
    }
    let want = [
        names_with(SIZE, Some(Status::Down)),
        names_with(SIZE, Some(Status::Degraded)),
    ]
    .concat();
    assert_eq!(seen, want);

    let past_the_end = call(&app, request("/api/v1/status?status=down&offset=5000")).await;
    let body = past_the_end.json();
    assert_eq!(body["environments"], serde_json::json!([]));
    assert_eq!(body["summary"]["next_offset"], Value::Null);
}

#[tokio::test]
async fn environment_takes_a_name_or_a_prefix() {
    let app = router(Arc::new(fleet(SIZE, mixed).await));
    let body = call(&app, request("/api/v1/status?environment=env-001*"))
        .await
        .json();
    let listed = names(&body);
    assert_eq!(body["summary"]["matched"], 100);
    assert_eq!(listed.len(), 100);
    assert!(listed.iter().all(|n| n.starts_with("env-001")));
    assert_eq!(listed[..2], [name(107), name(170)], "failing first");

    let body = call(&app, request("/api/v1/status?environment=env-00042"))
        .await
        .json();
    assert_eq!(names(&body), [name(42)]);
    assert_eq!(body["environments"][0]["status"], "degraded");
    let body = call(
        &app,
        request("/api/v1/status?environment=env-0004&status=up"),
    )
    .await;
    assert_eq!(
        names(&body.json()),
        Vec::<String>::new(),
        "exact, not a prefix"
    );
}

#[tokio::test]
async fn bad_paging_parameters_are_json_errors() {
    let app = router(Arc::new(fleet(3, mixed).await));
    for uri in [
        "/api/v1/status?status=sideways",
        "/api/v1/status?limit=0",
        "/api/v1/status?limit=1001",
        "/api/v1/status?limit=ten",
        "/api/v1/status?offset=-1",
    ] {
        let answer = call(&app, request(uri)).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            answer.body
        );
        assert!(answer.json()["error"].is_string(), "{uri}");
    }
}

#[tokio::test]
async fn a_small_fleet_gets_the_same_json_as_before_and_a_summary() {
    let source = Arc::new(fleet(3, |i| (i == 2).then_some(Status::Up)).await);
    let app = router(source.clone());
    let mut body = call(&app, request("/api/v1/status")).await.json();
    let summary = body.as_object_mut().unwrap().remove("summary").unwrap();
    assert_eq!(
        summary,
        serde_json::json!({ "total": 3, "by_status": { "down": 0, "degraded": 0, "unknown": 2,
            "up": 1 }, "order": "config", "matched": 3, "offset": 0, "returned": 3,
            "next_offset": null })
    );
    let before = serde_json::to_value(source.status().await).unwrap();
    assert_eq!(
        body, before,
        "every field as before, environments in config order"
    );
    assert_eq!(names(&body), [name(2), name(1), name(0)]);
}

/// The environment names linked from a page's rows.
fn rows(page: &str) -> Vec<String> {
    page.split("<a class=\"name\" href=\"/environments/")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn a_large_overview_shows_counts_the_failing_and_a_page_of_the_rest() {
    let app = router(Arc::new(fleet(SIZE, mixed).await));
    let page = call(&app, request("/")).await;
    assert_eq!(page.status, StatusCode::OK);
    let down = names_with(SIZE, Some(Status::Down));
    let degraded = names_with(SIZE, Some(Status::Degraded));
    let failing = [down.clone(), degraded.clone()].concat();
    let passing = SIZE - failing.len();
    assert!(
        page.body
            .contains(&format!("Down or degraded: {}", failing.len()))
    );
    assert!(
        page.body
            .contains(&format!("Not probed yet or up: {passing}"))
    );
    let pages = passing.div_ceil(200);
    assert!(
        page.body.contains(&format!("page 1 of {pages}")),
        "the pager"
    );
    assert!(page.body.contains("href=\"/?page=2\""));
    assert!(
        page.body.contains(&format!("<b>{}</b>", down.len())),
        "the count of down"
    );
    let shown = rows(&page.body);
    assert_eq!(
        shown[..failing.len()],
        failing[..],
        "every failing one first"
    );
    assert_eq!(shown.len(), failing.len() + 200, "and one page of the rest");
    assert!(page.body.contains("&lt;script&gt;") && !page.body.contains(HOSTILE));

    let second = call(&app, request("/?page=2")).await;
    assert!(second.body.contains(&format!("page 2 of {pages}")));
    let shown_second = rows(&second.body);
    assert_eq!(
        shown_second[..failing.len()],
        failing[..],
        "failing on every page"
    );
    let rest: Vec<&String> = shown_second[failing.len()..].iter().collect();
    assert_eq!(rest.len(), 200);
    assert!(rest.iter().all(|n| !shown.contains(n)), "a page of its own");

    let beyond = call(&app, request(&format!("/?page={}", pages + 9))).await;
    assert!(
        beyond.body.contains(&format!("page {pages} of {pages}")),
        "the last"
    );
    let nonsense = call(&app, request("/?page=%3Cb%3E")).await;
    assert!(nonsense.body.contains(&format!("page 1 of {pages}")));
}

#[tokio::test]
async fn failing_beyond_a_page_are_counted_and_linked() {
    let app = router(Arc::new(
        fleet(600, |i| {
            Some(if i % 2 == 0 { Status::Down } else { Status::Up })
        })
        .await,
    ));
    let page = call(&app, request("/")).await;
    assert!(page.body.contains("Down or degraded: 300"), "{}", page.body);
    assert!(page.body.contains("<b>100 more</b>"));
    assert!(
        page.body
            .contains("href=\"/api/v1/status?status=down,degraded&amp;offset=200\"")
    );
    assert_eq!(rows(&page.body).len(), 200 + 200);
}

#[tokio::test]
async fn a_small_overview_lists_every_environment() {
    let app = router(Arc::new(fleet(500, mixed).await));
    let page = call(&app, request("/?page=2")).await;
    assert_eq!(rows(&page.body).len(), 500);
    assert!(!page.body.contains("Down or degraded:") && !page.body.contains("page 1 of"));
}

#[tokio::test]
async fn an_environment_page_and_badge_find_theirs_in_a_large_fleet() {
    let app = router(Arc::new(fleet(SIZE, mixed).await));
    let page = call(&app, request("/environments/env-00107")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<h1>env-00107 <span class=\"pill down\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("&lt;script&gt;") && !page.body.contains(HOSTILE));
    let badge = call(&app, request("/badge/env-00042.svg")).await;
    assert!(badge.body.contains(">degraded</text>"), "{}", badge.body);
    let badge = call(&app, request("/badge/env-00099.svg")).await;
    assert!(badge.body.contains(">unknown</text>"), "{}", badge.body);
}
