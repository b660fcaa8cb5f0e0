//! The processes of a fleet test: `wsprobe run` instances on one config file whose `${VAR}`s
//! differ per process, and what the tests read from them (the HTTP API, the webhooks).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::free_port;
use super::receiver::Receiver;

/// How long a fleet test waits for anything: generous, a loaded machine must not flake it.
const PATIENCE: Duration = Duration::from_secs(90);

/// A `wsprobe run` process, killed when dropped.
pub struct Instance {
    pub name: String,
    port: u16,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no shutdown path runs, the lease and the instance row stay as they were.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Start instance `name` in `location` on `config`, with `${EDGE}`, `${BOTH}` and `${LAB}` set
/// to those addresses and `${PORT}` to a free port.
pub fn start(
    config: &Path,
    name: &str,
    location: &str,
    edge: &str,
    both: &str,
    lab: &str,
) -> Instance {
    let port = free_port().port();
    let child = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("WSPROBE_INSTANCE", name)
        .env("LOC", location)
        .env("PORT", port.to_string())
        .env("EDGE", edge)
        .env("BOTH", both)
        .env("LAB", lab)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Instance {
        name: name.to_owned(),
        port,
        child,
    }
}

pub async fn get(url: &str) -> Option<Value> {
    let response = reqwest::get(url).await.ok()?;
    response.json().await.ok()
}

/// Poll until `ready` holds for what `fetch` gives, or fail saying `what`.
pub async fn wait_until<T, F, Fut>(what: &str, mut fetch: F, ready: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = fetch().await
            && ready(&value)
        {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The webhooks received, as (event, environment) in arrival order.
pub fn events(hook: &Receiver) -> Vec<(String, String)> {
    hook.requests()
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["event"].as_str().unwrap_or_default().to_owned(),
                body["environment"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub fn count(events: &[(String, String)], event: &str, environment: &str) -> usize {
    events
        .iter()
        .filter(|(e, env)| e == event && env == environment)
        .count()
}
