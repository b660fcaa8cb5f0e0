//! `wsprobe run` as a child process, its stderr collected line by line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PATIENCE;

/// `wsprobe run` as a child process with `vars` (and no OTEL_* inherited), its stderr
/// collected line by line.
pub struct Daemon {
    child: std::process::Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn spawn(config: &Path, vars: &[(&str, &str)]) -> Daemon {
        Daemon::spawn_with(config, &[], vars)
    }

    /// `wsprobe run --config CONFIG ARGS…`.
    pub fn spawn_with(config: &Path, args: &[&str], vars: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wsprobe"));
        command
            .args(["run", "--config"])
            .arg(config)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("WSPROBE_CONFIG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("OTEL_") {
                command.env_remove(name);
            }
        }
        command.envs(vars.iter().copied());
        let mut child = command.spawn().expect("wsprobe runs");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        Daemon { child, stderr }
    }

    pub fn child_id(&self) -> u32 {
        self.child.id()
    }

    pub fn lines(&self, containing: &str) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(containing))
            .cloned()
            .collect()
    }

    pub fn all_stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub async fn wait_for_line(&self, containing: &str) {
        let started = Instant::now();
        while self.lines(containing).is_empty() {
            assert!(
                started.elapsed() < PATIENCE,
                "no line with {containing:?}:\n{}",
                self.all_stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resident memory, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// The exit status once the daemon exits by itself, within `limit`.
    pub async fn exits_within(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the daemon did not exit within {limit:?}:\n{}",
                self.all_stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status within `limit`.
    pub async fn terminate(mut self, limit: Duration) -> (std::process::ExitStatus, Daemon) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return (status, self);
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "the daemon did not stop within {limit:?}:\n{}",
                    self.all_stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
