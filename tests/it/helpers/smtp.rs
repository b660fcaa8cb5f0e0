//! A real SMTP server on 127.0.0.1 for the email channel: aiosmtpd (PyPI) running
//! `tests/servers/smtp_server.py` from the venv in `tests/servers/.venv`, which `.ci/run`
//! makes (and this helper too, once, on a developer's machine where it is missing). It takes
//! STARTTLS or implicit TLS with a certificate from a CA made for the test, AUTH for one
//! user, and scripted refusals; every message it took is read back as JSON, parsed by Python's
//! own email package.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{PATIENCE, free_port};

/// How the server is started.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// `starttls` (the default), `tls` or `none`.
    pub tls: &'static str,
    /// The one user AUTH accepts, with its password; none: no AUTH.
    pub user: Option<(&'static str, &'static str)>,
    /// Replies to the next DATA commands instead of 250, in order.
    pub data_replies: Vec<&'static str>,
    /// Recipients refused with 550.
    pub refuse_rcpt: Vec<&'static str>,
}

pub struct SmtpServer {
    child: Child,
    pub addr: std::net::SocketAddr,
    /// The test CA's certificate, for a channel's `ca_file`.
    pub ca_file: PathBuf,
    lines: Arc<Mutex<Vec<Value>>>,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// The server, listening; `None` (the test skips) when Python or aiosmtpd cannot be had
    /// outside CI.
    pub async fn spawn(options: SmtpOptions) -> Option<SmtpServer> {
        let python = super::python::python("SMTP server")?;
        let dir = tempfile::tempdir().unwrap();
        let cert = super::tls::test_cert(&["127.0.0.1", "localhost"], time::Duration::days(30));
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &cert.ca_pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &cert.leaf_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &cert.key_pem).unwrap();
        let addr = free_port();
        let mut command = Command::new(python);
        command
            .arg(repo().join("tests/servers/smtp_server.py"))
            .args(["--port", &addr.port().to_string()])
            .args([
                "--tls",
                if options.tls.is_empty() {
                    "starttls"
                } else {
                    options.tls
                },
            ])
            .arg("--cert")
            .arg(dir.path().join("cert.pem"))
            .arg("--key")
            .arg(dir.path().join("key.pem"));
        if let Some((user, password)) = options.user {
            command.args(["--user", user, "--password", password]);
        }
        for reply in &options.data_replies {
            command.args(["--data-reply", reply]);
        }
        for address in &options.refuse_rcpt {
            command.args(["--refuse-rcpt", address]);
        }
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the SMTP server starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
                sink.lock().unwrap().push(value);
            }
        });
        let server = SmtpServer {
            child,
            addr,
            ca_file,
            lines,
            dir,
        };
        server
            .wait_until(|lines| lines.iter().any(|l| l.get("ready").is_some()))
            .await;
        Some(server)
    }

    /// The messages the server took, in order, once there are `count` (its lines are read
    /// as it writes them, a moment after it answered).
    pub async fn messages(&self, count: usize) -> Vec<Value> {
        self.wait_until(|lines| {
            lines
                .iter()
                .filter(|l| l.get("mail_from").is_some())
                .count()
                >= count
        })
        .await;
        let messages = self.recorded("mail_from");
        assert_eq!(messages.len(), count, "{messages:?}");
        messages
    }

    /// The replies the script refused DATA with, in order, once there are `count`.
    pub async fn refusals(&self, count: usize) -> Vec<Value> {
        self.wait_until(|lines| {
            lines.iter().filter(|l| l.get("refused").is_some()).count() >= count
        })
        .await;
        self.recorded("refused")
    }

    /// How many messages the server has taken so far.
    pub fn taken(&self) -> usize {
        self.recorded("mail_from").len()
    }

    fn recorded(&self, key: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.get(key).is_some())
            .cloned()
            .collect()
    }

    async fn wait_until(&self, done: impl Fn(&[Value]) -> bool) {
        let started = Instant::now();
        while !done(&self.lines.lock().unwrap()) {
            let log =
                std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
            assert!(
                started.elapsed() < PATIENCE,
                "the SMTP server did not get there:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message part's content, by MIME type, its lines ended by `\n` (a text part is sent
/// with CRLF, RFC 2046 §4.1.1).
pub fn part(message: &Value, content_type: &str) -> String {
    message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["content_type"] == content_type)
        .and_then(|part| part["content"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part: {message}"))
        .replace("\r\n", "\n")
}

/// A header as Python's email package decodes it (RFC 2047 words and all).
pub fn header<'a>(message: &'a Value, name: &str) -> &'a str {
    message["headers"][name.to_ascii_lowercase()]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header: {}", message["headers"]))
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
