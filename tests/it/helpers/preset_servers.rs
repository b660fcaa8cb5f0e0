//! The real servers of the protocol presets, each run by the test as its own process (group)
//! on a loopback port and stopped by its id when dropped: the Node servers of
//! `tests/servers/` (graphql-ws, subscriptions-transport-ws, socket.io; `.ci/run` installs
//! their packages with `npm ci`), Debian's mosquitto with a WebSocket listener and RabbitMQ
//! with its Web-STOMP plugin. Without one on the machine a test says so and skips, except
//! under CI, which must have them all.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A broker's start is slow on a loaded machine (RabbitMQ boots an Erlang VM).
const BOOT_PATIENCE: Duration = Duration::from_secs(120);

pub struct Server {
    pub port: u16,
    /// Process group leaders: each is killed with its group.
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Server {
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// What the server wrote, for a failing assertion's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            // The whole group: RabbitMQ's VM has helpers of its own.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `binary` on this machine, or a skip (a failure under CI).
fn tool(binary: &str, candidates: &[&str], install: &str) -> Option<PathBuf> {
    let found = candidates
        .iter()
        .map(|dir| Path::new(dir).join(binary))
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {binary} (.ci/run installs it: {install})"
        );
        eprintln!("skipped: no {binary} on this machine ({install})");
    }
    found
}

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers")
}

/// `node tests/servers/<script>` with `PORT` and `GOOD_TOKEN`.
pub async fn node(script: &str, good_token: &str) -> Option<Server> {
    let node = tool(
        "node",
        &["/usr/bin", "/usr/local/bin"],
        "apt-get install nodejs npm",
    )?;
    if !servers_dir().join("node_modules").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have tests/servers/node_modules (.ci/run runs npm ci there)"
        );
        eprintln!("skipped: run `npm ci` in tests/servers first");
        return None;
    }
    let port = free_port().port();
    let mut command = Command::new(node);
    command
        .arg(servers_dir().join(script))
        .current_dir(servers_dir())
        .env("PORT", port.to_string())
        .env("GOOD_TOKEN", good_token);
    Some(start(command, port, tempfile::tempdir().unwrap(), Vec::new()).await)
}

/// mosquitto with an MQTT listener (which it needs to start at all) and a WebSocket one, a
/// password file with one user, anonymous clients refused.
pub async fn mosquitto(user: &str, password: &str) -> Option<Server> {
    let mosquitto = tool(
        "mosquitto",
        &["/usr/sbin", "/usr/bin"],
        "apt-get install mosquitto",
    )?;
    let passwd_tool = tool(
        "mosquitto_passwd",
        &["/usr/bin", "/usr/sbin"],
        "apt-get install mosquitto",
    )?;
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let made = Command::new(passwd_tool)
        .args(["-b", "-c"])
        .arg(&passwd)
        .args([user, password])
        .status()
        .unwrap();
    assert!(made.success(), "mosquitto_passwd");
    // Started as root, mosquitto drops to its own user, which must still read the file.
    readable_by_all(dir.path(), &passwd);
    let (mqtt, port) = (free_port().port(), free_port().port());
    // libwebsockets binds a WebSocket listener to an interface, not an address: `lo`.
    let config = format!(
        "listener {mqtt} 127.0.0.1\nlistener {port}\nprotocol websockets\nbind_interface lo\nallow_anonymous false\npassword_file {}\npersistence false\nlog_dest stderr\n",
        passwd.display()
    );
    std::fs::write(dir.path().join("mosquitto.conf"), config).unwrap();
    let mut command = Command::new(mosquitto);
    command.arg("-c").arg(dir.path().join("mosquitto.conf"));
    Some(start(command, port, dir, Vec::new()).await)
}

fn readable_by_all(dir: &Path, file: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// RabbitMQ with only its Web-STOMP listener (no AMQP, no plain STOMP), one user, its own
/// epmd on a loopback port, its data and logs in a temporary directory.
pub async fn rabbitmq_web_stomp(user: &str, password: &str) -> Option<Server> {
    let server = tool(
        "rabbitmq-server",
        &["/usr/lib/rabbitmq/bin"],
        "apt-get install rabbitmq-server",
    )?;
    let epmd = tool(
        "epmd",
        &["/usr/bin", "/usr/local/bin"],
        "apt-get install erlang-base",
    )?;
    let dir = tempfile::tempdir().unwrap();
    let (port, dist, epmd_port) = (free_port().port(), free_port().port(), free_port().port());
    let path = |name: &str| dir.path().join(name).display().to_string();
    let config = format!(
        "listeners.tcp = none\nstomp.listeners.tcp = none\nweb_stomp.tcp.ip = 127.0.0.1\nweb_stomp.tcp.port = {port}\nloopback_users = none\ndefault_user = {user}\ndefault_pass = {password}\n"
    );
    std::fs::write(path("rabbitmq.conf"), config).unwrap();
    std::fs::write(path("enabled_plugins"), "[rabbitmq_web_stomp].\n").unwrap();
    let mut epmd_command = Command::new(epmd);
    epmd_command
        .args(["-port", &epmd_port.to_string()])
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let epmd_child = epmd_command.spawn().expect("epmd starts");
    let mut command = Command::new(server);
    command
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
        .env("RABBITMQ_LOG_BASE", path("log"))
        .env("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins"))
        .env("RABBITMQ_PLUGINS_EXPAND_DIR", path("plugins"))
        .env("RABBITMQ_NODENAME", format!("wsprobe{port}@localhost"))
        .env("RABBITMQ_DIST_PORT", dist.to_string())
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .env(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}",
        );
    Some(start(command, port, dir, vec![epmd_child]).await)
}

/// Spawn `command` in a process group of its own, its output in `server.log`, and wait until
/// `port` accepts connections.
async fn start(
    mut command: Command,
    port: u16,
    dir: tempfile::TempDir,
    mut children: Vec<Child>,
) -> Server {
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    let child = command.spawn().expect("the server starts");
    children.push(child);
    let mut server = Server {
        port,
        children,
        dir,
    };
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        let main = server.children.last_mut().unwrap();
        if let Ok(Some(status)) = main.try_wait() {
            panic!("the server exited with {status}:\n{}", server.log());
        }
        assert!(
            started.elapsed() < BOOT_PATIENCE,
            "the server never listened on {port}:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}
