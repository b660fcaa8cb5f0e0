//! The daemon in this process: a real SQLite file, the HTTP server on port 0, the lab on port 0,
//! from a config file on disk so reloads can be tested.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::PATIENCE;
use super::lab::{TestLab, spawn_lab};

pub struct App {
    pub base: String,
    pub config_path: PathBuf,
    pub db_path: PathBuf,
    pub lab: TestLab,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub daemon: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl App {
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Poll the status API until `done` holds for it, or fail after PATIENCE.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_at("/api/v1/status", what, done).await
    }

    /// Poll the JSON at `path` until `done` holds for it, or fail after PATIENCE: what the
    /// store answers can lag what the status (from memory) already shows.
    pub async fn wait_for_at(
        &self,
        path: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let status = self.get_json(path).await;
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out waiting for {what}: {status:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop the daemon and start it again on the same config file and database, on a new
    /// port: what a restart sees.
    pub async fn restart(mut self) -> App {
        self.shutdown().await.unwrap();
        let config = wsprobe::config::load(&self.config_path).expect("test config loads");
        let (base, stop, daemon) = start_daemon(config).await;
        App {
            base,
            stop: Some(stop),
            daemon: Some(daemon),
            ..self
        }
    }

    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.daemon.take() {
            Some(handle) => tokio::time::timeout(PATIENCE, handle)
                .await
                .expect("daemon stops")
                .unwrap(),
            None => Ok(()),
        }
    }
}

pub fn env_status<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in status"))
}

/// A daemon over `environments` (YAML list items, `${LAB}` for the lab), from a config file on
/// disk so reloads can be tested; `extra` is appended at top level.
pub async fn spawn_app(environments: &str, extra: &str) -> App {
    prepare_app(environments, extra).await.start().await
}

/// A daemon's lab, config file and database path, before it starts: for a test that puts
/// history into the store first.
pub struct Prepared {
    pub lab: TestLab,
    pub config_path: PathBuf,
    pub db_path: PathBuf,
    dir: tempfile::TempDir,
}

pub async fn prepare_app(environments: &str, extra: &str) -> Prepared {
    // reqwest (here and in the daemon) is built without a default TLS provider.
    wsprobe::probe::tls::ensure_crypto_provider();
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("probes.yaml");
    let db_path = dir.path().join("wsprobe.db");
    write_config(&config_path, &lab, environments, extra);
    Prepared {
        lab,
        config_path,
        db_path,
        dir,
    }
}

impl Prepared {
    pub fn config(&self) -> wsprobe::config::Config {
        wsprobe::config::load(&self.config_path).expect("test config loads")
    }

    pub async fn start(self) -> App {
        let (base, stop, daemon) = start_daemon(self.config()).await;
        App {
            base,
            config_path: self.config_path,
            db_path: self.db_path,
            lab: self.lab,
            stop: Some(stop),
            daemon: Some(daemon),
            _dir: self.dir,
        }
    }
}

type Running = JoinHandle<anyhow::Result<()>>;

/// The daemon on 127.0.0.1:0: its base URL, what stops it, and its task.
async fn start_daemon(
    config: wsprobe::config::Config,
) -> (String, tokio::sync::oneshot::Sender<()>, Running) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let daemon = wsprobe::daemon::Daemon::build(config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(daemon.run(listener, async move {
        let _ = stopped.await;
    }));
    (base, stop, handle)
}

pub fn write_config(path: &std::path::Path, lab: &TestLab, environments: &str, extra: &str) {
    // An `extra` with a server block of its own replaces the default one.
    let server = if extra.lines().any(|l| l.starts_with("server:")) {
        ""
    } else {
        "server: { admin_token: test-admin-token }\n"
    };
    let text = format!(
        "defaults:\n  schedule: \"*/2 * * * * *\"\n  timeout: 10s\nenvironments:\n{}\nstorage: {{ path: {} }}\n{server}{extra}",
        environments.replace("${LAB}", &lab.addr().to_string()),
        path.with_file_name("wsprobe.db").display(),
    );
    super::schema::assert_schema_accepts(&text, "a daemon test config");
    std::fs::write(path, text).unwrap();
}
