//! `wsprobe demo`: the failure lab plus wsprobe probing it from the bundled config, so a new
//! user sees every failure named without setting anything up.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::{config, lab};

/// The repository's reference `probes.yaml` doubles as the demo config: it points at
/// `${WSPROBE_LAB}`, which the demo sets to the address of the lab it started.
pub const BUNDLED_CONFIG: &str = include_str!("../probes.yaml");

/// Load the bundled config against a lab listening at `lab_addr`; other variables come from
/// the process environment as usual.
pub fn bundled_config(
    lab_addr: std::net::SocketAddr,
) -> Result<config::Config, config::ConfigError> {
    let lab = lab_addr.to_string();
    let lookup = move |name: &str| {
        if name == "WSPROBE_LAB" {
            Some(lab.clone())
        } else {
            std::env::var(name).ok()
        }
    };
    config::load_str(
        std::path::Path::new("probes.yaml (bundled)"),
        BUNDLED_CONFIG,
        &lookup,
    )
}

pub fn lab_banner(lab: &lab::Lab) -> String {
    let mut out = format!("wsprobe failure lab on {}\n\n", lab.addr());
    let endpoints = lab.endpoints();
    let width = endpoints.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let url_width = endpoints.iter().map(|e| e.url.len()).max().unwrap_or(0);
    for endpoint in endpoints {
        out.push_str(&format!(
            "  {:<width$}  {:<url_width$}  {:<20}  {}\n",
            endpoint.name, endpoint.url, endpoint.expect, endpoint.description
        ));
    }
    // The repository's probes.yaml points at the default port; anywhere else, say how to
    // point it here.
    let check = if lab.addr().to_string() == crate::lab::DEFAULT_LISTEN {
        "wsprobe check".to_owned()
    } else {
        format!("WSPROBE_LAB={} wsprobe check", lab.addr())
    };
    out.push_str(&format!(
        "\nProbe it from another shell with `{check}` (the repository's probes.yaml reads WSPROBE_LAB).\n"
    ));
    out
}

/// The demo probes often so a visitor sees results change while watching.
const DEMO_SCHEDULE: &str = "*/10 * * * * *";

pub async fn run() -> ExitCode {
    match run_demo().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_demo() -> anyhow::Result<()> {
    use anyhow::Context as _;
    let lab_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot open a local port for the lab")?;
    let shutdown = CancellationToken::new();
    let lab = lab::Lab::spawn(lab_listener, lab::LabOptions::default(), shutdown.clone())
        .context("cannot start the lab")?;
    let mut config = bundled_config(lab.addr())?;
    let schedule = config::Schedule::parse(DEMO_SCHEDULE).map_err(anyhow::Error::msg)?;
    for env in &mut config.environments {
        std::sync::Arc::make_mut(env).schedule = schedule.clone();
    }
    let database = std::env::temp_dir().join(format!("wsprobe-demo-{}.db", std::process::id()));
    config.storage.path = database.clone();
    // The usual port when free, any port otherwise: the demo must start whatever else runs.
    let listener = match tokio::net::TcpListener::bind(config.server.listen).await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?,
    };
    let address = listener.local_addr()?;
    // Alert links must point at this demo's page, whichever port it got.
    config.server.public_url = Some(url::Url::parse(&format!("http://{address}/"))?);
    print!("{}", lab_banner(&lab));
    let public = match config.server.public.as_ref().map(|p| &p.at) {
        Some(config::PublicAt::Path(path)) => format!("   Public page: http://{address}{path}/"),
        _ => String::new(),
    };
    println!(
        "\nwsprobe demo: probing {} lab environments every 10 s (database {}).\nStatus page: http://{address}/{public}   API: http://{address}/api/v1/status   Ctrl-C stops.\n",
        config.environments.len(),
        database.display()
    );
    let result = crate::daemon::run_daemon(config, Some(listener)).await;
    shutdown.cancel();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    result
}
