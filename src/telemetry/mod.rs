//! Logs (tracing subscriber) and metrics: [`Metrics`] records the SPEC's instruments and exports
//! them over OTLP ([`otlp`] resolves where to, from `telemetry.otlp` and the `OTEL_*` variables).

pub mod metrics;
pub mod otlp;

pub use metrics::Metrics;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat};

/// Logs go to stderr so `check --format json` keeps stdout clean for pipelines. The default
/// level is quiet for one-shot commands and informative for the long-running ones.
pub fn init_logging(cli: &Cli) {
    let default = match cli.command {
        Command::Check { .. } | Command::Validate { .. } | Command::Healthcheck { .. } => "warn",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
