//! Faults made for real, not simulated: a full filesystem (a small tmpfs filled with `dd`), a
//! second connection holding SQLite's lock, the store file deleted or replaced under a running
//! daemon. Each ends with the daemon still probing, storing when it can, and `/readyz` saying
//! what is wrong.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use wsprobe::store::{RunsPage, Store};

use crate::helpers::PATIENCE;
use crate::helpers::child::Daemon;
use crate::helpers::results::minimal;
use crate::helpers::store::insert;
use crate::helpers::{free_port, spawn_lab};

/// A tmpfs of `size` mounted for the test and unmounted after. Needs root (CI runs as root);
/// elsewhere the test says it did not run.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                !is_root(),
                "running as root, but mounting a tmpfs failed: this test needs it"
            );
            eprintln!("NOT RUN: mounting a tmpfs needs root");
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write zeros until the filesystem is full.
    fn fill(&self) -> PathBuf {
        let fill = self.path().join("fill");
        let _ = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", fill.display()))
            .args(["bs=64k"])
            .stderr(std::process::Stdio::null())
            .status();
        fill
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a connection still closing must not leave the mount behind.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A result big enough (messages are stored as blobs) to need new pages on every insert.
fn bulky(env: &str, n: usize) -> wsprobe::probe::ProbeResult {
    let mut result = minimal(env, Utc::now());
    result.messages = vec![format!("{n}:{}", "x".repeat(16 * 1024))];
    result
}

#[tokio::test]
async fn a_full_disk_fails_writes_alone_and_writes_resume_when_space_returns() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let store = Store::open(&disk.path().join("wsprobe.db")).await.unwrap();
    insert(&store, &bulky("a", 0), false).await.unwrap();

    let fill = disk.fill();
    let mut first_error = None;
    for n in 1..400 {
        if let Err(err) = insert(&store, &bulky("a", n), false).await {
            first_error = Some(err.to_string());
            break;
        }
    }
    let first_error = first_error.expect("a full disk makes a write fail");
    assert!(first_error.contains("full"), "{first_error}");
    // The failure does not wedge the writer: every later write fails on its own merits
    // (the disk), not on leftover transaction state.
    let again = insert(&store, &bulky("a", 500), false).await;
    if let Err(err) = &again {
        assert!(!err.to_string().contains("transaction depth"), "{err}");
    }

    std::fs::remove_file(&fill).unwrap();
    insert(&store, &bulky("a", 501), false)
        .await
        .expect("writes resume by themselves once the disk has room");
    store.check_writable().await.unwrap();
    let runs = store
        .read_only()
        .runs("a", RunsPage::newest(1000))
        .await
        .unwrap();
    assert!(
        runs.iter()
            .any(|r| r.result.messages[0].starts_with("501:"))
    );
    store.close().await;
}

/// A daemon probing one environment every second, its port, and the database path.
fn spawn_daemon(dir: &Path, lab_addr: std::net::SocketAddr) -> (Daemon, String, PathBuf) {
    spawn_daemon_with(dir, lab_addr, "")
}

fn spawn_daemon_with(
    dir: &Path,
    lab_addr: std::net::SocketAddr,
    extra: &str,
) -> (Daemon, String, PathBuf) {
    spawn_daemon_probing(dir, &[("healthy", lab_addr)], extra)
}

/// A daemon probing each `(name, lab)` every second, with `extra` config lines.
fn spawn_daemon_probing(
    dir: &Path,
    environments: &[(&str, std::net::SocketAddr)],
    extra: &str,
) -> (Daemon, String, PathBuf) {
    let port = free_port().port();
    let db = dir.join("wsprobe.db");
    let config = dir.join("probes.yaml");
    let environments: String = environments
        .iter()
        .map(|(name, lab)| format!("  - {{ name: {name}, url: \"ws://{lab}/ws/healthy\" }}\n"))
        .collect();
    std::fs::write(
        &config,
        format!(
            "defaults: {{ schedule: \"* * * * * *\", timeout: 5s }}\nenvironments:\n{environments}server: {{ listen: \"127.0.0.1:{port}\" }}\nstorage: {{ path: {} }}\n{extra}",
            db.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::spawn(&config, &[("RUST_LOG", "info")]);
    (daemon, format!("http://127.0.0.1:{port}"), db)
}

async fn get_json(url: &str) -> Option<(u16, serde_json::Value)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

/// Poll `url` until `done` holds for (status, body), or fail with the daemon's log.
async fn wait_for(
    daemon: &Daemon,
    url: &str,
    what: &str,
    done: impl Fn(u16, &serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        if let Some((status, body)) = get_json(url).await
            && done(status, &body)
        {
            return body;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: never happened\n{}",
            daemon.all_stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn last_run(status: &serde_json::Value) -> Option<String> {
    status["environments"][0]["last_run"]
        .as_str()
        .map(str::to_owned)
}

fn stored_runs(body: &serde_json::Value) -> usize {
    body["runs"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_another_process_neither_stops_probing_nor_passes_for_ready() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base, db) = spawn_daemon(dir.path(), lab.addr());
    let runs_url = format!("{base}/api/v1/environments/healthy/runs?limit=1000");
    wait_for(
        &daemon,
        &format!("{base}/readyz"),
        "ready at start",
        |s, _| s == 200,
    )
    .await;
    wait_for(&daemon, &runs_url, "a first stored run", |_, b| {
        stored_runs(b) > 0
    })
    .await;

    // Another process's connection takes SQLite's write lock and keeps it.
    let mut other = crate::helpers::hold_write_lock(&db).await;
    let locked_at = Instant::now();

    let status_url = format!("{base}/api/v1/status");
    let first = last_run(&get_json(&status_url).await.unwrap().1);
    // Probing goes on at its pace: the result of a new slot shows while the lock is held.
    wait_for(&daemon, &status_url, "probing while locked", |_, b| {
        last_run(b).is_some() && last_run(b) != first
    })
    .await;
    let body = wait_for(
        &daemon,
        &format!("{base}/readyz"),
        "503 while locked",
        |s, _| s == 503,
    )
    .await;
    assert!(body["reason"].as_str().unwrap().contains("store"), "{body}");
    let probes_while_locked = {
        let before = last_run(&get_json(&status_url).await.unwrap().1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        last_run(&get_json(&status_url).await.unwrap().1) != before
    };
    assert!(
        probes_while_locked,
        "probing stopped while the store was locked"
    );
    assert!(locked_at.elapsed() < PATIENCE);

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    drop(other);
    wait_for(&daemon, &format!("{base}/readyz"), "ready again", |s, _| {
        s == 200
    })
    .await;
    let stored = stored_runs(&get_json(&runs_url).await.unwrap().1);
    wait_for(&daemon, &runs_url, "runs stored again", |_, b| {
        stored_runs(b) > stored
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_file_deleted_or_replaced_is_noticed_and_what_was_probed_meanwhile_kept() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base, db) = spawn_daemon(dir.path(), lab.addr());
    let runs_url = format!("{base}/api/v1/environments/healthy/runs?limit=1000");
    let status_url = format!("{base}/api/v1/status");
    wait_for(&daemon, &runs_url, "a first stored run", |_, b| {
        stored_runs(b) > 0
    })
    .await;

    // Replaced with garbage: nothing is written into an unlinked file while saying ready.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::write(&db, vec![0x42u8; 8192]).unwrap();
    let body = wait_for(
        &daemon,
        &format!("{base}/readyz"),
        "503 on garbage",
        |s, _| s == 503,
    )
    .await;
    assert!(body["reason"].as_str().unwrap().contains("store"), "{body}");

    // Deleted: not made anew behind anyone's back; the reason names the file, and what is
    // probed meanwhile waits in the spool.
    std::fs::remove_file(&db).unwrap();
    let body = wait_for(
        &daemon,
        &format!("{base}/readyz"),
        "503 naming the deleted file",
        |s, b| {
            s == 503
                && b["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("was deleted"))
        },
    )
    .await;
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains(&db.display().to_string()), "{reason}");
    let spooled = wait_for(&daemon, &status_url, "runs waiting in the spool", |_, b| {
        b["store"]["spool"]["queued"].as_u64() >= Some(3)
    })
    .await;
    let queued = spooled["store"]["spool"]["queued"].as_u64().unwrap();
    assert_eq!(spooled["store"]["spool"]["dropped"], 0, "{spooled}");
    assert!(!db.exists(), "the deleted file was made anew");
    let page = reqwest::get(&base).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("waiting in memory for the store"),
        "the page says nothing of the spool"
    );

    // A database put back at the path is taken up, and the spool written to it, in order.
    Store::open(&db).await.unwrap().close().await;
    wait_for(&daemon, &format!("{base}/readyz"), "ready again", |s, _| {
        s == 200
    })
    .await;
    wait_for(&daemon, &status_url, "the spool written", |_, b| {
        b["store"]["spool"]["queued"] == 0
    })
    .await;
    let restored = Store::open(&db).await.unwrap();
    let runs = restored
        .read_only()
        .runs("healthy", RunsPage::newest(1000))
        .await
        .unwrap();
    assert!(
        runs.len() as u64 >= queued,
        "{} runs in the restored file, {queued} were waiting",
        runs.len()
    );
    let ids: Vec<i64> = runs.iter().rev().map(|r| r.id).collect();
    let started: Vec<_> = runs.iter().rev().map(|r| r.result.started_at).collect();
    assert!(
        started.windows(2).all(|w| w[0] <= w[1]),
        "written out of order: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_going_down_while_the_store_file_is_garbage_is_paged() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let flaky = spawn_lab().await;
    let hook = crate::helpers::receiver::Receiver::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let (daemon, base, db) = spawn_daemon_probing(
        dir.path(),
        &[("healthy", lab.addr()), ("flaky", flaky.addr())],
        &format!(
            "alerts:\n  defaults: {{ failure_threshold: 2 }}\n  channels:\n    - {{ name: audit, kind: webhook, url: \"{}\" }}\n",
            hook.url("/hook")
        ),
    );
    let runs_url = format!("{base}/api/v1/environments/flaky/runs?limit=1000");
    wait_for(&daemon, &runs_url, "a first stored run", |_, b| {
        stored_runs(b) > 0
    })
    .await;

    // Overwritten in place, as `cp` over it would: the same files, garbage inside (the log
    // too, or reads would still find the pages it holds).
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db.display());
        if std::path::Path::new(&path).exists() {
            std::fs::write(&path, vec![0x42u8; 64 * 1024]).unwrap();
        }
    }
    wait_for(
        &daemon,
        &format!("{base}/readyz"),
        "503 on garbage",
        |s, _| s == 503,
    )
    .await;
    drop(flaky);

    let started = Instant::now();
    let page = loop {
        let found = hook
            .requests()
            .into_iter()
            .find(|r| r.json()["event"] == "triggered" && r.json()["environment"] == "flaky");
        if let Some(found) = found {
            break found;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no page for flaky while the store is garbage\n{}",
            daemon.all_stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page.json()["event"], "triggered");
    // The failure of the store is shown meanwhile.
    let (status, body) = get_json(&format!("{base}/readyz")).await.unwrap();
    assert_eq!(status, 503, "{body}");
    let (_, status) = get_json(&format!("{base}/api/v1/status")).await.unwrap();
    assert_eq!(status["store"]["ok"], false, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_says_alive_only_while_ready_and_why_not_otherwise() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let receiver = crate::helpers::receiver::Receiver::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ping = receiver.url("/ping/5f1c-uuid");
    let (daemon, base, db) = spawn_daemon_with(
        dir.path(),
        lab.addr(),
        &format!("alerts: {{ heartbeat: {{ url: \"{ping}\", every: 1s }} }}\n"),
    );
    wait_for(&daemon, &format!("{base}/readyz"), "ready", |s, _| s == 200).await;
    let alive = receiver.wait_for(1).await;
    assert_eq!(alive[0].method, "GET");
    assert_eq!(alive[0].path, "/ping/5f1c-uuid");

    std::fs::write(&db, vec![0x42u8; 8192]).unwrap();
    let started = Instant::now();
    let failing = loop {
        let found = receiver
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.path == "/ping/5f1c-uuid/fail");
        if let Some(found) = found {
            break found;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no /fail\n{}",
            daemon.all_stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reason = String::from_utf8_lossy(&failing.body).into_owned();
    assert!(reason.contains("store"), "{reason}");
    assert!(!reason.contains('\n'), "one line: {reason:?}");
    assert!(
        daemon.lines("5f1c-uuid").is_empty(),
        "the heartbeat URL is a secret and was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_neither_starve_probes_nor_block_shutdown() {
    use tokio::io::AsyncWriteExt as _;
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().port();
    let db = dir.path().join("wsprobe.db");
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            "defaults: {{ schedule: \"* * * * * *\", timeout: 5s }}\nenvironments:\n  - {{ name: healthy, url: \"ws://{}/ws/healthy\" }}\nserver: {{ listen: \"127.0.0.1:{port}\" }}\nstorage: {{ path: {} }}\n",
            lab.addr(),
            db.display()
        ),
    )
    .unwrap();
    // 256 descriptors in all, hard limit too: what a small container or an old default gives.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec {} run --config {}",
            env!("CARGO_BIN_EXE_wsprobe"),
            config.display()
        ))
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while get_json(&format!("{base}/readyz")).await.map(|(s, _)| s) != Some(200) {
        assert!(
            started.elapsed() < PATIENCE,
            "the daemon did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // More connections than the process has descriptors, each with half a request.
    let mut held = Vec::new();
    for _ in 0..300 {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
            continue;
        };
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
        held.push(stream);
    }
    assert!(held.len() > 256, "only {} connections opened", held.len());

    // Probing goes on and is stored, and none of it blames the target for our descriptors.
    let store = Store::open(&db).await.unwrap();
    let count = |runs: &[wsprobe::store::StoredRun]| runs.len();
    let before = count(
        &store
            .read_only()
            .runs("healthy", RunsPage::newest(1000))
            .await
            .unwrap(),
    );
    let started = Instant::now();
    loop {
        let runs = store
            .read_only()
            .runs("healthy", RunsPage::newest(1000))
            .await
            .unwrap();
        if count(&runs) >= before + 3 {
            let verdicts: Vec<_> = runs.iter().map(|r| r.result.verdict.as_str()).collect();
            assert!(verdicts.iter().all(|v| *v == "ok"), "{verdicts:?}");
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "probing stopped under the connection flood"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    store.close().await;

    // SIGTERM with all those half-sent requests open: the daemon exits within its deadline.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(25) {
            let _ = child.kill();
            panic!("the daemon did not exit within 25 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_re_probe_only_the_environments_that_changed() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().port();
    let db = dir.path().join("wsprobe.db");
    let config = dir.path().join("probes.yaml");
    // A schedule that will not fire during the test: every run is a start-up probe.
    let write = |second_path: &str| {
        std::fs::write(
            &config,
            format!(
                "defaults: {{ schedule: \"0 0 1 1 *\", timeout: 5s }}\nenvironments:\n  - {{ name: steady, url: \"ws://{addr}/ws/healthy\" }}\n  - {{ name: edited, url: \"ws://{addr}{second_path}\" }}\nserver: {{ listen: \"127.0.0.1:{port}\" }}\nstorage: {{ path: {} }}\n",
                db.display(),
                addr = lab.addr(),
            ),
        )
        .unwrap();
    };
    write("/ws/healthy");
    let daemon = Daemon::spawn(&config, &[("RUST_LOG", "info")]);
    let base = format!("http://127.0.0.1:{port}");
    let runs = |env: &'static str| {
        let url = format!("{base}/api/v1/environments/{env}/runs?limit=1000");
        async move { get_json(&url).await.map_or(0, |(_, b)| stored_runs(&b)) }
    };
    let started = Instant::now();
    while runs("steady").await < 1 || runs("edited").await < 1 {
        assert!(
            started.elapsed() < PATIENCE,
            "no start-up probes\n{}",
            daemon.all_stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let hup = || {
        Command::new("kill")
            .args(["-HUP", &daemon.child_id().to_string()])
            .status()
            .unwrap()
    };
    for _ in 0..20 {
        assert!(hup().success());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.wait_for_line("config reloaded").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(runs("steady").await, 1, "an unchanged reload re-probed");
    assert_eq!(runs("edited").await, 1, "an unchanged reload re-probed");

    write("/ws/healthy?changed=1");
    assert!(hup().success());
    let started = Instant::now();
    while runs("edited").await < 2 {
        assert!(
            started.elapsed() < PATIENCE,
            "the changed environment was not re-probed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        runs("steady").await,
        1,
        "an environment that did not change was re-probed"
    );
}

/// A refused reload is said once, however many times the same file is reloaded (the file
/// watcher and a SIGHUP both see one edit), and stays on the status page, with the file and
/// line, until a reload succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_reload_is_logged_once_and_shown_until_one_succeeds() {
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().port();
    let config = dir.path().join("probes.yaml");
    let good = format!(
        "defaults: {{ schedule: \"0 0 1 1 *\", timeout: 5s }}\nenvironments:\n  - {{ name: steady, url: \"ws://{}/ws/healthy\" }}\nserver: {{ listen: \"127.0.0.1:{port}\" }}\nstorage: {{ path: {} }}\n",
        lab.addr(),
        dir.path().join("wsprobe.db").display(),
    );
    std::fs::write(&config, &good).unwrap();
    let daemon = Daemon::spawn(&config, &[("RUST_LOG", "info")]);
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while get_json(&format!("{base}/api/v1/status")).await.is_none() {
        assert!(started.elapsed() < PATIENCE, "{}", daemon.all_stderr());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    std::fs::write(&config, good.replace("timeout: 5s", "timeout: soon")).unwrap();
    daemon.wait_for_line("config reload rejected").await;
    // The same broken file, reloaded again by SIGHUP (and seen by the watcher).
    for _ in 0..3 {
        let hup = Command::new("kill")
            .args(["-HUP", &daemon.child_id().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rejections = daemon.lines("config reload rejected");
    assert_eq!(rejections.len(), 1, "{rejections:#?}");

    let (_, status) = get_json(&format!("{base}/api/v1/status")).await.unwrap();
    let error = status["reload_rejected"]["error"].as_str().unwrap();
    assert!(
        error.contains("probes.yaml") && error.contains("timeout"),
        "{status}"
    );
    let page = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Config reload rejected"), "{page}");
    let escaped = maud::html! { (error) }.into_string();
    assert!(
        page.contains(&escaped),
        "the loader's error on the page: {page}"
    );

    std::fs::write(&config, good.replace("timeout: 5s", "timeout: 4s")).unwrap();
    daemon.wait_for_line("config reloaded").await;
    let started = Instant::now();
    loop {
        let (_, status) = get_json(&format!("{base}/api/v1/status")).await.unwrap();
        if status["reload_rejected"].is_null() {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "still shown after a good reload: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
