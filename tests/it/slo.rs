//! SLOs: the `slo` key and its errors, the store's daily counts with maintenance left out (on
//! both backends), and the daemon probing the lab showing availability and the budget left in
//! the status API and on the environment page.

use chrono::{DateTime, TimeDelta, Utc};
use wsprobe::probe::result::{ProbeResult, Status, Verdict};
use wsprobe::store::DayUptime;

use crate::helpers::app::env_status;
use crate::helpers::results::minimal;
use crate::helpers::spawn_app;
use crate::helpers::store::{each_backend, insert};

fn load(yaml: &str) -> Result<wsprobe::config::Config, wsprobe::config::ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probes.yaml");
    std::fs::write(&path, yaml).unwrap();
    wsprobe::config::load(&path)
}

fn error_of(yaml: &str) -> String {
    match load(yaml) {
        Ok(_) => panic!("loaded, expected an error:\n{yaml}"),
        Err(err) => err.to_string(),
    }
}

const ONE_ENV: &str = "environments:\n  - name: chat\n    url: wss://chat.example.com/ws\n";

#[test]
fn slo_takes_a_percentage_and_a_window_from_the_environment_or_defaults() {
    let config = load(&format!(
        "{ONE_ENV}    slo: {{ objective: 99.9%, window: 7d }}\n  - name: feed\n    url: wss://feed.example.com/ws\n    slo: {{ objective: 99.5 }}\n  - name: plain\n    url: wss://plain.example.com/ws\n"
    ))
    .unwrap();
    let chat = config.environment("chat").unwrap().slo.unwrap();
    assert!((chat.objective - 0.999).abs() < 1e-12);
    // The nearest double to 0.999, which prints as written (not 0.9990000000000001).
    assert_eq!(chat.objective.to_string(), "0.999");
    assert_eq!(chat.window.as_secs(), 7 * 86_400);
    let feed = config.environment("feed").unwrap().slo.unwrap();
    assert!((feed.objective - 0.995).abs() < 1e-12);
    assert_eq!(feed.window.as_secs(), 30 * 86_400, "30d by default");
    assert_eq!(config.environment("plain").unwrap().slo, None);
    // `wsprobe validate` says it.
    let described = wsprobe::config::describe(&config);
    assert!(
        described.contains("slo           99.9% over 7 days, maintenance left out"),
        "{described}"
    );
    assert!(
        described.contains("slo           99.5% over 30 days"),
        "{described}"
    );

    // A block in `defaults` applies to every environment; an environment's own keys win.
    let config = load(&format!(
        "defaults:\n  slo: {{ objective: 99%, window: 14d }}\n{ONE_ENV}    slo: {{ objective: 99.95% }}\n  - name: feed\n    url: wss://feed.example.com/ws\n"
    ))
    .unwrap();
    let chat = config.environment("chat").unwrap().slo.unwrap();
    assert!((chat.objective - 0.9995).abs() < 1e-12);
    assert_eq!(
        chat.window.as_secs(),
        14 * 86_400,
        "the window from defaults"
    );
    let feed = config.environment("feed").unwrap().slo.unwrap();
    assert!((feed.objective - 0.99).abs() < 1e-12);
}

#[test]
fn an_objective_outside_0_to_100_or_a_window_out_of_range_is_refused_at_its_position() {
    let cases = [
        (
            "    slo: { objective: 100% }\n",
            "probes.yaml:4:23: environments[0].slo.objective: 100% must be above 0% and below 100%",
        ),
        (
            "    slo: { objective: 0 }\n",
            "probes.yaml:4:23: environments[0].slo.objective: 0 must be above 0% and below 100%",
        ),
        (
            "    slo: { objective: 150% }\n",
            "probes.yaml:4:23: environments[0].slo.objective: 150% must be above 0% and below 100%",
        ),
        (
            "    slo: { objective: high }\n",
            "probes.yaml:4:23: environments[0].slo.objective: \"high\" is not a percentage (write it as 99.9% or 99.9)",
        ),
        (
            "    slo: { objective: 99.9%, window: 30m }\n",
            "probes.yaml:4:38: environments[0].slo.window: must be from 1h to 400d (hourly counts are kept that long)",
        ),
        (
            "    slo: { objective: 99.9%, window: 401d }\n",
            "probes.yaml:4:38: environments[0].slo.window: must be from 1h to 400d (hourly counts are kept that long)",
        ),
        (
            "    slo: { window: 7d }\n",
            "probes.yaml:4:10: environments[0].slo: missing key `objective` (a percentage such as 99.9%)",
        ),
    ];
    for (slo, expected) in cases {
        let err = error_of(&format!("{ONE_ENV}{slo}"));
        assert!(
            err.contains(expected),
            "{slo}: got {err:?}, expected {expected:?}"
        );
    }
    let from_defaults = error_of(&format!(
        "defaults:\n  slo: {{ objective: 100 }}\n{ONE_ENV}"
    ));
    assert!(
        from_defaults.contains("probes.yaml:2:21: defaults.slo.objective: 100 must be above 0%"),
        "{from_defaults}"
    );
}

fn run(env: &str, at: DateTime<Utc>, status: Status) -> ProbeResult {
    let mut result = minimal(env, at);
    if status != Status::Down {
        result.status = status;
        result.verdict = if status == Status::Up {
            Verdict::Ok
        } else {
            Verdict::Slow
        };
        result.error = None;
        result.phases_ms.total = Some(12.0);
    }
    result
}

#[tokio::test]
async fn daily_counts_leave_runs_in_maintenance_out() {
    for backend in each_backend().await {
        let store = &backend.store;
        let day = 20_400 * 86_400;
        let at = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap();
        let runs = [
            // Before the window: never counted.
            (day - 3600, Status::Down, false),
            // Day one: 3 serving (a degraded one among them) and 1 down outside maintenance;
            // inside it, 2 down and 1 up, all left out.
            (day + 60, Status::Up, false),
            (day + 120, Status::Degraded, false),
            (day + 3600, Status::Up, false),
            (day + 7200, Status::Down, false),
            (day + 7260, Status::Down, true),
            (day + 7320, Status::Down, true),
            (day + 7380, Status::Up, true),
            // Day two: one failure; day three: maintenance only, so no day at all.
            (day + 86_400 + 600, Status::Down, false),
            (day + 2 * 86_400 + 600, Status::Down, true),
        ];
        for (secs, status, in_maintenance) in runs {
            insert(store, &run("web", at(secs), status), in_maintenance)
                .await
                .unwrap();
        }
        insert(store, &run("other", at(day + 60), Status::Down), false)
            .await
            .unwrap();

        let days = store
            .runs()
            .days_outside_maintenance("web", day)
            .await
            .unwrap();
        assert_eq!(
            days,
            [
                DayUptime {
                    day: 20_400,
                    runs: 4,
                    serving: 3
                },
                DayUptime {
                    day: 20_401,
                    runs: 1,
                    serving: 0
                },
            ],
            "{}",
            backend.name
        );
        // The uptime the page has always shown still counts every run.
        let summary = store
            .runs()
            .summaries(at(day + 2 * 86_400 + 700))
            .await
            .unwrap();
        let month = summary["web"].uptime_30d.unwrap();
        assert!(
            (month - 4.0 / 10.0).abs() < 1e-12,
            "{}: {month}",
            backend.name
        );
        let none = store
            .runs()
            .days_outside_maintenance("web", day + 3 * 86_400)
            .await
            .unwrap();
        assert!(none.is_empty(), "{}", backend.name);
    }
}

/// The daemon probing the lab: a failing environment spends its budget at once, a healthy one
/// keeps it whole, one failing inside a maintenance window measures nothing; all of it in the
/// status API, the page (with its burn-down picture) and not for an environment without `slo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reports_availability_and_budget_left_in_the_api_and_on_the_page() {
    let now = Utc::now();
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let envs = r#"
  - name: healthy
    url: ws://${LAB}/ws/healthy
    slo: { objective: 99.9%, window: 7d }
  - name: broken
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
    slo: { objective: 99.9% }
  - name: resting
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
    slo: { objective: 99% }
  - name: plain
    url: ws://${LAB}/ws/healthy
"#;
    let extra = format!(
        "alerts:\n  maintenance:\n    - {{ environments: [resting], from: \"{}\", until: \"{}\" }}\n",
        fmt(now - TimeDelta::hours(1)),
        fmt(now + TimeDelta::hours(1)),
    );
    let mut app = spawn_app(envs, &extra).await;
    let status = app
        .wait_for("SLO figures of both measured environments", |s| {
            let runs = |name: &str| env_status(s, name)["slo"]["runs"].as_u64().unwrap_or(0);
            let resting_ran = env_status(s, "resting")["last_run"].is_string();
            runs("healthy") >= 1 && runs("broken") >= 1 && resting_ran
        })
        .await;

    let healthy = &env_status(&status, "healthy")["slo"];
    assert_eq!(healthy["objective"], 0.999);
    assert_eq!(healthy["window"], "7d");
    assert_eq!(healthy["availability"], 1.0);
    assert_eq!(healthy["budget_remaining"], 1.0);

    let broken = &env_status(&status, "broken")["slo"];
    assert_eq!(broken["window"], "30d");
    assert_eq!(broken["availability"], 0.0);
    let spent = broken["budget_remaining"].as_f64().unwrap();
    assert!((spent - -999.0).abs() < 1e-6, "every run failed: {spent}");

    let resting = &env_status(&status, "resting")["slo"];
    assert_eq!(resting["runs"], 0, "maintenance is left out: {resting}");
    assert!(resting["availability"].is_null());
    assert!(resting["budget_remaining"].is_null());
    assert!(env_status(&status, "plain")["slo"].is_null());

    let (code, page) = app.get("/environments/broken").await;
    assert_eq!(code, 200);
    for shown in [
        "Error budget left",
        "overspent by 99900.0%",
        "99.9%",
        "class=\"budget\"",
        "Error budget remaining at the end of each UTC day, last ",
    ] {
        assert!(page.contains(shown), "the page lacks {shown:?}");
    }
    let (_, healthy_page) = app.get("/environments/healthy").await;
    assert!(healthy_page.contains("100.0%") && healthy_page.contains("class=\"budget\""));
    let (_, plain_page) = app.get("/environments/plain").await;
    assert!(!plain_page.contains("Error budget"), "no SLO, no section");

    // The gauge, under the name the dashboards test derives from the SPEC's table, for the
    // measured environments only.
    let (code, metrics) = app.get("/metrics").await;
    assert_eq!(code, 200);
    let gauge = |env: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("wsprobe_slo_budget_remaining_ratio{")
                    && l.contains(&format!("environment=\"{env}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    assert_eq!(gauge("healthy"), Some(1.0), "{metrics}");
    assert!((gauge("broken").unwrap() - -999.0).abs() < 1e-6);
    assert_eq!(gauge("resting"), None, "nothing measured, nothing reported");
    assert_eq!(gauge("plain"), None);
    app.shutdown().await.unwrap();
}

/// A store from before migration 0018: its rollups counted maintenance in. The migration
/// recounts the hours whose raw runs are kept, on both backends.
#[tokio::test]
async fn the_migration_recounts_maintenance_from_the_runs_still_kept() {
    let day = 20_400 * 86_400;
    let at = |secs: i64| DateTime::from_timestamp(secs, 0).unwrap();
    let runs = [
        (day + 60, Status::Up, false),
        (day + 120, Status::Down, false),
        (day + 180, Status::Down, true),
        (day + 240, Status::Up, true),
        (day + 86_400, Status::Down, true),
    ];
    let expected = [DayUptime {
        day: 20_400,
        runs: 2,
        serving: 1,
    }];
    let undo = [
        "ALTER TABLE rollups DROP COLUMN maint_runs",
        "ALTER TABLE rollups DROP COLUMN maint_serving",
        "DELETE FROM _sqlx_migrations WHERE version = 18",
    ];

    let db = crate::helpers::store::temp_db();
    let store = wsprobe::store::Store::open(&db.path).await.unwrap();
    for (secs, status, in_maintenance) in runs {
        insert(&store, &run("web", at(secs), status), in_maintenance)
            .await
            .unwrap();
    }
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.path.display()))
        .await
        .unwrap();
    for sql in undo {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let store = wsprobe::store::Store::open(&db.path).await.unwrap();
    let days = store
        .runs()
        .days_outside_maintenance("web", day)
        .await
        .unwrap();
    assert_eq!(days, expected, "sqlite");
    store.close().await;

    let Some(postgres) = crate::helpers::pg::Postgres::shared() else {
        return;
    };
    let url = postgres.url(&postgres.fresh_database("slo").await);
    let connect = || wsprobe::store::Store::connect(&url, "test-location", "test-instance");
    let store = connect().await.unwrap();
    for (secs, status, in_maintenance) in runs {
        insert(&store, &run("web", at(secs), status), in_maintenance)
            .await
            .unwrap();
    }
    store.close().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for sql in undo {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let store = connect().await.unwrap();
    let days = store
        .runs()
        .days_outside_maintenance("web", day)
        .await
        .unwrap();
    assert_eq!(days, expected, "postgres");
    store.close().await;
}

/// The burn-rate windows ending at a moment, on both backends: the last hour's runs, the whole
/// hours of the six from the rollups and the oldest hour's part from the runs, with runs in
/// maintenance counted apart and nothing older than six hours.
#[tokio::test]
async fn burn_windows_count_the_last_six_hours_from_runs_and_rollups() {
    let now: DateTime<Utc> = "2026-12-07T12:20:30Z".parse().unwrap();
    let ago = |secs: i64| now - TimeDelta::seconds(secs);
    let runs = [
        // Older than 6 h, in the same hour as the window's start: never counted.
        (6 * 3600 + 10, Status::Down, false),
        // The oldest hour's part inside the 6 h, read from the runs.
        (6 * 3600 - 10, Status::Down, false),
        // Whole hours, read from the rollups.
        (4 * 3600, Status::Up, false),
        (3 * 3600, Status::Down, true),
        (2 * 3600, Status::Degraded, false),
        // The last hour: 30 min, then 5 min.
        (50 * 60, Status::Down, false),
        (20 * 60, Status::Up, true),
        (10 * 60, Status::Down, false),
        (4 * 60, Status::Down, false),
        (60, Status::Up, false),
    ];
    for backend in each_backend().await {
        let store = &backend.store;
        for (secs, status, in_maintenance) in runs {
            insert(store, &run("web", ago(secs), status), in_maintenance)
                .await
                .unwrap();
        }
        insert(store, &run("other", ago(60), Status::Down), false)
            .await
            .unwrap();
        let w = store.runs().burn_windows("web", now).await.unwrap();
        let counts =
            |c: wsprobe::slo::burn::Counts| (c.runs, c.serving, c.maint_runs, c.maint_serving);
        let name = backend.name;
        assert_eq!(counts(w.m5), (2, 1, 0, 0), "{name}: 5 min");
        assert_eq!(counts(w.m30), (4, 2, 1, 1), "{name}: 30 min");
        assert_eq!(counts(w.h1), (5, 2, 1, 1), "{name}: 1 h");
        assert_eq!(counts(w.h6), (9, 4, 2, 1), "{name}: 6 h");
        let none = store.runs().burn_windows("absent", now).await.unwrap();
        assert_eq!(none, wsprobe::slo::burn::Windows::default(), "{name}");
    }
}

/// The daemon over a store whose last half hour failed, probing a healthy lab endpoint: the
/// fast and the slow burn each send one `slo_burn` to the webhook (the environment has no
/// incident of its own), the status API shows them firing, and once the failures leave the
/// 5-minute window the fast burn sends its `slo_burn_resolved` while the slow one holds. An
/// environment in a maintenance window records its burns, held, and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_burn_pages_once_and_resolves_when_its_short_window_recovers() {
    let receiver = crate::helpers::receiver::Receiver::spawn().await;
    let now = Utc::now();
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let envs = r#"
  - name: chat
    url: ws://${LAB}/ws/healthy
    slo: { objective: 99% }
  - name: resting
    url: ws://${LAB}/ws/healthy
    slo: { objective: 99% }
"#;
    let extra = format!(
        "alerts:\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n  maintenance:\n    - {{ environments: [resting], from: \"{}\", until: \"{}\" }}\n",
        receiver.url("/hook"),
        fmt(now - TimeDelta::hours(1)),
        fmt(now + TimeDelta::hours(1)),
    );
    let prepared = crate::helpers::app::prepare_app(envs, &extra).await;
    // Failures every 10 s from 30 min ago to 4 min ago: the 5-minute window holds a few of
    // them for a minute, the 30-minute one for 26.
    let store = wsprobe::store::Store::open(&prepared.db_path)
        .await
        .unwrap();
    for env in ["chat", "resting"] {
        for secs in (240..1800).step_by(10) {
            let at = now - TimeDelta::seconds(secs);
            insert(&store, &run(env, at, Status::Down), false)
                .await
                .unwrap();
        }
    }
    store.close().await;
    let app = prepared.start().await;

    let is_burn = |r: &crate::helpers::receiver::Recorded| {
        r.json()["event"]
            .as_str()
            .is_some_and(|e| e.starts_with("slo_burn"))
    };
    let started = std::time::Instant::now();
    let burns = loop {
        let burns: Vec<serde_json::Value> = receiver
            .requests()
            .iter()
            .filter(|r| is_burn(r))
            .map(|r| r.json())
            .collect();
        if burns.iter().any(|b| b["event"] == "slo_burn_resolved") {
            break burns;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(180),
            "no resolve in time: {burns:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let of = |event: &str, speed: &str| -> Vec<&serde_json::Value> {
        burns
            .iter()
            .filter(|b| b["event"] == event && b["slo_burn"]["speed"] == speed)
            .collect()
    };
    let fast = of("slo_burn", "fast");
    assert_eq!(fast.len(), 1, "one page for the fast burn: {burns:#?}");
    let fast = fast[0];
    assert_eq!(fast["environment"], "chat", "never the held environment's");
    assert!(
        fast["incident"].is_null() && fast["result"].is_null(),
        "{fast}"
    );
    let burn = &fast["slo_burn"];
    crate::helpers::assert_one_json_style("slo_burn", fast);
    assert_eq!(burn["severity"], "critical");
    assert_eq!(burn["action"], "page");
    assert_eq!(burn["state"], "firing");
    assert_eq!(burn["long_window"], "1h");
    assert_eq!(burn["short_window"], "5m");
    assert_eq!(burn["threshold"], 14.4);
    assert_eq!(burn["objective"], 0.99);
    assert_eq!(burn["window"], "30d");
    assert!(burn["long_burn_rate"].as_f64().unwrap() >= 14.4, "{burn}");
    assert!(burn["short_burn_rate"].as_f64().unwrap() >= 14.4, "{burn}");
    assert!(burn["budget_remaining"].as_f64().unwrap() < 0.0, "{burn}");
    let summary = burn["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("chat is spending its error budget ")
            && summary.contains("fast burn (page)"),
        "{summary}"
    );

    let slow = of("slo_burn", "slow");
    assert_eq!(slow.len(), 1, "one ticket for the slow burn: {burns:#?}");
    assert_eq!(slow[0]["slo_burn"]["severity"], "warning");
    assert_eq!(slow[0]["slo_burn"]["short_window"], "30m");

    let resolved = of("slo_burn_resolved", "fast");
    assert_eq!(resolved.len(), 1, "{burns:#?}");
    let resolved = &resolved[0]["slo_burn"];
    assert_eq!(
        resolved["id"], burn["id"],
        "the resolve pairs with its page"
    );
    assert_eq!(resolved["state"], "resolved");
    assert!(
        resolved["short_burn_rate"].as_f64().unwrap() < 14.4,
        "{resolved}"
    );
    assert!(resolved["resolved_at"].is_string());
    assert!(
        of("slo_burn_resolved", "slow").is_empty(),
        "the 30-minute window still burns"
    );
    assert_eq!(burns.len(), 3, "nothing else, nothing twice: {burns:#?}");

    // The status API: the fast burn over, the slow one firing, and neither an incident of the
    // environment.
    let status = app
        .wait_for("the fast burn shown over", |s| {
            env_status(s, "chat")["slo"]["burn"]["fast"]["firing"] == false
        })
        .await;
    let chat = env_status(&status, "chat");
    assert!(chat["open_incident"].is_null(), "{chat}");
    crate::helpers::assert_one_json_style("status with burns", &status);
    let slow_status = &chat["slo"]["burn"]["slow"];
    assert_eq!(slow_status["firing"], true, "{slow_status}");
    assert_eq!(slow_status["incident_id"], slow[0]["slo_burn"]["id"]);
    assert_eq!(slow_status["severity"], "warning");
    assert!(slow_status["since"].is_string());
    let (code, page) = app.get("/environments/chat").await;
    assert_eq!(code, 200);
    assert!(
        page.contains("Slow burn (6h / 30m, alert at 6×)"),
        "the page shows the rates"
    );
    assert!(
        page.contains("class=\"burn firing\""),
        "and the slow burn firing"
    );
    let resting = &env_status(&status, "resting")["slo"]["burn"]["slow"];
    assert_eq!(resting["firing"], true, "held, yet recorded: {resting}");

    // The burn's record holds its notifications; the environment's incidents do not list it.
    let record = app
        .get_json("/api/v1/incidents?environment=slo%20fast%20burn%20chat")
        .await;
    let record = &record["incidents"][0];
    assert_eq!(record["id"], burn["id"], "{record}");
    assert_eq!(record["state"], "resolved");
    let events: Vec<&str> = record["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["slo_burn", "slo_burn_resolved"], "{record}");
    let own = app.get_json("/api/v1/incidents?environment=chat").await;
    assert_eq!(own["incidents"].as_array().unwrap().len(), 0, "{own}");
    let held = app
        .get_json("/api/v1/incidents?environment=slo%20slow%20burn%20resting")
        .await;
    let outcomes: Vec<&str> = held["incidents"][0]["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["held"], "{held}");

    // An environment that loses its `slo` has its burns closed, with nothing sent.
    let before = receiver.requests().len();
    let without = &envs[..envs.rfind("    slo:").unwrap()];
    crate::helpers::app::write_config(&app.config_path, &app.lab, without, &extra);
    let started = std::time::Instant::now();
    loop {
        let held = app
            .get_json("/api/v1/incidents?environment=slo%20slow%20burn%20resting")
            .await;
        if held["incidents"][0]["state"] == "resolved" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "never closed: {held}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let status = app.get_json("/api/v1/status").await;
    assert!(env_status(&status, "resting")["slo"].is_null());
    assert_eq!(
        env_status(&status, "chat")["slo"]["burn"]["slow"]["firing"],
        true
    );
    let sent: Vec<serde_json::Value> = receiver.requests()[before..]
        .iter()
        .map(|r| r.json())
        .collect();
    assert!(sent.is_empty(), "{sent:#?}");

    // A restart finds the slow burn in the store: shown again, never sent again.
    let slow_id = slow[0]["slo_burn"]["id"].clone();
    let before = receiver.requests().len();
    let mut app = app.restart().await;
    app.wait_for("the slow burn measured after the restart", |s| {
        env_status(s, "chat")["slo"]["burn"]["slow"]["incident_id"] == slow_id
    })
    .await;
    // A notification queued by that pass would be on the wire within moments.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let sent: Vec<serde_json::Value> = receiver.requests()[before..]
        .iter()
        .map(|r| r.json())
        .collect();
    assert!(sent.is_empty(), "nothing sent twice: {sent:#?}");
    app.shutdown().await.unwrap();
}
