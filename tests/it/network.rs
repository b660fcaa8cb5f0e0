//! The network side of a probe against real things: nginx and `openssl s_server` wanting a
//! client certificate (TLS 1.3 and 1.2), Squid as the egress proxy (credentials, a 407, a 403,
//! a target it cannot reach; `HTTPS_PROXY`/`NO_PROXY` read by `wsprobe check` as a child), and
//! a dual-stack name whose IPv4 address blackholes while its IPv6 one answers (an own
//! `/etc/hosts` in a mount namespace, `wsprobe check` as a child inside it).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use wsprobe::probe::result::{Family, Outcome};
use wsprobe::probe::{ProbeResult, Prober, Verdict};

use crate::helpers::servers::{Process, installed, start};
use crate::helpers::tls::{Pki, pki, tls_front};
use crate::helpers::{TestLab, config, spawn_lab};

async fn probe(lab: &TestLab, yaml: &str, vars: &[(&str, &str)]) -> ProbeResult {
    let config = config(&format!("environments:\n{yaml}"), lab, vars);
    let result = Prober::for_config(&config)
        .probe(&config.environments[0])
        .await;
    eprintln!(
        "{}: {}: {}",
        result.environment, result.verdict, result.diagnosis
    );
    result
}

fn assert_has(sentence: &str, words: &[&str]) {
    for word in words {
        assert!(sentence.contains(word), "{sentence:?} lacks {word:?}");
    }
}

// ---- mutual TLS ----------------------------------------------------------------------------

const NGINX_MTLS: &str = r#"
master_process off;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {
        listen 127.0.0.1:{port} ssl;
        ssl_protocols PROTOCOL;
        ssl_certificate PKI/server.pem;
        ssl_certificate_key PKI/server.key;
        ssl_client_certificate PKI/ca.pem;
        ssl_verify_client on;
        location / {
            proxy_pass http://LAB;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }
    }
}
"#;

/// `tls:` for a probe of `localhost:port` trusting the test CA, with the named client pair.
fn mtls_env(name: &str, port: u16, pki: &Pki, pair: Option<(&str, &str)>) -> String {
    let client = pair
        .map(|(cert, key)| {
            format!(
                ", client_cert: {}, client_key: {}",
                pki.path(cert).display(),
                pki.path(key).display()
            )
        })
        .unwrap_or_default();
    format!(
        "  - name: {name}\n    url: wss://localhost:{port}/ws/healthy\n    tls: {{ ca_file: {}{client} }}\n",
        pki.path("ca.pem").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_verifying_clients_passes_with_the_certificate_and_says_when_none_or_another_is_sent()
{
    let lab = spawn_lab().await;
    let Some(nginx) = installed("nginx") else {
        return;
    };
    let pki = pki();
    for protocol in ["TLSv1.3", "TLSv1.2"] {
        let config = NGINX_MTLS
            .replace("PROTOCOL", protocol)
            .replace("PKI", &pki.dir.path().display().to_string())
            .replace("LAB", &lab.addr().to_string());
        let front = start(
            &nginx,
            "nginx.conf",
            &config,
            &[
                "-p",
                "{dir}",
                "-c",
                "{dir}/nginx.conf",
                "-e",
                "{dir}/error.log",
            ],
        )
        .await;
        let port = front.port;

        let with = probe(
            &lab,
            &mtls_env("with", port, &pki, Some(("client.pem", "client.key"))),
            &[],
        )
        .await;
        assert_eq!(with.verdict, Verdict::Ok, "{protocol}: {}", with.diagnosis);
        assert_eq!(with.tls.as_ref().unwrap().version, protocol);

        let without = probe(&lab, &mtls_env("without", port, &pki, None), &[]).await;
        assert_eq!(
            without.verdict,
            Verdict::UpgradeRejected,
            "{}",
            without.diagnosis
        );
        assert_has(
            &without.diagnosis,
            &[
                "496 SSL Certificate Required",
                "wants a client certificate",
                "wsprobe presented none",
            ],
        );

        let stranger = probe(
            &lab,
            &mtls_env(
                "stranger",
                port,
                &pki,
                Some(("stranger.pem", "stranger.key")),
            ),
            &[],
        )
        .await;
        assert_eq!(
            stranger.verdict,
            Verdict::UpgradeRejected,
            "{}",
            stranger.diagnosis
        );
        assert_has(
            &stranger.diagnosis,
            &[
                "495 SSL Certificate Error",
                "presented its client certificate (CN=stranger)",
            ],
        );
        drop(front);
    }
}

/// `openssl s_server -Verify` ends the handshake itself: TLS 1.3 with `certificate_required`
/// after it, TLS 1.2 with `handshake_failure` during it, after asking for a certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_requiring_a_certificate_is_named_in_tls_1_3_and_1_2() {
    let lab = spawn_lab().await;
    let Some(openssl) = installed("openssl") else {
        return;
    };
    let pki = pki();
    let path = |name: &str| pki.path(name).display().to_string();
    for (flag, words) in [
        (
            "-tls1_3",
            &["certificate_required (116)", "wsprobe presented none"][..],
        ),
        (
            "-tls1_2",
            &[
                "asked for a client certificate (CertificateRequest)",
                "handshake_failure (40)",
                "wsprobe presented none",
                "auth layer, the server acted",
            ][..],
        ),
    ] {
        let server = start(
            &openssl,
            "unused",
            "",
            &[
                "s_server",
                "-quiet",
                "-accept",
                "127.0.0.1:{port}",
                "-cert",
                &path("server.pem"),
                "-key",
                &path("server.key"),
                "-CAfile",
                &path("ca.pem"),
                "-Verify",
                "1",
                flag,
            ],
        )
        .await;
        let result = probe(&lab, &mtls_env("alert", server.port, &pki, None), &[]).await;
        assert_eq!(
            result.verdict,
            Verdict::TlsFailed,
            "{flag}: {}",
            result.diagnosis
        );
        assert_has(&result.diagnosis, words);
        drop(server);
    }
}

#[test]
fn client_certificate_mistakes_are_config_errors_naming_the_key() {
    let pki = pki();
    let yaml = |cert: &str, key: &str| {
        format!(
            "environments:\n  - name: a\n    url: wss://localhost/ws\n    tls:\n      client_cert: {cert}\n      client_key: {key}\n"
        )
    };
    let path = |name: &str| pki.path(name).display().to_string();
    let error = |text: String| {
        wsprobe::config::load_str(Path::new("probes.yaml"), &text, &|_| None)
            .unwrap_err()
            .to_string()
    };
    let mismatched = error(yaml(&path("client.pem"), &path("stranger.key")));
    assert_has(
        &mismatched,
        &[
            "probes.yaml:6:",
            "environments[0].tls.client_key:",
            "is not the private key of the certificate",
        ],
    );
    let missing = error(yaml(&path("nope.pem"), &path("client.key")));
    assert_has(
        &missing,
        &[
            "probes.yaml:5:",
            "environments[0].tls.client_cert: cannot read",
        ],
    );
    let not_a_key = error(yaml(&path("client.pem"), &path("client.pem")));
    assert_has(
        &not_a_key,
        &[
            "environments[0].tls.client_key:",
            "holds no PEM private key",
        ],
    );
    let key_pem = std::fs::read_to_string(pki.path("client.key")).unwrap();
    let secret_line = key_pem.lines().nth(1).unwrap();
    for message in [&mismatched, &missing, &not_a_key] {
        assert!(!message.contains(secret_line), "the key leaks: {message}");
    }
    let alone = wsprobe::config::load_str(
        Path::new("probes.yaml"),
        &format!("environments:\n  - name: a\n    url: wss://localhost/ws\n    tls: {{ client_cert: {} }}\n", path("client.pem")),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert_has(
        &alone,
        &["environments[0].tls.client_cert: needs tls.client_key too"],
    );
}

// ---- the egress proxy ----------------------------------------------------------------------

const PROXY_USER: &str = "probe-user";
const PROXY_PASSWORD: &str = "Sq1d-pa55word-x7";

/// Squid with Basic credentials, as its own process; its password file and logs in a
/// directory its unprivileged user can write.
struct Squid {
    process: Process,
    shared: tempfile::TempDir,
}

impl Squid {
    fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => {
                format!("http://{user}:{password}@127.0.0.1:{}", self.process.port)
            }
            None => format!("http://127.0.0.1:{}", self.process.port),
        }
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.shared.path().join("access.log")).unwrap_or_default()
    }
}

async fn squid() -> Option<Squid> {
    let binary = installed("squid")?;
    let openssl = installed("openssl")?;
    let shared = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let open_to = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    // Squid started as root works as its own unprivileged user.
    open_to(shared.path(), 0o777);
    let hash = Command::new(openssl)
        .args(["passwd", "-apr1", PROXY_PASSWORD])
        .output()
        .unwrap();
    let hash = String::from_utf8(hash.stdout).unwrap();
    let passwd = shared.path().join("passwd");
    std::fs::write(&passwd, format!("{PROXY_USER}:{}", hash.trim())).unwrap();
    open_to(&passwd, 0o644);
    let at = shared.path().display().to_string();
    let config = format!(
        "http_port 127.0.0.1:{{port}}\npid_filename {at}/squid.pid\ncache_log {at}/cache.log\naccess_log {at}/access.log\ncache deny all\ncoredump_dir {at}\n\
         auth_param basic program /usr/lib/squid/basic_ncsa_auth {at}/passwd\nauth_param basic realm wsprobe-test\n\
         acl authed proxy_auth REQUIRED\nacl forbidden dstdomain forbidden.test\n\
         http_access deny !authed\nhttp_access deny forbidden\nhttp_access allow authed\nshutdown_lifetime 0 seconds\n"
    );
    let process = start(
        &binary,
        "squid.conf",
        &config,
        &["-N", "-f", "{dir}/squid.conf"],
    )
    .await;
    Some(Squid { process, shared })
}

/// The result's JSON and the diagnosis never hold the proxy's password, user or their Basic
/// header value.
fn assert_no_proxy_secrets(text: &str) {
    use base64::Engine as _;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"));
    for secret in [PROXY_PASSWORD, PROXY_USER, basic.as_str()] {
        assert!(!text.contains(secret), "{secret:?} leaks: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_squid_with_credentials_and_its_refusals_named_as_the_proxys() {
    let lab = spawn_lab().await;
    let Some(squid) = squid().await else {
        return;
    };
    let with = squid.url(Some((PROXY_USER, PROXY_PASSWORD)));
    let env = |name: &str, url: &str, proxy: &str| {
        format!(
            "  - name: {name}\n    url: {url}\n    proxy: \"{proxy}\"\n    health: {{ url: \"http://${{LAB}}/health\" }}\n"
        )
    };

    let ok = probe(&lab, &env("through", "ws://${LAB}/ws/healthy", &with), &[]).await;
    assert_eq!(ok.verdict, Verdict::Ok, "{}", ok.diagnosis);
    assert!(ok.phases_ms.proxy.is_some(), "{:?}", ok.phases_ms);
    assert_eq!(ok.health.as_ref().unwrap().http_status, Some(200));
    assert_eq!(ok.peer.as_ref().unwrap().address, "127.0.0.1");
    let log = squid.access_log();
    assert!(
        log.contains(&format!("CONNECT {}", lab.addr())),
        "the socket went through Squid: {log}"
    );
    assert!(
        log.contains(&format!("http://{}/health", lab.addr())),
        "the health check went through Squid too: {log}"
    );
    assert_no_proxy_secrets(&serde_json::to_string(&ok).unwrap());

    let anonymous = probe(
        &lab,
        &env("anonymous", "ws://${LAB}/ws/healthy", &squid.url(None)),
        &[],
    )
    .await;
    assert_eq!(anonymous.verdict, Verdict::ConnectRefused);
    assert_eq!(anonymous.http_status, Some(407));
    assert_has(
        &anonymous.diagnosis,
        &[
            &format!("The egress proxy 127.0.0.1:{}", squid.process.port),
            "HTTP 407 Proxy Authentication Required",
            "Proxy-Authenticate: Basic realm=\"wsprobe-test\"",
            "the proxy URL carries none",
            "not the server's",
            "proxy layer, a proxy or gateway acted",
        ],
    );
    assert!(anonymous.phases_ms.upgrade.is_none() && anonymous.phases_ms.proxy.is_some());

    let wrong = probe(
        &lab,
        &env(
            "wrong",
            "ws://${LAB}/ws/healthy",
            &squid.url(Some((PROXY_USER, "not-the-password"))),
        ),
        &[],
    )
    .await;
    assert_eq!(wrong.http_status, Some(407));
    assert_has(&wrong.diagnosis, &["refused the ones in the proxy URL"]);
    assert!(
        !wrong.diagnosis.contains("not-the-password"),
        "{}",
        wrong.diagnosis
    );

    let forbidden = probe(
        &lab,
        &env("forbidden", "wss://forbidden.test/ws", &with),
        &[],
    )
    .await;
    assert_eq!(forbidden.http_status, Some(403), "{}", forbidden.diagnosis);
    assert_has(
        &forbidden.diagnosis,
        &[
            "HTTP 403 Forbidden",
            "X-Squid-Error: ERR_ACCESS_DENIED",
            "access rules",
        ],
    );

    // Nothing listens at the target: Squid says it could not connect.
    let port = crate::helpers::free_port().port();
    let down = probe(
        &lab,
        &env("down", &format!("ws://127.0.0.1:{port}/ws"), &with),
        &[],
    )
    .await;
    assert_eq!(down.verdict, Verdict::ConnectRefused, "{}", down.diagnosis);
    assert_has(
        &down.diagnosis,
        &[
            "HTTP 503",
            "ERR_CONNECT_FAIL",
            "could not connect to 127.0.0.1:",
            "itself",
        ],
    );

    // The proxy itself is not there.
    let gone = probe(
        &lab,
        &env(
            "gone",
            "ws://${LAB}/ws/healthy",
            &format!("http://127.0.0.1:{port}"),
        ),
        &[],
    )
    .await;
    assert_eq!(gone.verdict, Verdict::ConnectRefused);
    assert_has(
        &gone.diagnosis,
        &["could not reach its egress proxy", "was never tried"],
    );

    for result in [&anonymous, &wrong, &forbidden, &down, &gone] {
        assert_no_proxy_secrets(&serde_json::to_string(result).unwrap());
    }
}

/// `wsprobe check --format json` as a child with `vars` as its only proxy variables.
fn check_as_child(
    config: &Path,
    vars: &[(&str, &str)],
    wrapper: Option<&[String]>,
) -> (Value, String) {
    let wsprobe = env!("CARGO_BIN_EXE_wsprobe");
    let mut command = match wrapper {
        Some(argv) => {
            let mut command = Command::new(&argv[0]);
            command.args(&argv[1..]).arg(wsprobe);
            command
        }
        None => Command::new(wsprobe),
    };
    command
        .args(["check", "--format", "json", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    let output = command.output().expect("wsprobe check runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("{err}: stdout {stdout:?}, stderr {stderr:?}"));
    (json["results"][0].clone(), format!("{stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_and_no_proxy_are_read_from_the_environment() {
    let lab = spawn_lab().await;
    let Some(squid) = squid().await else {
        return;
    };
    let front = tls_front(lab.addr(), time::Duration::days(30)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &front.ca_pem).unwrap();
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            "environments:\n  - name: front\n    url: wss://localhost:{}/ws/healthy\n    tls: {{ ca_file: ca.pem }}\n",
            front.addr.port()
        ),
    )
    .unwrap();
    let proxy = squid.url(Some((PROXY_USER, PROXY_PASSWORD)));

    let (through, output) = check_as_child(&config, &[("HTTPS_PROXY", &proxy)], None);
    assert_eq!(through["verdict"], "ok", "{output}");
    assert!(through["phases_ms"]["proxy"].is_number(), "{through}");
    assert_no_proxy_secrets(&output);
    assert!(
        squid
            .access_log()
            .contains(&format!("CONNECT localhost:{}", front.addr.port()))
    );

    let (bypassed, output) = check_as_child(
        &config,
        &[
            ("HTTPS_PROXY", &proxy),
            ("NO_PROXY", "example.com, localhost"),
        ],
        None,
    );
    assert_eq!(bypassed["verdict"], "ok", "{output}");
    assert!(bypassed["phases_ms"]["proxy"].is_null(), "{bypassed}");

    // `HTTP_PROXY` is for ws:// and http://, not for this wss:// URL.
    let (plain_only, output) =
        check_as_child(&config, &[("HTTP_PROXY", "http://127.0.0.1:9")], None);
    assert_eq!(plain_only["verdict"], "ok", "{output}");

    let bad = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["check", "--config"])
        .arg(&config)
        .env("HTTPS_PROXY", "socks5://127.0.0.1:1080")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_has(
        &stderr,
        &[
            "HTTPS_PROXY",
            "socks5:// proxies are not supported",
            "proxy: none",
        ],
    );
}

#[test]
fn a_bad_proxy_key_is_a_config_error_and_none_turns_the_variables_off() {
    let load = |proxy: &str, vars: &'static [(&'static str, &'static str)]| {
        let yaml = format!(
            "environments:\n  - name: a\n    url: wss://chat.example.com/ws\n    proxy: {proxy}\n"
        );
        wsprobe::config::load_str(Path::new("probes.yaml"), &yaml, &|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let error = load("\"https://user:hunter2-secret@proxy.corp:3128\"", &[])
        .unwrap_err()
        .to_string();
    assert_has(
        &error,
        &["probes.yaml:4:", "environments[0].proxy:", "https:// proxy"],
    );
    assert!(!error.contains("hunter2-secret"), "{error}");
    let off = load("none", &[("HTTPS_PROXY", "socks5://bad:1")]).unwrap();
    assert!(
        off.environments[0]
            .network
            .proxy_for(&off.environments[0].url)
            .is_none()
    );
}

// ---- dual stack ----------------------------------------------------------------------------

/// A listening IPv4 socket whose accept queue is full: the kernel drops further SYNs, so a
/// connection to it neither completes nor is refused, as behind a dropping firewall.
struct Blackhole {
    addr: SocketAddr,
    _listener: tokio::net::TcpListener,
    _fillers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        for filler in &self._fillers {
            filler.abort();
        }
    }
}

async fn blackhole() -> Blackhole {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let fillers = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let held = tokio::net::TcpStream::connect(addr).await;
                std::future::pending::<()>().await;
                drop(held);
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Checked, not assumed: a connection now gets no answer.
    let probe =
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await;
    assert!(probe.is_err(), "the accept queue is not full: {probe:?}");
    Blackhole {
        addr,
        _listener: listener,
        _fillers: fillers,
    }
}

/// `[::1]:port` forwarding to the lab.
async fn ipv6_front(port: u16, lab: SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("::1", port)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut backend) = tokio::net::TcpStream::connect(lab).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
                }
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_address_keeps_the_host_name_and_a_blackholed_one_times_out_naming_it() {
    let lab = spawn_lab().await;
    let hole = blackhole().await;
    let port = hole.addr.port();
    let front = ipv6_front(port, lab.addr()).await;

    let pinned = probe(
        &lab,
        &format!("  - name: pinned\n    url: ws://dual.test:{port}/ws/healthy\n    resolve: {{ \"dual.test:{port}\": \"::1\" }}\n"),
        &[],
    )
    .await;
    assert_eq!(pinned.verdict, Verdict::Ok, "{}", pinned.diagnosis);
    let peer = pinned.peer.as_ref().unwrap();
    assert_eq!((peer.address.as_str(), peer.family), ("::1", Family::Ipv6));
    assert_eq!(
        pinned.headers.sent.get("host").map(String::as_str),
        Some(format!("dual.test:{port}").as_str())
    );
    assert!(pinned.phases_ms.dns.is_none(), "a pin is not a lookup");

    let dropped = probe(
        &lab,
        &format!("  - name: dropped\n    url: ws://dual.test:{port}/ws/healthy\n    timeout: 3s\n    resolve: {{ \"dual.test:{port}\": 127.0.0.1 }}\n"),
        &[],
    )
    .await;
    assert_eq!(
        dropped.verdict,
        Verdict::ConnectTimeout,
        "{}",
        dropped.diagnosis
    );
    assert_eq!(dropped.addresses_tried.len(), 1);
    assert_eq!(dropped.addresses_tried[0].outcome, Outcome::TimedOut);
    assert_has(&dropped.diagnosis, &["at IPv4 127.0.0.1"]);
    front.abort();
}

/// `wsprobe check` in a mount namespace whose `/etc/hosts` says `dual.test` is both
/// 127.0.0.1 and ::1: the system resolver itself gives both families.
fn check_with_hosts(config: &Path, hosts: &Path) -> Option<(Value, String)> {
    let unshare = installed("unshare")?;
    let script = format!(
        "mount --bind {} /etc/hosts && exec \"$0\" \"$@\"",
        hosts.display()
    );
    let wrapper = vec![
        unshare.display().to_string(),
        "-m".to_owned(),
        "sh".to_owned(),
        "-c".to_owned(),
        script,
    ];
    Some(check_as_child(config, &[], Some(&wrapper)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_name_falls_back_from_a_blackholed_ipv4_to_ipv6_and_says_so() {
    let lab = spawn_lab().await;
    let hole = blackhole().await;
    let port = hole.addr.port();
    let front = ipv6_front(port, lab.addr()).await;
    // A second port: IPv4 blackholed, nothing on IPv6 (refused).
    let both_bad = blackhole().await;
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "127.0.0.1 localhost\n127.0.0.1 dual.test\n::1 dual.test\n",
    )
    .unwrap();
    let config = dir.path().join("probes.yaml");
    let write = |yaml: String| std::fs::write(&config, format!("environments:\n{yaml}")).unwrap();

    write(format!(
        "  - name: dual\n    url: ws://dual.test:{port}/ws/healthy\n    ip_family: prefer_ipv4\n    timeout: 10s\n"
    ));
    let Some((dual, output)) = check_with_hosts(&config, &hosts) else {
        return;
    };
    assert_eq!(dual["verdict"], "ok", "{output}");
    assert_eq!(
        dual["peer"],
        serde_json::json!({"address": "::1", "family": "ipv6"}),
        "{output}"
    );
    let tried = dual["addresses_tried"].as_array().unwrap();
    assert_eq!(tried[0]["address"], "127.0.0.1", "{output}");
    assert_eq!(tried[0]["family"], "ipv4");
    assert_eq!(
        tried[0]["outcome"], "cancelled",
        "the IPv4 attempt had no answer when IPv6 won: {output}"
    );
    assert!(tried[0]["ms"].as_f64().unwrap() >= 250.0, "{output}");
    assert_eq!(tried[1]["outcome"], "connected");
    assert!(
        tried[1]["started_ms"].as_f64().unwrap() >= 250.0,
        "RFC 8305's attempt delay: {output}"
    );
    assert_has(
        dual["diagnosis"].as_str().unwrap(),
        &["via IPv6 ::1 after IPv4 127.0.0.1"],
    );

    write(format!(
        "  - name: dual\n    url: ws://dual.test:{}/ws/healthy\n    timeout: 3s\n",
        both_bad.addr.port()
    ));
    let (failed, output) = check_with_hosts(&config, &hosts).unwrap();
    assert_eq!(failed["verdict"], "connect_timeout", "{output}");
    assert_has(
        failed["diagnosis"].as_str().unwrap(),
        &["IPv6 ::1 refused", "IPv4 127.0.0.1 timed out"],
    );

    write(format!(
        "  - name: dual\n    url: ws://dual.test:{port}/ws/healthy\n    ip_family: ipv6\n"
    ));
    let (only_v6, output) = check_with_hosts(&config, &hosts).unwrap();
    assert_eq!(only_v6["verdict"], "ok", "{output}");
    assert_eq!(
        only_v6["addresses_tried"].as_array().unwrap().len(),
        1,
        "{output}"
    );
    front.abort();
}
