//! Outside servers (nginx, HAProxy, Caddy, Squid, openssl s_server…) run by a test as its own
//! process on a loopback port, from a config file it writes; stopped by PID when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{PATIENCE, free_port};

/// A server process, stopped by PID when dropped.
pub struct Process {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn installed(binary: &str) -> Option<PathBuf> {
    let found = ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(binary))
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {binary} (.ci/run installs it)"
        );
        eprintln!("skipped: no {binary} on this machine (apt-get install {binary})");
    }
    found
}

/// Start `binary args…` with `config` written into a fresh directory (`{dir}` and `{port}` in
/// the text and args replaced), and wait until its port accepts connections.
pub async fn start(binary: &Path, file: &str, config: &str, args: &[&str]) -> Process {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().port();
    let fill = |text: &str| {
        text.replace("{dir}", &dir.path().display().to_string())
            .replace("{port}", &port.to_string())
    };
    std::fs::write(dir.path().join(file), fill(config)).unwrap();
    let log = std::fs::File::create(dir.path().join("proxy.log")).unwrap();
    let child = Command::new(binary)
        .args(args.iter().map(|a| fill(a)))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| panic!("{} starts: {err}", binary.display()));
    let mut proxy = Process {
        child,
        port,
        _dir: dir,
    };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Ok(Some(status)) = proxy.child.try_wait() {
            let log =
                std::fs::read_to_string(proxy._dir.path().join("proxy.log")).unwrap_or_default();
            panic!("{} exited with {status}: {log}", binary.display());
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{} never listened",
            binary.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy
}
