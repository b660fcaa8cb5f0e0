//! Real proxies in front of the lab (Debian's nginx, HAProxy and Caddy, each run by the test as
//! its own process on a loopback port): the failures they cause for real, and the sentence
//! wsprobe says about each. Every sentence must name the layer, read as one line of English,
//! and carry no markup from the proxy's page.

use std::process::Command;

use wsprobe::probe::{ProbeResult, Prober, Verdict};

use crate::helpers::servers::{Process as Proxy, installed, start};
use crate::helpers::{TestLab, config, spawn_lab};

async fn probe(lab: &TestLab, environment_yaml: &str) -> ProbeResult {
    let yaml = format!("environments:\n{environment_yaml}");
    let config = config(&yaml, lab, &[]);
    Prober::for_config(&config)
        .probe(&config.environments[0])
        .await
}

/// Through the proxy's correct route the probe passes: the proxy itself is not the problem.
async fn assert_passes_through(lab: &TestLab, port: u16) {
    let ok = probe(
        lab,
        &format!("  - name: ok\n    url: ws://127.0.0.1:{port}/ws/healthy\n"),
    )
    .await;
    assert_eq!(ok.verdict, Verdict::Ok, "{}", ok.diagnosis);
}

/// The sentence holds every word, no markup and no line break, and is one sentence.
fn assert_says(result: &ProbeResult, verdict: Verdict, words: &[&str]) {
    let sentence = &result.diagnosis;
    eprintln!("{}: {sentence}", result.environment);
    assert_eq!(result.verdict, verdict, "{sentence}");
    for word in words {
        assert!(sentence.contains(word), "{sentence:?} lacks {word:?}");
    }
    for markup in ["<", ">", "\n", "\r", "&lt;", "&amp;"] {
        assert!(!sentence.contains(markup), "{sentence:?} has {markup:?}");
    }
    assert!(sentence.ends_with('.'), "{sentence}");
}

const NGINX: &str = r#"
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
    large_client_header_buffers 2 1k;
    server {
        listen 127.0.0.1:{port};
        # A correct WebSocket route, whose upstream read times out after a second of silence.
        location /ws/ {
            proxy_pass http://LAB;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1s;
        }
        # The classic mistake: proxied without forwarding the upgrade.
        location /plain/ {
            proxy_pass http://LAB/ws/;
        }
        location /moved/ {
            return 301 https://$host$request_uri;
        }
    }
}
"#;

async fn nginx(lab: &TestLab) -> Option<Proxy> {
    let binary = installed("nginx")?;
    let config = NGINX.replace("LAB", &lab.addr().to_string());
    Some(
        start(
            &binary,
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
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_header_too_large_redirect_and_missing_upgrade_name_nginx_and_the_fix() {
    let lab = spawn_lab().await;
    let Some(proxy) = nginx(&lab).await else {
        return;
    };
    let port = proxy.port;

    assert_passes_through(&lab, port).await;

    // A header bigger than nginx's buffer: nginx's own 400 page.
    let big = "x".repeat(1500);
    let large = probe(
        &lab,
        &format!(
            "  - name: large\n    url: ws://127.0.0.1:{port}/ws/healthy\n    headers: {{ X-Big: \"{big}\" }}\n"
        ),
    )
    .await;
    assert_says(
        &large,
        Verdict::UpgradeRejected,
        &[
            "nginx answered",
            "HTTP 400",
            "Request Header Or Cookie Too Large",
            "large_client_header_buffers",
        ],
    );
    assert!(
        large.body_excerpt.as_deref().unwrap().contains("<html>"),
        "the evidence keeps the page"
    );

    // A route that does not forward the upgrade: the backend answers a plain GET.
    let plain = probe(
        &lab,
        &format!("  - name: plain\n    url: ws://127.0.0.1:{port}/plain/healthy\n"),
    )
    .await;
    assert_says(&plain, Verdict::UpgradeRejected, &["nginx"]);
    assert!(
        plain.diagnosis.contains("Upgrade") && plain.diagnosis.contains("forward"),
        "names the missing forward: {}",
        plain.diagnosis
    );

    // A redirect to https: say where, and that it wants wss://.
    let moved = probe(
        &lab,
        &format!("  - name: moved\n    url: ws://127.0.0.1:{port}/moved/ws\n"),
    )
    .await;
    assert_says(
        &moved,
        Verdict::UpgradeRejected,
        &[
            "HTTP 301",
            "redirects (Moved Permanently) to https://127.0.0.1",
            "use the wss:// URL",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nginx_read_timeout_mid_session_reads_as_an_idle_timeout() {
    let lab = spawn_lab().await;
    let Some(proxy) = nginx(&lab).await else {
        return;
    };
    // The welcome comes, then the step waits for a message that never comes; nginx cuts the
    // upstream after a second of silence.
    let result = probe(
        &lab,
        &format!(
            "  - name: idle\n    url: ws://127.0.0.1:{}/ws/healthy\n    timeout: 20s\n    steps:\n      - expect: {{ json: {{ /type: system_message }} }}\n      - expect: {{ within: 10s, contains: never-sent }}\n",
            proxy.port
        ),
    )
    .await;
    assert_says(
        &result,
        Verdict::StepFailed,
        &["steps[1]", "idle or read timeout"],
    );
}

const HAPROXY: &str = r#"
global
    pidfile {dir}/haproxy.pid
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout tunnel 1s
frontend probes
    bind 127.0.0.1:{port}
    http-request deny if { path_beg /denied }
    default_backend lab
backend lab
    server lab LAB
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_deny_and_tunnel_timeout_name_haproxy() {
    let lab = spawn_lab().await;
    let Some(binary) = installed("haproxy") else {
        return;
    };
    let config = HAPROXY.replace("LAB", &lab.addr().to_string());
    let proxy = start(
        &binary,
        "haproxy.cfg",
        &config,
        &["-db", "-f", "{dir}/haproxy.cfg"],
    )
    .await;
    let port = proxy.port;

    assert_passes_through(&lab, port).await;

    let denied = probe(
        &lab,
        &format!("  - name: denied\n    url: ws://127.0.0.1:{port}/denied/ws\n"),
    )
    .await;
    assert_says(
        &denied,
        Verdict::UpgradeRejected,
        &[
            "HTTP 403",
            "Request forbidden by administrative rules",
            "access rule at HAProxy",
        ],
    );

    // `timeout tunnel` cuts an established WebSocket after a second of silence.
    let idle = probe(
        &lab,
        &format!(
            "  - name: idle\n    url: ws://127.0.0.1:{port}/ws/healthy\n    timeout: 20s\n    steps:\n      - expect: {{ json: {{ /type: system_message }} }}\n      - expect: {{ within: 10s, contains: never-sent }}\n"
        ),
    )
    .await;
    assert_says(&idle, Verdict::StepFailed, &["idle or read timeout"]);
}

const CADDY: &str = r#"
{
    admin off
    auto_https off
    storage file_system {dir}/caddy
}
http://127.0.0.1:{port} {
    handle /app/* {
        header Content-Type "text/html; charset=utf-8"
        respond `<!doctype html>
<html><head><title>Acme &amp; Co Dashboard</title><script>window.x = "<b>"</script></head>
<body><div id="app">Loading…</div></body></html>` 200
    }
    reverse_proxy LAB
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_served_by_caddy_on_the_websocket_path_is_a_page_not_a_socket() {
    let lab = spawn_lab().await;
    let Some(binary) = installed("caddy") else {
        return;
    };
    let config = CADDY.replace("LAB", &lab.addr().to_string());
    let proxy = start(
        &binary,
        "Caddyfile",
        &config,
        &[
            "run",
            "--config",
            "{dir}/Caddyfile",
            "--adapter",
            "caddyfile",
        ],
    )
    .await;
    let port = proxy.port;
    assert_passes_through(&lab, port).await;

    let page = probe(
        &lab,
        &format!("  - name: page\n    url: ws://127.0.0.1:{port}/app/ws\n"),
    )
    .await;
    assert_says(
        &page,
        Verdict::UpgradeRejected,
        &[
            "Caddy answered",
            "HTTP 200",
            "\"Acme & Co Dashboard",
            "serves an HTTP page, not a WebSocket",
        ],
    );
}

#[tokio::test]
async fn plain_http_on_a_wss_url_and_an_expired_certificate_get_their_own_advice() {
    let lab = spawn_lab().await;
    // wss:// at the lab's plain HTTP port.
    let result = probe(&lab, "  - name: plain\n    url: wss://${LAB}/ws/healthy\n").await;
    assert_says(
        &result,
        Verdict::TlsFailed,
        &["does not speak TLS", "plain HTTP"],
    );

    // A certificate that expired five days ago, behind a real TLS listener.
    let front = crate::helpers::tls::tls_front(lab.addr(), time::Duration::days(-5)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();
    let expired = probe(
        &lab,
        &format!(
            "  - name: expired\n    url: wss://localhost:{}/ws/healthy\n    tls: {{ ca_file: {} }}\n",
            front.addr.port(),
            ca.display()
        ),
    )
    .await;
    assert_says(&expired, Verdict::TlsFailed, &["expired", "renew"]);
    assert!(
        expired.diagnosis.contains("4 days ago") || expired.diagnosis.contains("5 days ago"),
        "says when, in days: {}",
        expired.diagnosis
    );
    assert!(
        !expired.diagnosis.contains("seconds"),
        "{}",
        expired.diagnosis
    );

    // A certificate for `localhost` reached by address: the name is wrong, not the CA.
    let valid = crate::helpers::tls::tls_front(lab.addr(), time::Duration::days(90)).await;
    std::fs::write(&ca, &valid.ca_pem).unwrap();
    let wrong_name = probe(
        &lab,
        &format!(
            "  - name: wrong-name\n    url: wss://127.0.0.1:{}/ws/healthy\n    tls: {{ ca_file: {} }}\n",
            valid.addr.port(),
            ca.display()
        ),
    )
    .await;
    assert_says(
        &wrong_name,
        Verdict::TlsFailed,
        &["not valid for the host name"],
    );
    assert!(
        !wrong_name.diagnosis.contains("tls.ca_file"),
        "{}",
        wrong_name.diagnosis
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_only_speaks_tls_1_1_is_a_version_problem_not_a_certificate_one() {
    let lab = spawn_lab().await;
    let Some(openssl) = installed("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let made = Command::new(&openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // A real TLS server that accepts TLS 1.1 only (SECLEVEL 0 lets OpenSSL 3 offer it).
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
            cert.to_str().unwrap(),
            "-key",
            key.to_str().unwrap(),
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ],
    )
    .await;
    let result = probe(
        &lab,
        &format!(
            "  - name: old-tls\n    url: wss://localhost:{}/ws\n    tls: {{ insecure_skip_verify: true }}\n",
            server.port
        ),
    )
    .await;
    assert_says(
        &result,
        Verdict::TlsFailed,
        &["no TLS version or cipher suite", "TLS policy"],
    );
}
