//! The status page in a real browser: headless Chromium lays out the overview and an
//! environment page, at 1400 px and at a phone's 420 px, of a daemon whose store holds 90 days
//! of history. The page needs no JavaScript; to measure the layout, the test loads a copy of
//! what the daemon served with a measuring script appended, and reads the figures back from
//! `--dump-dom`. CI installs Debian's chromium (.ci/run) and fails without it; elsewhere the
//! test passes with a "skipped" line on stderr (`cargo test -- --nocapture` shows it).

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use wsprobe::probe::{ProbeResult, Prober};
use wsprobe::store::{NewRun, Store};

use crate::helpers::{env_status, prepare_app};

fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("WSPROBE_CHROMIUM") {
        return Some(path);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_owned)
}

const ENVS: &str = r#"
  - name: healthy
    url: ws://${LAB}/ws/healthy
    steps: [ { expect: { json: { /type: system_message } } } ]
  - name: internal-error
    url: ws://${LAB}/ws/internal-error
    steps: [ { expect: { json: { /type: system_message } } } ]
  - name: html-close
    url: ws://${LAB}/ws/html-close
    steps: [ { expect: { json: { /type: system_message } } } ]
"#;

/// Runs put into the store before the daemon starts: `healthy` every 2 hours over 90 days
/// (each 7th one failing, three days left out), the others the last 40 minutes, so the bar of
/// recent results is full and the pictures have something to draw.
const HISTORY_DAYS: i64 = 90;
const EVERY_HOURS: i64 = 2;
const DAYS_LEFT_OUT: [i64; 3] = [40, 41, 42];

/// `results[name]` is one real probe of that lab endpoint; copies of them go in at past times.
async fn seed_history(db: &std::path::Path, results: &[ProbeResult], now: DateTime<Utc>) {
    let store = Store::open(db).await.unwrap();
    let template = |name: &str| results.iter().find(|r| r.environment == name).unwrap();
    let healthy = template("healthy");
    let failing = ProbeResult {
        environment: "healthy".into(),
        ..template("internal-error").clone()
    };
    let mut runs = Vec::new();
    let mut at = now - chrono::Duration::days(HISTORY_DAYS - 1);
    let mut i = 0u32;
    while at < now {
        let days_back = (now.date_naive() - at.date_naive()).num_days();
        if !DAYS_LEFT_OUT.contains(&days_back) {
            let mut result = if i % 7 == 6 {
                failing.clone()
            } else {
                healthy.clone()
            };
            result.started_at = at;
            // A latency that changes through the day, so the lines have a shape.
            result.phases_ms.total = Some(2.0 + f64::from(i % 12) * 1.5);
            runs.push(result);
        }
        i += 1;
        at += chrono::Duration::hours(EVERY_HOURS);
    }
    for name in ["internal-error", "html-close"] {
        for minute in (1..=40).rev() {
            let mut result = template(name).clone();
            result.started_at = now - chrono::Duration::minutes(minute);
            runs.push(result);
        }
    }
    let runs: Vec<NewRun> = runs
        .into_iter()
        .map(|result| NewRun {
            result: Arc::new(result),
            in_maintenance: false,
            silence: None,
            slot: None,
        })
        .collect();
    for chunk in runs.chunks(500) {
        let refs: Vec<&NewRun> = chunk.iter().collect();
        store.runs().insert_runs(&refs).await.unwrap();
    }
    store.close().await;
}

/// Appended to a copy of a served page: the layout as the browser computed it, as JSON in a
/// `<pre id="measured">`. Lines of a cell are its text's line boxes, told apart by their top.
const MEASURE: &str = r#"<script>
(() => {
  const size = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const lines = e => {
    const range = document.createRange(); range.selectNodeContents(e);
    const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top).sort((a, b) => a - b);
    return tops.filter((t, i) => i === 0 || t - tops[i - 1] > 4).length;
  };
  const out = {
    inner_width: window.innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    charts: [...document.querySelectorAll('svg.chart')].map(size),
    lines_drawn: [...document.querySelectorAll('svg.chart path')].map(p => p.getBBox().width),
    bars: [...document.querySelectorAll('svg.days rect')].map(size),
    evidence: [...document.querySelectorAll('dl.evidence dd')].map(size),
    cells: [...document.querySelectorAll('table.environments td.num, a.name')]
      .map(e => [e.tagName, e.textContent.trim(), lines(e), e.querySelectorAll('br').length + 1]),
  };
  const pre = document.createElement('pre'); pre.id = 'measured';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>"#;

struct Browser {
    path: String,
    profile: tempfile::TempDir,
}

impl Browser {
    async fn run(&self, args: Vec<String>, url: String) -> String {
        let mut all = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", self.profile.path().display()),
        ];
        all.extend(args);
        all.push(url);
        let path = self.path.clone();
        let run = tokio::task::spawn_blocking(move || Command::new(path).args(all).output());
        let output = tokio::time::timeout(Duration::from_secs(90), run)
            .await
            .expect("chromium finishes")
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Load `url` and return what Chromium logged (console messages, CSP violations).
    async fn run_logged(&self, url: String) -> String {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            "--dump-dom".into(),
            format!("--user-data-dir={}", self.profile.path().display()),
        ];
        args.push(url);
        let path = self.path.clone();
        let run = tokio::task::spawn_blocking(move || Command::new(path).args(args).output());
        let output = tokio::time::timeout(Duration::from_secs(90), run)
            .await
            .expect("chromium finishes")
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// `html` (a page the daemon served) laid out at `width` px and measured, then
    /// screenshotted. Headless Chromium will not make a window narrower than 500 px, so the
    /// page is laid out in an iframe exactly `width` px wide (`srcdoc`: same origin, so the
    /// harness can copy the figures out of it).
    async fn measure(
        &self,
        (html, script): (&str, &str),
        width: u32,
        dir: &std::path::Path,
        name: &str,
    ) -> Value {
        let page = html.replace("</body>", &format!("{script}</body>"));
        let srcdoc = page.replace('&', "&amp;").replace('"', "&quot;");
        let harness = format!(
            r#"<!doctype html><html><body style="margin:0">
<iframe id="page" style="border:0;display:block;width:{width}px;height:2200px" srcdoc="{srcdoc}"></iframe>
<script>
window.addEventListener('load', () => {{
  const measured = document.getElementById('page').contentDocument.getElementById('measured');
  const pre = document.createElement('pre'); pre.id = 'copied';
  pre.textContent = measured ? measured.textContent : 'null'; document.body.appendChild(pre);
}});
</script></body></html>"#
        );
        let file = dir.join(format!("{name}-{width}.html"));
        std::fs::write(&file, harness).unwrap();
        let window = format!("--window-size={},2200", width.max(500));
        let url = format!("file://{}", file.display());
        let dom = self
            .run(vec![window.clone(), "--dump-dom".into()], url.clone())
            .await;
        let start = dom.find("<pre id=\"copied\">").expect("the harness ran") + 17;
        let end = start + dom[start..].find("</pre>").unwrap();
        let json = dom[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        let measured: Value =
            serde_json::from_str(&json).unwrap_or_else(|err| panic!("{err}: {json}"));

        let shot =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{width}.png"));
        let _ = std::fs::remove_file(&shot);
        self.run(
            vec![window, format!("--screenshot={}", shot.display())],
            url,
        )
        .await;
        let png = std::fs::read(&shot).expect("a screenshot was written");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "a real rendered page"
        );
        eprintln!("screenshot: {}", shot.display());
        measured
    }
}

fn sizes(value: &Value) -> Vec<(f64, f64)> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_lays_out_the_pages_at_desktop_and_phone_width() {
    let Some(path) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!(
            "skipped: no chromium on this machine (set WSPROBE_CHROMIUM or install chromium)"
        );
        return;
    };
    let prepared = prepare_app(ENVS, PUBLIC).await;
    let config = prepared.config();
    let prober = Prober::for_config(&config);
    let mut results = Vec::new();
    for env in &config.environments {
        results.push(prober.probe(env).await);
    }
    let now = Utc::now();
    seed_history(&prepared.db_path, &results, now).await;
    let mut app = prepared.start().await;
    app.wait_for("every environment probed", |s| {
        s["environments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["last_run"].is_string())
    })
    .await;

    let browser = Browser {
        path,
        profile: tempfile::tempdir().unwrap(),
    };
    let pages = tempfile::tempdir().unwrap();
    let (_, overview) = app.get("/").await;
    let (_, environment) = app.get("/environments/healthy").await;
    for name in ["healthy", "internal-error", "html-close"] {
        assert!(overview.contains(&format!(">{name}<")), "{name} listed");
    }
    assert!(
        !overview.contains("<script>alert") && !environment.contains("<script>"),
        "markup from a probed server is escaped"
    );
    // Failing environments come first.
    assert!(overview.find(">html-close<").unwrap() < overview.find(">healthy<").unwrap());

    for width in [1400u32, 420] {
        let measured = browser
            .measure((&overview, MEASURE), width, pages.path(), "overview")
            .await;
        assert_eq!(
            measured["inner_width"], width,
            "the window is {width} px wide"
        );
        assert!(
            measured["scroll_width"].as_u64().unwrap() <= u64::from(width),
            "overview wider than {width} px: {measured}"
        );
        for cell in measured["cells"].as_array().unwrap() {
            let (kind, text, lines, meant) = (&cell[0], &cell[1], &cell[2], &cell[3]);
            // Names never wrap; at 1400 px no time or figure does either.
            if width == 1400 || kind == "A" {
                assert_eq!(lines, meant, "{text} wraps at {width} px: {measured}");
            }
        }

        let measured = browser
            .measure((&environment, MEASURE), width, pages.path(), "environment")
            .await;
        assert!(
            measured["scroll_width"].as_u64().unwrap() <= u64::from(width),
            "environment page wider than {width} px: {measured}"
        );
        let charts = sizes(&measured["charts"]);
        assert_eq!(charts.len(), 2, "24 h and 7 d: {measured}");
        assert!(
            charts.iter().all(|(w, h)| *w > 100.0 && *h > 20.0),
            "{measured}"
        );
        let drawn = measured["lines_drawn"].as_array().unwrap();
        assert_eq!(drawn.len(), 4, "p50 and p95 in each chart: {measured}");
        assert!(
            drawn.iter().all(|w| w.as_f64().unwrap() > 0.0),
            "{measured}"
        );
        // The evidence keeps the width of the page: on a phone its labels go above the
        // values, or every header would wrap every dozen characters.
        let evidence = sizes(&measured["evidence"]);
        assert!(!evidence.is_empty(), "the evidence is shown: {measured}");
        let least = f64::from(width.min(1400)) * if width < 760 { 0.8 } else { 0.25 };
        assert!(
            evidence.iter().all(|(w, _)| *w >= least),
            "evidence values narrower than {least} px at {width} px: {measured}"
        );
        let bars = sizes(&measured["bars"]);
        assert_eq!(bars.len(), 90, "{measured}");
        assert!(bars.iter().all(|(w, h)| *w > 0.5 && *h > 5.0), "{measured}");
    }

    // The bars say what the store holds: a coloured bar for every day with runs, grey for
    // the days left out.
    let grey = environment.matches("<rect class=\"unknown\"").count();
    assert_eq!(grey, DAYS_LEFT_OUT.len(), "{environment}");
    let left_out = (now - chrono::Duration::days(DAYS_LEFT_OUT[0])).format("%Y-%m-%d");
    assert!(environment.contains(&format!("<title>{left_out}: no data</title>")));

    public_page(&app, &browser, pages.path()).await;
    app.shutdown().await.unwrap();
}

const PUBLIC: &str = "server: { admin_token: test-admin-token, public: { path: /public, title: \"Acme status\" } }\n";

/// Appended to a copy of the public page: its layout, as [`MEASURE`] does for on-call's.
const PUBLIC_MEASURE: &str = r#"<script>
(() => {
  const size = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const lines = e => {
    const range = document.createRange(); range.selectNodeContents(e);
    const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => r.top).sort((a, b) => a - b);
    return tops.filter((t, i) => i === 0 || t - tops[i - 1] > 4).length;
  };
  const out = {
    inner_width: window.innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    names: [...document.querySelectorAll('.public-env-head b.name, .public-uptime')].map(e => [e.textContent.trim(), lines(e)]),
    bars: [...document.querySelectorAll('svg.days rect')].map(size),
    notes: [...document.querySelectorAll('ol.notes li')].map(size),
    incidents: [...document.querySelectorAll('article.incident')].map(size),
    banner: size(document.querySelector('.overall')),
  };
  const pre = document.createElement('pre'); pre.id = 'measured';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>"#;

/// The public page with an open incident and its note: laid out at 1400 px and 420 px
/// without sideways scrolling, names and uptime figures on one line, the 90 bars of each
/// environment drawn, the note as wide as the page allows; and served with a
/// Content-Security-Policy that lets the browser apply its stylesheet.
async fn public_page(app: &crate::helpers::App, browser: &Browser, dir: &std::path::Path) {
    let status = app
        .wait_for("an open incident", |s| {
            env_status(s, "internal-error")["open_incident"].is_i64()
        })
        .await;
    let id = env_status(&status, "internal-error")["open_incident"]
        .as_i64()
        .unwrap();
    let note = serde_json::json!({
        "status": "identified",
        "message": "The upstream pool is exhausted after the 14:02 deploy; we are rolling it back and will post again within 30 minutes.",
    });
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/incidents/{id}/notes", app.base))
        .bearer_auth("test-admin-token")
        .json(&note)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let (_, page) = app.get("/public/").await;
    assert!(page.contains("rolling it back"), "{page}");
    for width in [1400u32, 420] {
        let measured = browser
            .measure((&page, PUBLIC_MEASURE), width, dir, "public")
            .await;
        assert!(
            measured["scroll_width"].as_u64().unwrap() <= u64::from(width),
            "public page wider than {width} px: {measured}"
        );
        for name in measured["names"].as_array().unwrap() {
            assert_eq!(name[1], 1, "{} wraps at {width} px: {measured}", name[0]);
        }
        let bars = sizes(&measured["bars"]);
        assert_eq!(bars.len(), 3 * 90, "90 bars per environment: {measured}");
        assert!(bars.iter().all(|(w, h)| *w > 0.5 && *h > 5.0), "{measured}");
        let notes = sizes(&measured["notes"]);
        assert_eq!(notes.len(), 1, "{measured}");
        let least = f64::from(width) * if width < 760 { 0.8 } else { 0.5 };
        assert!(
            notes[0].0 >= least,
            "the note narrower than {least} px: {measured}"
        );
        assert!(!sizes(&measured["incidents"]).is_empty(), "{measured}");
    }
    csp_lets_the_stylesheet_apply(app, browser, &page).await;
}

/// The stylesheet's hash in the policy is the browser's own: Chromium loads the live page
/// (with its headers) and reports no Content-Security-Policy violation.
async fn csp_lets_the_stylesheet_apply(app: &crate::helpers::App, browser: &Browser, page: &str) {
    let response = reqwest::get(format!("{}/public/", app.base)).await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let start = page.find("<style>").unwrap() + "<style>".len();
    let style = &page[start..start + page[start..].find("</style>").unwrap()];
    use base64::Engine as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        style.as_bytes(),
    ));
    assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
    let log = browser.run_logged(format!("{}/public/", app.base)).await;
    assert!(
        !log.contains("Content Security Policy"),
        "Chromium refused something on the live page: {log}"
    );
}
