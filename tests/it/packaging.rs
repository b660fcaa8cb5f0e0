//! Running in production: `wsprobe healthcheck` (the container's HEALTHCHECK), and the parts of
//! the Dockerfile, compose stack and deploy configs that can be checked without a Docker engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::spawn_lab;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn healthcheck(args: &[&str], config_env: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wsprobe"));
    command
        .arg("healthcheck")
        .args(args)
        .env_remove("WSPROBE_CONFIG");
    if let Some(path) = config_env {
        command.env("WSPROBE_CONFIG", path);
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_asks_the_daemon_at_server_listen() {
    let lab = spawn_lab().await;
    let dir = tempfile::tempdir().unwrap();
    // A free port, listened on as a container does: on every interface.
    let port = crate::helpers::free_port().port();
    let config = dir.path().join("probes.yaml");
    std::fs::write(
        &config,
        format!(
            "environments:\n  - name: healthy\n    url: ws://{}/ws/healthy\nserver: {{ listen: \"0.0.0.0:{port}\" }}\nstorage: {{ path: {} }}\n",
            lab.addr(),
            dir.path().join("wsprobe.db").display()
        ),
    )
    .unwrap();
    assert_eq!(
        wsprobe::cli::healthz_url(format!("0.0.0.0:{port}").parse().unwrap()).as_str(),
        format!("http://127.0.0.1:{port}/healthz")
    );

    let mut daemon = Command::new(env!("CARGO_BIN_EXE_wsprobe"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("WSPROBE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let config_for_check = config.clone();
    let healthy = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            // As the image's HEALTHCHECK runs it: the config from $WSPROBE_CONFIG.
            let out = healthcheck(&[], Some(&config_for_check));
            if out.status.success() || started.elapsed() > Duration::from_secs(30) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    assert_eq!(
        healthy.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    let with_flag = healthcheck(&["--config", config.to_str().unwrap()], None);
    assert_eq!(with_flag.status.code(), Some(0));
    let by_url = healthcheck(
        &["--url", &format!("http://127.0.0.1:{port}/healthz")],
        None,
    );
    assert_eq!(by_url.status.code(), Some(0));
    let not_found = healthcheck(&["--url", &format!("http://127.0.0.1:{port}/nope")], None);
    assert_eq!(not_found.status.code(), Some(1), "a 404 is not healthy");

    let _ = daemon.kill();
    let _ = daemon.wait();
    let down = healthcheck(&["--config", config.to_str().unwrap()], None);
    assert_eq!(down.status.code(), Some(1), "nothing listens any more");
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"));
    // A config that cannot be read is unhealthy, with exit 1 as well.
    let missing = healthcheck(&["--config", "/nonexistent/probes.yaml"], None);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "Docker reserves exit codes above 1"
    );
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn compose_wires_wsprobe_to_the_collector_to_prometheus_to_grafana() {
    let compose = yaml("compose.yaml");
    let services = compose["services"].as_object().unwrap();
    // Every file bind-mounted from the repository exists.
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if let Some(relative) = source.strip_prefix("./") {
                assert!(repo(relative).exists(), "{name} mounts missing {source}");
            }
        }
    }
    // Nothing is published beyond loopback: Grafana's anonymous viewer, Prometheus and the
    // collector have no authentication.
    for (name, service) in services {
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name} publishes {port} on every interface"
            );
        }
    }
    let rules = yaml("deploy/prometheus.yml");
    assert_eq!(rules["rule_files"][0], "prometheus-rules.yml");
    let wsprobe = &services["wsprobe"];
    assert_eq!(
        wsprobe["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"],
        "http://otel-collector:4318"
    );
    assert!(
        services["prometheus"]["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--web.enable-otlp-receiver")
    );

    let collector = yaml("deploy/otel-collector.yaml");
    for signal in ["metrics", "traces"] {
        let pipeline = &collector["service"]["pipelines"][signal];
        for kind in ["receivers", "processors", "exporters"] {
            for component in pipeline[kind].as_array().unwrap() {
                let component = component.as_str().unwrap();
                assert!(
                    collector[kind].get(component).is_some(),
                    "the {signal} pipeline names {kind} {component}, which is not defined"
                );
            }
        }
    }
    // Traces reach the stack's Jaeger, where the status page's trace links point.
    let jaeger = collector["exporters"]["otlp/jaeger"]["endpoint"]
        .as_str()
        .unwrap();
    let jaeger_host = jaeger.split(':').next().unwrap();
    assert!(
        services.contains_key(jaeger_host),
        "{jaeger_host} is a service"
    );
    let deployed = wsprobe::config::load(&repo("deploy/probes.yaml")).unwrap();
    let link = deployed
        .server
        .trace_url
        .as_ref()
        .expect("a trace_url")
        .link("abc");
    assert!(link.starts_with("http://localhost:16686/"), "{link}");
    assert_eq!(
        collector["exporters"]["otlphttp/prometheus"]["metrics_endpoint"],
        "http://prometheus:9090/api/v1/otlp/v1/metrics"
    );
    let prometheus = yaml("deploy/prometheus.yml");
    assert_eq!(
        prometheus["otlp"]["translation_strategy"], "UnderscoreEscapingWithSuffixes",
        "the dashboard's metric names depend on it"
    );
    let datasource = yaml("dashboards/provisioning/datasources/prometheus.yaml");
    assert_eq!(
        datasource["datasources"][0]["url"],
        "http://prometheus:9090"
    );

    // The container's config listens on every interface and keeps the database in the volume.
    let config = wsprobe::config::load(&repo("deploy/probes.yaml")).unwrap();
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
    assert!(config.storage.path.starts_with("/var/lib/wsprobe"));
}

#[test]
fn the_dockerfile_builds_what_the_crate_needs() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    let manifest = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust_version}-slim-trixie AS build")),
        "the builder must match rust-version {rust_version}"
    );
    for needed in [
        "cargo build --release --locked",
        "--mount=type=cache,target=/usr/local/cargo/registry",
        "--mount=type=cache,target=/src/target",
        "FROM debian:trixie-slim",
        "ca-certificates",
        "--uid 10001",
        "USER 10001:10001",
        "org.opencontainers.image.source=",
        "org.opencontainers.image.revision=",
        "VOLUME [\"/var/lib/wsprobe\"]",
        "ENV WSPROBE_CONFIG=/etc/wsprobe/probes.yaml",
        "EXPOSE 8080",
        "CMD [\"wsprobe\", \"healthcheck\"]",
    ] {
        assert!(dockerfile.contains(needed), "Dockerfile lacks {needed}");
    }
    assert!(
        dockerfile.starts_with("# syntax=docker/dockerfile:1\n"),
        "cache mounts need the BuildKit syntax line first"
    );
    let label = format!(
        "org.opencontainers.image.version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        dockerfile.contains(&label),
        "the image label follows Cargo.toml"
    );
    // What the build reads (build.rs, the embedded migrations and demo config) is copied, and
    // .dockerignore does not hide it.
    let ignored = std::fs::read_to_string(repo(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignored
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for input in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "probes.yaml",
        "migrations",
        "src",
    ] {
        assert!(
            dockerfile
                .lines()
                .any(|l| l.starts_with("COPY ") && !l.contains("--from") && l.contains(input)),
            "Dockerfile does not copy {input}"
        );
        assert!(!ignored.contains(&input), ".dockerignore hides {input}");
    }
}

/// The README's fleet: every instance of deploy/compose.fleet.yaml loads the one config with
/// its own variables, joins the same PostgreSQL, and says where it probes from; nothing is
/// published beyond loopback and every mounted file exists.
#[test]
fn the_fleet_compose_example_is_consistent() {
    let text = std::fs::read_to_string(repo("deploy/compose.fleet.yaml")).unwrap();
    let compose: Value = serde_saphyr::from_str(&text).unwrap();
    let services = compose["services"].as_object().unwrap();
    for (name, service) in services {
        for port in service["ports"].as_array().into_iter().flatten() {
            let port = port.as_str().unwrap();
            assert!(port.starts_with("127.0.0.1:"), "{name} publishes {port}");
        }
    }
    assert!(text.contains("./probes.fleet.yaml:/etc/wsprobe/probes.yaml:ro"));
    assert!(repo("deploy/probes.fleet.yaml").exists());
    let fleet_yaml = std::fs::read_to_string(repo("deploy/probes.fleet.yaml")).unwrap();
    crate::helpers::assert_schema_accepts(&fleet_yaml, "deploy/probes.fleet.yaml");
    let mut locations = std::collections::BTreeMap::<String, usize>::new();
    for instance in ["eu-west-1", "eu-west-2", "us-east-1"] {
        assert!(services.contains_key(instance), "{instance} is a service");
        let location = instance.rsplit_once('-').unwrap().0.to_owned();
        let edge = if location == "us-east" {
            "ws://lab:1/ws/healthy"
        } else {
            "ws://lab:8765/ws/healthy"
        };
        let vars = [
            ("WSPROBE_LOCATION", location.as_str()),
            ("WSPROBE_DB_PASSWORD", "change-me"),
            ("EDGE_URL", edge),
        ];
        let config =
            wsprobe::config::load_str(&repo("deploy/probes.fleet.yaml"), &fleet_yaml, &|name| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            })
            .unwrap();
        assert_eq!(config.location.as_deref(), Some(location.as_str()));
        let url = config.storage.url.as_ref().expect("a shared store");
        assert_eq!(
            url.expose(),
            "postgres://wsprobe:change-me@postgres:5432/wsprobe"
        );
        assert_eq!(config.alerts.defaults.min_locations, 2);
        *locations.entry(location).or_default() += 1;
    }
    assert_eq!(
        locations,
        [("eu-west".to_owned(), 2), ("us-east".to_owned(), 1)].into()
    );
}

/// `.ci/run` keeps services from starting while it installs packages, and takes that policy
/// away again on every exit: a `policy-rc.d` left behind stops apt from ever starting a service
/// on that machine afterwards. It never removes a policy it did not write.
#[test]
fn ci_removes_the_service_policy_it_added() {
    let script = std::fs::read_to_string(repo(".ci/run")).unwrap();
    let policy = "/usr/sbin/policy-rc.d";
    let creating = script
        .lines()
        .position(|line| line.contains(&format!("> {policy}")))
        .expect(".ci/run writes a policy-rc.d");
    let guard = script.lines().take(creating).collect::<Vec<_>>();
    assert!(
        guard
            .iter()
            .any(|line| line.contains(&format!("[ ! -e {policy} ]"))),
        "a policy-rc.d the machine already has is left alone"
    );
    let block: Vec<&str> = script
        .lines()
        .skip(creating)
        .take_while(|line| line.trim() != "fi")
        .collect();
    assert!(
        block.iter().any(|line| line.contains("trap")
            && line.contains(&format!("rm -f {policy}"))
            && line.contains("EXIT")),
        "the policy written by .ci/run is removed on exit: {block:?}"
    );
}
