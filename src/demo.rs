//! `wsprobe demo`: the failure lab plus wsprobe probing it from the bundled config, so a new
//! user sees every failure named without setting anything up.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::{check, config, lab};

/// The repository's reference `probes.yaml` doubles as the demo config: it points at
/// `${WSPROBE_LAB}`, which the demo sets to the address of the lab it started.
pub const BUNDLED_CONFIG: &str = include_str!("../probes.yaml");

/// Load the bundled config against a lab listening at `lab_addr`; other variables come from
/// the process environment as usual.
pub fn bundled_config(lab_addr: std::net::SocketAddr) -> Result<config::Config, config::ConfigError> {
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
    out.push_str("\nProbe it from another shell with `wsprobe check` (the repository's probes.yaml points here).\n");
    out
}

pub async fn run() -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot open a local port for the lab: {err}");
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    let lab = match lab::Lab::spawn(listener, lab::LabOptions::default(), shutdown.clone()) {
        Ok(lab) => lab,
        Err(err) => {
            eprintln!("error: cannot start the lab: {err}");
            return ExitCode::from(2);
        }
    };
    let config = match bundled_config(lab.addr()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    print!("{}", lab_banner(&lab));
    println!();
    let prober = crate::probe::Prober::for_config(&config);
    let all: Vec<_> = config.environments.iter().collect();
    let results = check::run(&prober, &all, check::DEFAULT_CONCURRENCY).await;
    print!("{}", check::render_text(&results, false));
    shutdown.cancel();
    ExitCode::SUCCESS
}
