//! A real Django site on a loopback port: Django's own login view (CSRF on) and a Channels
//! consumer that accepts only a logged-in session (tests/servers/django_app), served by Daphne
//! from the test servers' Python environment ([`super::python`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{PATIENCE, free_port};

/// A running site; stopped (its process killed) when dropped.
pub struct Django {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Django {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn servers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers")
}

impl Django {
    /// The site with the user `probe` of `password`, once it accepts connections; `None` where
    /// it cannot run (outside CI).
    pub async fn start(password: &str) -> Option<Django> {
        let python = super::python::python("Django site")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().port();
        let log = std::fs::File::create(dir.path().join("django.log")).unwrap();
        let child = Command::new(python)
            .arg(servers().join("django_app/chat.py"))
            .current_dir(servers().join("django_app"))
            .env("WSPROBE_DJANGO_DB", dir.path().join("db.sqlite3"))
            .env("WSPROBE_DJANGO_PASSWORD", password)
            .env("WSPROBE_DJANGO_PORT", port.to_string())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the Django site starts");
        let mut site = Django { child, port, dir };
        site.wait_listening().await;
        Some(site)
    }

    async fn wait_listening(&mut self) {
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the Django site exited with {status}: {}", self.log());
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the Django site never listened: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("django.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`: the site's origin.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The session keys Django holds: what must never leave wsprobe.
    pub async fn session_keys(&self) -> Vec<String> {
        use sqlx::Connection as _;
        let url = format!(
            "sqlite://{}?mode=ro",
            self.dir.path().join("db.sqlite3").display()
        );
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT session_key FROM django_session")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }
}
