//! A real Django site on a loopback port: Django's own login view (CSRF on) and a Channels
//! consumer that accepts only a logged-in session (tests/servers/django_app), served by Daphne.
//! Its Python environment is tests/servers/.venv, made from tests/servers/requirements.txt by
//! .ci/run, or here when missing; without one (no Python, no package index) the tests that
//! need it say so and skip, except under CI, where they fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
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

/// The venv's Python with Django, Channels and Daphne importable: made once per test run.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let made = ensure_venv();
            if let Err(why) = &made {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must have the test servers' Python environment (.ci/run makes it): {why}"
                );
                eprintln!("skipped: no Django test environment ({why})");
            }
            made.ok()
        })
        .as_deref()
}

fn ensure_venv() -> Result<PathBuf, String> {
    let venv = servers().join(".venv");
    let python = venv.join("bin/python");
    let importable = |python: &Path| {
        Command::new(python)
            .args(["-c", "import django, channels, daphne"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if python.exists() && importable(&python) {
        return Ok(python);
    }
    let run = |program: &Path, args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .output()
            .map_err(|err| format!("{} does not run: {err}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {args:?} failed: {}",
                program.display(),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let venv_arg = venv.display().to_string();
    run(Path::new("python3"), &["-m", "venv", &venv_arg])?;
    let requirements = servers().join("requirements.txt").display().to_string();
    run(
        &venv.join("bin/pip"),
        &[
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            &requirements,
        ],
    )?;
    if importable(&python) {
        Ok(python)
    } else {
        Err("Django, Channels or Daphne is still not importable".to_owned())
    }
}

impl Django {
    /// The site with the user `probe` of `password`, once it accepts connections; `None` where
    /// it cannot run (outside CI).
    pub async fn start(password: &str) -> Option<Django> {
        let python = python()?;
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
