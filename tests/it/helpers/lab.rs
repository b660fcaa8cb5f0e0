//! A failure lab on 127.0.0.1:0 that stops with the test, and configs pointed at it.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wsprobe::config::Config;
use wsprobe::lab::{Lab, LabOptions};

use super::schema::assert_schema_accepts;

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
