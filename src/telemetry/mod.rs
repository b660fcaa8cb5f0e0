//! Logs (tracing subscriber) and metrics: [`Metrics`] records the SPEC's instruments and exports
//! them over OTLP ([`otlp`] resolves where to, from `telemetry.otlp` and the `OTEL_*` variables).

mod export;
pub mod instruments;
pub mod metrics;
pub mod otlp;

pub use metrics::Metrics;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people.
    Text,
    /// One JSON object a line, for log pipelines.
    Json,
}

/// Logs go to stderr so `check --format json` keeps stdout clean for pipelines. `default` is
/// the level when `RUST_LOG` is not set: quiet for one-shot commands, informative for the
/// long-running ones.
pub fn init_logging(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
