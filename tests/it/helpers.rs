//! Shared by every integration test: a failure lab on 127.0.0.1:0 that stops with the test,
//! and configs pointed at it.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wsprobe::config::Config;
use wsprobe::lab::{Lab, LabOptions};

/// A lab that stops when the test ends.
pub struct TestLab {
    pub lab: Lab,
    pub shutdown: CancellationToken,
}

impl Drop for TestLab {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl std::ops::Deref for TestLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

pub async fn spawn_lab_with(options: LabOptions) -> TestLab {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let lab = Lab::spawn(listener, options, shutdown.clone()).unwrap();
    TestLab { lab, shutdown }
}

/// Startup already over, so every endpoint behaves as its steady state.
pub async fn spawn_lab() -> TestLab {
    spawn_lab_with(LabOptions {
        startup_duration: Duration::ZERO,
        ..LabOptions::default()
    })
    .await
}

/// An address on 127.0.0.1 that was free a moment ago: bound, read and released, for a server
/// started later (or for a port where nothing listens).
pub fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `wsprobe schema`, compiled once by an independent validator (the `jsonschema` crate).
fn schema_validator() -> &'static jsonschema::Validator {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft202012::new(&wsprobe::config::json_schema())
            .expect("wsprobe schema is a valid draft 2020-12 schema")
    })
}

/// The schema's verdict on a YAML document: every problem, one per line.
pub fn schema_errors(yaml: &str) -> Vec<String> {
    let document: serde_json::Value =
        serde_saphyr::from_str(yaml).unwrap_or_else(|err| panic!("not YAML: {err}\n{yaml}"));
    schema_validator()
        .iter_errors(&document)
        .map(|err| format!("{}: {err}", err.instance_path))
        .collect()
}

/// Every config the tests load passes the schema an editor would check it against.
pub fn assert_schema_accepts(yaml: &str, origin: &str) {
    let errors = schema_errors(yaml);
    assert!(
        errors.is_empty(),
        "{origin} does not match `wsprobe schema`:\n{}\n---\n{yaml}",
        errors.join("\n")
    );
}

/// A config from YAML text, `${LAB}` standing for the lab's address; `vars` adds variables.
pub fn config(yaml: &str, lab: &Lab, vars: &[(&str, &str)]) -> Config {
    assert_schema_accepts(yaml, "a test config");
    let lab = lab.addr().to_string();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| {
        if name == "LAB" {
            return Some(lab.clone());
        }
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    wsprobe::config::load_str(std::path::Path::new("test.yaml"), yaml, &lookup)
        .unwrap_or_else(|err| panic!("test config does not load: {err}"))
}

/// Another process's connection takes SQLite's write lock on `db` and keeps it until dropped
/// (readers still read: the store is in WAL mode).
pub async fn hold_write_lock(db: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    other
}
