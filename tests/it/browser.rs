//! The status page in a real browser: headless Chromium renders it without JavaScript help,
//! and every environment is on it. CI installs Debian's chromium (.ci/run); elsewhere the test
//! says it was skipped rather than failing a machine without a browser.

use std::process::Command;
use std::time::Duration;

use crate::daemon::spawn_app;

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

#[tokio::test]
async fn headless_chromium_shows_every_environment() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!(
            "skipped: no chromium on this machine (set WSPROBE_CHROMIUM or install chromium)"
        );
        return;
    };
    let envs = r#"
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
    let mut app = spawn_app(envs, "").await;
    app.wait_for("every environment probed", |s| {
        s["environments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["last_run"].is_string())
    })
    .await;
    let profile = tempfile::tempdir().unwrap();
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let url = format!("{}/", app.base);
    let run = |extra: Vec<String>| {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra);
        args.push(url.clone());
        let browser = browser.clone();
        tokio::task::spawn_blocking(move || Command::new(browser).args(args).output().unwrap())
    };
    let dom = tokio::time::timeout(Duration::from_secs(60), run(vec!["--dump-dom".into()]))
        .await
        .expect("chromium finishes")
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for name in ["healthy", "internal-error", "html-close"] {
        assert!(
            dom.contains(&format!(">{name}<")),
            "{name} not rendered: {dom}"
        );
    }
    assert!(dom.contains("closed_before_ready"));
    assert!(
        dom.contains("&lt;script&gt;") || !dom.contains("<script>alert"),
        "reason escaped"
    );
    let shot = run(vec![
        format!("--screenshot={}", screenshot.display()),
        "--window-size=1400,900".into(),
        "--hide-scrollbars".into(),
    ]);
    let _ = tokio::time::timeout(Duration::from_secs(60), shot).await;
    let png = std::fs::read(&screenshot).expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real rendered page"
    );
    eprintln!("status page screenshot: {}", screenshot.display());
    app.shutdown().await.unwrap();
}
