//! A real PostgreSQL server of the tests' own: `initdb` in a temporary directory, `postgres`
//! on a free loopback port (as the `postgres` user when the tests run as root, since the
//! server refuses to). One server serves the whole test run ([`Postgres::shared`]), each test
//! in a database of its own: `initdb` and a server start cost seconds, a database
//! milliseconds. A watcher stops the server by its PID once the test process is gone. Without
//! PostgreSQL on the machine the tests that need it say so and skip, except under CI, where
//! `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SHARED: OnceLock<Option<Postgres>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

pub struct Postgres {
    pub port: u16,
    server: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown, the postmaster takes its backends with it.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.server.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The directory holding `initdb` and `postgres`: Debian's versioned one, or `PATH`'s.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    // SAFETY-free: the effective uid from /proc, no libc needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// `program args…`, as the `postgres` user when running as root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// `postgres` on the data of `dir` (`dir/data`), listening on 127.0.0.1:`port`.
fn serve(bin: &Path, dir: &Path, port: u16) -> Child {
    as_server_user(&bin.join("postgres"))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// PgBouncer in front of a [`Postgres`], in the given pool mode; stopped with the test.
pub struct PgBouncer {
    pub port: u16,
    process: Child,
    _dir: tempfile::TempDir,
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // As root the child is `runuser`, and killing it leaves PgBouncer running: stop
        // PgBouncer itself by the PID it wrote.
        let pidfile = self._dir.path().join("pgbouncer.pid");
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl PgBouncer {
    /// `None` (and a word) without pgbouncer outside CI.
    pub fn start(postgres: &Postgres, mode: &str) -> Option<PgBouncer> {
        let binary = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|path| path.exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have pgbouncer (.ci/run installs it)"
            );
            eprintln!("skipped: no pgbouncer on this machine (apt install pgbouncer)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let port = crate::helpers::free_port().port();
        let users = dir.path().join("users.txt");
        std::fs::write(&users, "\"wsprobe\" \"\"\n").unwrap();
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host=127.0.0.1 port={}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\nauth_file = {}\npool_mode = {mode}\nunix_socket_dir =\npidfile = {}\n",
                postgres.port,
                users.display(),
                dir.path().join("pgbouncer.pid").display()
            ),
        )
        .unwrap();
        if is_root() {
            // PgBouncer refuses to run as root.
            Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let process = as_server_user(&binary)
            .arg(&ini)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "PgBouncer did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(PgBouncer {
            port,
            process,
            _dir: dir,
        })
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://wsprobe@127.0.0.1:{}/{database}", self.port)
    }
}

impl Postgres {
    /// The test run's server, started by the first test that asks; `None` (and a word on
    /// stderr) without PostgreSQL outside CI. Tests take a database each
    /// ([`Postgres::fresh_database`]) and never stop it.
    pub fn shared() -> Option<&'static Postgres> {
        SHARED
            .get_or_init(|| {
                let postgres = Postgres::start()?;
                postgres.stop_after_this_process();
                Some(postgres)
            })
            .as_ref()
    }

    /// A static is never dropped: a watcher polls this process and, once it has exited,
    /// stops the server by its PID (SIGQUIT) and removes its directory.
    fn stop_after_this_process(&self) {
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -QUIT {server} 2>/dev/null; sleep 3; kill -KILL {server} 2>/dev/null; rm -rf '{dir}'",
            me = std::process::id(),
            server = self.server.id(),
            dir = self._dir.path().display(),
        );
        // Started in the background of a shell that exits at once: the watcher outlives this
        // process by design, so it must not be our child.
        let started = Command::new("sh")
            .args(["-c", &format!("({script}) </dev/null >/dev/null 2>&1 &")])
            .status()
            .expect("the watcher of the shared PostgreSQL starts");
        assert!(started.success());
    }

    /// A new, empty database of its own for one test, named after `purpose`: its name.
    pub async fn fresh_database(&self, purpose: &str) -> String {
        let name = format!("{purpose}_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        self.database(&name).await;
        name
    }

    /// A fresh server of its own, or `None` (and a word on stderr) without PostgreSQL outside
    /// CI: for a test that stops or restarts its server.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have PostgreSQL (.ci/run installs the postgresql package)"
            );
            eprintln!("skipped: no PostgreSQL on this machine (apt install postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(owned.success(), "chown of the data directory failed");
        }
        let data = dir.path().join("data");
        let initdb = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "wsprobe", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = crate::helpers::free_port().port();
        let server = serve(&bin, dir.path(), port);
        let postgres = Postgres {
            port,
            server,
            _dir: dir,
        };
        postgres.wait_listening();
        Some(postgres)
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop the server with `pg_ctl stop -m fast` (clients are disconnected and new
    /// connections refused), and wait until it has exited. For a server of a test's own.
    pub fn stop(&mut self) {
        let bin = bin_dir().expect("PostgreSQL ran before");
        let stopped = as_server_user(&bin.join("pg_ctl"))
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(self._dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(stopped.success(), "pg_ctl stop failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(self.server.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < deadline, "PostgreSQL did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start a stopped server again, on the same port and data.
    pub fn start_again(&mut self) {
        let bin = bin_dir().expect("PostgreSQL ran before");
        self.server = serve(&bin, self._dir.path(), self.port);
        self.wait_listening();
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://wsprobe@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database; the server may still be finishing its start.
    pub async fn database(&self, name: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match sqlx::PgPool::connect(&self.url("postgres")).await {
                Ok(pool) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                        .execute(&pool)
                        .await
                        .unwrap();
                    pool.close().await;
                    return self.url(name);
                }
                Err(err) => {
                    assert!(Instant::now() < deadline, "PostgreSQL refuses: {err}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}
