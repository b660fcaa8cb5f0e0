//! The command line: `run | check | validate | lab | demo | alert test | silence`, and what
//! each maps to in the library. `silence` (its own file) is a client of the running daemon.

mod silence;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::telemetry::LogFormat;
use crate::{check, config, lab};

const CONFIG_HELP: &str = "The config file [default: $WSPROBE_CONFIG, else ./probes.yaml]";

/// `0.1.0 (3f9c2ab41d07)`: the commit says exactly what runs, the version alone does not.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("WSPROBE_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "wsprobe",
    version = VERSION,
    about = "Authenticated WebSocket probes that say why a connection failed"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log lines as text for people or JSON for log pipelines (stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Cli {
    /// How to log: the chosen format, and the level when `RUST_LOG` is not set (quiet for
    /// one-shot commands, informative for the long-running ones).
    pub fn log_settings(&self) -> (LogFormat, &'static str) {
        let level = match self.command {
            Command::Check { .. }
            | Command::Validate { .. }
            | Command::Healthcheck { .. }
            | Command::Silence { .. } => "warn",
            // PostgreSQL tells every start that the migrations table exists: not news.
            _ => "info,sqlx::postgres::notice=warn",
        };
        (self.log_format, level)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: probes on schedule, stores results, serves the status page and API.
    Run {
        #[arg(long, short, value_name = "FILE", help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Probe once now and exit: 0 all up or degraded, 1 any down, 2 bad config or usage.
    Check {
        #[arg(long, short, value_name = "FILE", help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// Only these environments (repeatable).
        #[arg(long = "env", short = 'e', value_name = "NAME")]
        envs: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// How many probes run at once.
        #[arg(long, default_value_t = check::DEFAULT_CONCURRENCY)]
        concurrency: usize,
    },
    /// Load and validate the config, print what would run; exit 0, or 2 on error.
    Validate {
        #[arg(long, short, value_name = "FILE", help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
    /// Serve the failure lab: misbehaving endpoints that reproduce each failure.
    Lab {
        #[arg(long, default_value = lab::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// How long `/ws/startup` keeps failing after the lab starts.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        startup: std::time::Duration,
    },
    /// The failure lab plus wsprobe probing it from a bundled config. Needs nothing external.
    Demo,
    /// Ask a running daemon whether it is alive (GET /healthz at `server.listen`): exit 0 if it
    /// answers 2xx, 1 otherwise. For container health checks (no curl needed).
    Healthcheck {
        #[arg(long, short, value_name = "FILE", help = CONFIG_HELP)]
        config: Option<PathBuf>,
        /// The address to ask instead of the config's `server.listen`, e.g.
        /// `http://127.0.0.1:8080/healthz`.
        #[arg(long)]
        url: Option<url::Url>,
    },
    /// Print the JSON Schema (draft 2020-12) of probes.yaml, for editors and CI linters.
    Schema,
    /// Print shell completions: `wsprobe completions bash > /etc/bash_completion.d/wsprobe`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Alerting tools.
    Alert {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Silence notifications on a running daemon (its API): `add`, `list`, `expire`. Exit 0
    /// done, 1 the daemon refused or could not be reached, 2 bad usage or config.
    Silence {
        #[command(subcommand)]
        command: silence::SilenceCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a clearly marked test notification through a channel now and print the outcome:
    /// exit 0 delivered, 1 failed, 2 bad config or usage.
    Test {
        /// The channel's `name` under alerts.channels.
        #[arg(long)]
        channel: String,
        #[arg(long, short, value_name = "FILE", help = CONFIG_HELP)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Write to stdout; a reader that went away (`wsprobe completions bash | head -5`) ends the
/// output, not the process with a panic.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write to stdout: {err}");
    }
}

pub async fn execute(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run { config } => run_daemon(config.as_deref()).await,
        Command::Check {
            config,
            envs,
            format,
            concurrency,
        } => check_once(config.as_deref(), &envs, format, concurrency).await,
        Command::Validate { config } => match load(config.as_deref()) {
            Ok(config) => {
                emit(&config::describe_with(
                    &config,
                    &crate::probe::presets::describe,
                ));
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Lab { listen, startup } => serve_lab(listen, startup).await,
        Command::Demo => crate::demo::run().await,
        Command::Schema => {
            let schema =
                serde_json::to_string_pretty(&config::json_schema()).expect("a schema serializes");
            emit(&format!("{schema}\n"));
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "wsprobe", &mut script);
            emit(&String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        Command::Healthcheck { config, url } => healthcheck(config.as_deref(), url).await,
        Command::Alert {
            command: AlertCommand::Test { channel, config },
        } => match load(config.as_deref()) {
            Ok(config) => alert_test(&config, &channel).await,
            Err(code) => code,
        },
        Command::Silence { command } => silence::execute(command).await,
    }
}

async fn run_daemon(config: Option<&std::path::Path>) -> ExitCode {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match crate::daemon::run_daemon(config, None).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Probe the selected environments once and print the results.
async fn check_once(
    config: Option<&std::path::Path>,
    envs: &[String],
    format: Format,
    concurrency: usize,
) -> ExitCode {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let selected = match check::select(&config, envs) {
        Ok(selected) => selected,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::scrub_logs_of(&config);
    let prober = crate::probe::Prober::for_config(&config);
    let results = check::run(&prober, &selected, concurrency).await;
    match format {
        Format::Json => emit(&format!("{}\n", check::render_json(&results))),
        Format::Text => {
            let color = std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            emit(&check::render_text(&results, color));
        }
    }
    ExitCode::from(check::exit_code(&results))
}

/// The failure lab alone, until a signal.
async fn serve_lab(listen: SocketAddr, startup: std::time::Duration) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {listen}: {err}");
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    let options = lab::LabOptions {
        startup_duration: startup,
        ..lab::LabOptions::default()
    };
    let lab = match lab::Lab::spawn(listener, options, shutdown.clone()) {
        Ok(lab) => lab,
        Err(err) => {
            eprintln!("error: cannot start the lab: {err}");
            return ExitCode::from(2);
        }
    };
    let signal = crate::daemon::listen_for_signal();
    print!("{}", crate::demo::lab_banner(&lab));
    signal.await;
    shutdown.cancel();
    ExitCode::SUCCESS
}

/// One attempt through the real channel code, synchronously; the daemon is not involved.
async fn alert_test(config: &config::Config, channel: &str) -> ExitCode {
    let (kind, sends) = match crate::alert::send_test(config, channel, chrono::Utc::now()).await {
        Ok(sent) => sent,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let mut delivered = true;
    for send in &sends {
        let took = send.took.as_millis();
        let what = match send.what {
            "resolve" => "resolving the test alert".to_owned(),
            _ => format!("test notification to {channel} ({kind})"),
        };
        match &send.attempt {
            crate::alert::Attempt::Delivered => println!("{what}: delivered in {took} ms"),
            crate::alert::Attempt::Retry { error, .. } => {
                delivered = false;
                println!("{what}: failed after {took} ms (a later retry could succeed): {error}");
            }
            crate::alert::Attempt::Failed { error } => {
                delivered = false;
                println!("{what}: failed after {took} ms: {error}");
            }
        }
    }
    if delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// How long `healthcheck` waits for the daemon: less than any sensible HEALTHCHECK timeout.
const HEALTHCHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Exit 0 when the daemon answers its /healthz with 2xx, else 1 with the reason on stderr.
/// Docker reserves exit codes above 1, so a bad config is 1 here too.
async fn healthcheck(config: Option<&std::path::Path>, url: Option<url::Url>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => {
            let path = config::resolve_path(config);
            let config = match config::load(&path) {
                Ok(config) => config,
                Err(err) => {
                    eprintln!("unhealthy: {err}");
                    return ExitCode::from(1);
                }
            };
            healthz_url(config.server.listen)
        }
    };
    crate::probe::tls::ensure_crypto_provider();
    let client = match reqwest::Client::builder()
        .timeout(HEALTHCHECK_TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            eprintln!("unhealthy: cannot build an HTTP client: {err}");
            return ExitCode::from(1);
        }
    };
    match client.get(url.clone()).send().await {
        Ok(response) if response.status().is_success() => {
            println!("healthy: {url} answered {}", response.status());
            ExitCode::SUCCESS
        }
        Ok(response) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("unhealthy: {url}: {err}");
            ExitCode::from(1)
        }
    }
}

/// `/healthz` at the address the daemon listens on; a wildcard listen (`0.0.0.0:8080` in a
/// container) is asked on loopback.
pub fn healthz_url(listen: SocketAddr) -> url::Url {
    daemon_url(listen, "/healthz")
}

/// `path` at the address the daemon listens on, a wildcard listen asked on loopback.
fn daemon_url(listen: SocketAddr, path: &str) -> url::Url {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, listen.port());
    url::Url::parse(&format!("http://{addr}{path}")).expect("an address makes a valid URL")
}

/// Config errors are printed as they are (they name file, line and key) and exit 2.
fn load(flag: Option<&std::path::Path>) -> Result<config::Config, ExitCode> {
    let path = config::resolve_path(flag);
    config::load(&path).map_err(|err| {
        // One line per mistake, each a complete `error: file:line:col: key: message`.
        for mistake in err.into_list() {
            eprintln!("error: {mistake}");
        }
        ExitCode::from(2)
    })
}
