//! The `wsprobe` binary as a pipeline runs it: exit codes, JSON on stdout, errors on stderr.

use std::process::{Command, Output};

use crate::helpers::spawn_lab;

fn wsprobe(args: &[&str], lab: Option<std::net::SocketAddr>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wsprobe"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("WSPROBE_CONFIG")
        .env("NO_COLOR", "1");
    if let Some(lab) = lab {
        command.env("WSPROBE_LAB", lab.to_string());
    }
    command.output().expect("the wsprobe binary runs")
}

#[tokio::test]
async fn check_json_reports_every_environment_and_exits_1_when_any_is_down() {
    let lab = spawn_lab().await;
    let args = [
        "check",
        "--format",
        "json",
        "--env",
        "healthy",
        "--env",
        "internal-error",
    ];
    let out = tokio::task::spawn_blocking(move || wsprobe(&args, Some(lab.addr())))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["environment"], "healthy");
    assert_eq!(results[0]["status"], "up");
    assert_eq!(results[0]["verdict"], "ok");
    assert_eq!(results[0]["location"], "local");
    assert_eq!(results[0]["http_status"], 101);
    assert_eq!(results[0]["health"]["http_status"], 200);
    assert!(results[0]["phases_ms"]["upgrade"].is_number());
    assert!(results[0]["phases_ms"]["dns"].is_null());
    assert!(results[0]["tls"].is_null());
    assert_eq!(results[1]["verdict"], "closed_before_ready");
    assert_eq!(results[1]["close_code"], 1011);
    assert_eq!(results[1]["close_reason"], "Internal error");
    assert!(results[1]["started_at"].as_str().unwrap().ends_with('Z'));
    crate::helpers::assert_one_json_style("check --format json", &json);
    for key in [
        "url",
        "attempts",
        "failed_step",
        "version",
        "subprotocol",
        "headers",
        "messages",
        "diagnosis",
        "error",
    ] {
        assert!(results[1].get(key).is_some(), "result lacks {key}");
    }
    // The SPEC's field order, as the API has it, not alphabetical.
    let text = String::from_utf8_lossy(&out.stdout);
    let first_result = &text[..text.find("\"diagnosis\"").unwrap()];
    let at = |key: &str| first_result.find(&format!("\"{key}\":")).unwrap();
    assert!(
        at("environment") < at("location")
            && at("location") < at("url")
            && at("url") < at("started_at")
            && at("started_at") < at("status")
            && at("status") < at("verdict"),
        "{first_result}"
    );
}

#[tokio::test]
async fn check_text_is_one_line_per_environment_and_exits_0_when_all_up() {
    let lab = spawn_lab().await;
    let args = ["check", "--env", "healthy", "--env", "slow-welcome"];
    let out = tokio::task::spawn_blocking(move || wsprobe(&args, Some(lab.addr())))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("up ") && l.contains("healthy") && l.contains("ok"))
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("degraded") && l.contains("slow"))
    );
    assert!(stdout.contains("2 environments: 1 up, 1 degraded, 0 down"));
    assert!(!stdout.contains('\x1b'), "no colour when not a terminal");
}

#[test]
fn unknown_environment_and_bad_config_exit_2_naming_the_problem() {
    let out = wsprobe(&["check", "--env", "nope"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no environment named \"nope\""));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "environments:\n  - name: a\n    url: ws://127.0.0.1:1/ws\n    timeuot: 5s\n",
    )
    .unwrap();
    let out = wsprobe(&["validate", "--config", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.yaml:4:"),
        "names file and line: {stderr}"
    );
    assert!(stderr.contains("timeuot"), "names the key: {stderr}");
}

#[test]
fn validate_prints_what_would_run() {
    let out = wsprobe(&["validate"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in ["healthy", "strip-auth", "bad-token"] {
        assert!(stdout.contains(name), "{name} missing from: {stdout}");
    }
    assert!(
        !stdout.contains("lab-jwt-secret"),
        "secrets are never printed"
    );
}

/// `kill -9` the daemon mid-flight and start it again: every run it had stored is still there.
#[tokio::test]
async fn nothing_stored_is_lost_across_kill_9_and_restart() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port().port();
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            "defaults: {{ schedule: \"* * * * * *\" }}\nenvironments:\n  - {{ name: healthy, url: \"ws://{}/ws/healthy\" }}\n  - {{ name: refused, url: \"ws://127.0.0.1:1/ws\" }}\nserver: {{ listen: \"127.0.0.1:{port}\" }}\nstorage: {{ path: {} }}\n",
            lab.addr(),
            dir.path().join("wsprobe.db").display()
        ),
    )
    .unwrap();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_wsprobe"))
            .args(["run", "--config", config.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let runs_url = format!("http://127.0.0.1:{port}/api/v1/environments/healthy/runs?limit=1000");
    let run_ids = |body: serde_json::Value| -> Vec<i64> {
        body["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let fetch = || async {
        match reqwest::get(&runs_url).await {
            Ok(response) if response.status().is_success() => {
                response.json::<serde_json::Value>().await.ok()
            }
            _ => None,
        }
    };

    let mut daemon = start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let before = loop {
        if let Some(body) = fetch().await {
            let ids = run_ids(body);
            if ids.len() >= 3 {
                break ids;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon stored no runs"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    daemon.kill().unwrap(); // SIGKILL: no shutdown path runs
    daemon.wait().unwrap();

    let mut restarted = start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let after = loop {
        if let Some(body) = fetch().await {
            break run_ids(body);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not come back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    let missing: Vec<_> = before.iter().filter(|id| !after.contains(id)).collect();
    assert!(missing.is_empty(), "runs lost across kill -9: {missing:?}");
}

#[tokio::test]
async fn secrets_in_queries_variables_and_trace_logs_never_leave_the_process() {
    let lab = spawn_lab().await;
    let lab_addr = lab.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        "environments:\n  - name: query-token\n    url: \"ws://${LAB}/ws/healthy?access_token=${QUERY_TOKEN}&v=2\"\n    headers: { X-Api-Token: \"${API_TOKEN}\" }\n    steps:\n      - send: '{\"type\":\"hello\",\"key\":\"${API_TOKEN}\"}'\n      - expect: { within: 2s }\n  - name: token-down\n    url: \"ws://${LAB}/ws/healthy\"\n    auth:\n      kind: token_endpoint\n      url: \"http://127.0.0.1:9/token?key=QUERYKEY-0123456789\"\n      token_pointer: /access_token\n",
    )
    .unwrap();
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        let lab_addr = lab_addr.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_wsprobe"))
                .args(["check", "--format", "json", "--config"])
                .arg(&config)
                .env("LAB", &lab_addr)
                .env("QUERY_TOKEN", "QT-9f8e7d6c5b4a")
                .env("API_TOKEN", "API-TOKEN-abcdef123456")
                .env("RUST_LOG", "trace")
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBUG"), "verbose logging is on: {stderr}");
    assert!(
        !stderr.contains("writing frame") && !stderr.contains("received frame"),
        "no frames in the log: {stderr}"
    );
    for secret in [
        "QT-9f8e7d6c5b4a",
        "API-TOKEN-abcdef123456",
        "QUERYKEY-0123456789",
    ] {
        assert!(!stdout.contains(secret), "{secret} in stdout: {stdout}");
        assert!(!stderr.contains(secret), "{secret} in the log");
    }
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let results = json["results"].as_array().unwrap();
    assert_eq!(results[0]["verdict"], "ok", "{}", results[0]);
    let url = results[0]["url"].as_str().unwrap();
    assert!(url.ends_with("/ws/healthy?…"), "{url}");
    assert!(url.contains(&lab_addr), "an address is not a secret: {url}");
    assert_eq!(
        results[0]["headers"]["sent"]["x-api-token"], "[redacted]",
        "{}",
        results[0]
    );
    assert_eq!(results[1]["verdict"], "token_failed", "{}", results[1]);
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn schema_describes_every_shipped_config_and_refuses_unknown_keys() {
    let out = wsprobe(&["schema"], None);
    assert_eq!(out.status.code(), Some(0));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    // The copy editors read is what the binary prints, and the configs name it first.
    let committed: serde_json::Value =
        serde_json::from_str(&repo_file("deploy/wsprobe.schema.json")).unwrap();
    assert!(
        committed == printed,
        "deploy/wsprobe.schema.json is stale: run `wsprobe schema > deploy/wsprobe.schema.json`"
    );
    for (path, reference) in [
        ("probes.yaml", "./deploy/wsprobe.schema.json"),
        ("deploy/probes.yaml", "./wsprobe.schema.json"),
    ] {
        let text = repo_file(path);
        assert_eq!(
            text.lines().next(),
            Some(format!("# yaml-language-server: $schema={reference}").as_str()),
            "{path}"
        );
        crate::helpers::assert_schema_accepts(&text, path);
    }
    // The YAML examples of the README and of the docs pages too.
    let mut pages = vec![repo_file("README.md")];
    for entry in
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")).unwrap()
    {
        pages.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut examples = 0;
    for block in pages
        .iter()
        .flat_map(|page| page.split("```yaml\n").skip(1))
    {
        let example = block.split("```").next().unwrap();
        // Fragments of a mapping (an environment, one block) are checked as a whole config
        // only when they are one: they start with a top-level key.
        if example.starts_with("environments:") {
            crate::helpers::assert_schema_accepts(example, "a README example");
            examples += 1;
        }
    }
    assert!(examples >= 2, "the README and the docs have full examples");

    // What an editor would flag, the validator flags: an unknown key, a wrong type.
    let typo = "environments:\n  - name: a\n    url: ws://x/\n    schedul: \"* * * * *\"\n";
    let errors = crate::helpers::schema_errors(typo);
    assert!(errors.iter().any(|e| e.contains("schedul")), "{errors:?}");
    let wrong_type = "environments:\n  - name: a\n    url: ws://x/\n    retries: many\n";
    let errors = crate::helpers::schema_errors(wrong_type);
    assert!(
        errors.iter().any(|e| e.contains("/environments/0/retries")),
        "{errors:?}"
    );
    let telemetry = "telemetry: { prometheus: false }\n";
    assert!(crate::helpers::schema_errors(telemetry).is_empty());
}

#[test]
fn completions_load_in_a_real_bash_and_version_names_the_commit() {
    let out = wsprobe(&["completions", "bash"], None);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wsprobe.bash");
    std::fs::write(&path, &script).unwrap();
    // Source it and ask bash what `wsprobe ch<TAB>` completes to.
    let probe = format!(
        "source {}; COMP_WORDS=(wsprobe ch); COMP_CWORD=1; COMP_LINE='wsprobe ch'; COMP_POINT=10; \
         _wsprobe wsprobe ch wsprobe; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let bash = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert!(
        bash.status.success(),
        "{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    let offered = String::from_utf8_lossy(&bash.stdout);
    assert_eq!(offered.trim(), "check", "{offered}");
    for shell in ["zsh", "fish"] {
        let out = wsprobe(&["completions", shell], None);
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("schema"));
    }
    let bad = wsprobe(&["completions", "tcsh"], None);
    assert_eq!(bad.status.code(), Some(2));

    let version = wsprobe(&["--version"], None);
    let version = String::from_utf8_lossy(&version.stdout);
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    // The build script reruns when HEAD moves, so the binary names this checkout's commit.
    let expected = format!(
        "wsprobe {} ({})",
        env!("CARGO_PKG_VERSION"),
        commit.as_deref().unwrap_or("unknown commit")
    );
    assert_eq!(version.trim_end(), expected);
    let help = wsprobe(&["check", "--help"], None);
    assert!(String::from_utf8_lossy(&help.stdout).contains("$WSPROBE_CONFIG"));
}

/// A reader that stops reading (`wsprobe completions bash | head -5`) ends the output quietly:
/// the pipe's read end is closed before wsprobe writes, so every write meets a broken pipe.
#[test]
fn output_into_a_closed_pipe_is_not_a_panic() {
    for args in [
        &["completions", "bash"][..],
        &["schema"][..],
        &["validate", "--config", "probes.yaml"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("LAB", "127.0.0.1:8765")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(output.status.success(), "{args:?}: {stderr}");
    }
}

/// Three mistakes, one run: `validate` names each on its own `error:` line and exits 2.
#[test]
fn validate_names_every_mistake_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probes.yaml");
    std::fs::write(
        &file,
        "environments:\n  - name: a\n    url: ws://x/ws\n    hedaers: { A: b }\n    timeout: banana\n  - name: b\n    url: ws://x/ws\n    schedule: \"61 * * * *\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .arg("validate")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    for (line, words) in lines.iter().zip([
        ":4:5: environments[0].hedaers: unknown key `hedaers`: did you mean `headers`?",
        ":5:14: environments[0].timeout: \"banana\" is not a duration",
        ":8:15: environments[1].schedule: cron schedule \"61 * * * *\": minute 61 is out of range",
    ]) {
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains(words), "{line:?} lacks {words:?}");
    }
}
