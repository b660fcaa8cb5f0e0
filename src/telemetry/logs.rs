//! Log set-up, and the two rules that keep secrets out of logs at every level: the
//! wire-level crates (WebSocket frames, raw HTTP reads and writes, HTTP/2 frames) never log at
//! `trace`, whatever `RUST_LOG` says, since those lines carry payloads (a minted token in an
//! auth message, a cookie); and every line written is scrubbed of the configured secrets.

use std::io::Write;
use std::sync::Arc;

use parking_lot::RwLock;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::Config;
use crate::probe::redact::Redactor;

/// Text for people, or one JSON object a line for log pipelines. Also the CLI's
/// `--log-format` values (the variants carry no doc comments: clap would print them as help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Targets whose `trace` lines hold what crossed the wire.
const WIRE_TARGETS: &[&str] = &[
    "tungstenite",
    "tokio_tungstenite",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tokio_rustls",
];

/// What every log line is scrubbed of: set from each config that comes into force.
static SECRETS: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

/// Scrub the logs of `config`'s secrets (and the URLs of its alert channels) from now on.
pub fn scrub_logs_of(config: &Config) {
    *SECRETS.write() = Some(Arc::new(crate::alert::delivery::redactor(config)));
}

/// Logs go to stderr so `check --format json` keeps stdout clean for pipelines. `default` is
/// the level when `RUST_LOG` is not set: quiet for one-shot commands, informative for the
/// long-running ones.
pub fn init_logging(format: LogFormat, default: &str) {
    let levels = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // https://no-color.org: any non-empty NO_COLOR turns colour off.
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let layer = fmt::layer().with_writer(ScrubbedStderr).with_ansi(color);
    let layer = match format {
        // `message` and the event's fields at the top level, as log pipelines index them.
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_filter(filter_fn(not_wire_trace))
            .boxed(),
        LogFormat::Text => layer.with_filter(filter_fn(not_wire_trace)).boxed(),
    };
    // The levels filter the whole subscriber, not the one layer: as a per-layer filter
    // combined with `filter_fn`, some callsites first hit while the shared store connected
    // were cached as never enabled, and their lines were lost.
    let _ = tracing_subscriber::registry()
        .with(levels)
        .with(layer)
        .try_init();
}

fn not_wire_trace(metadata: &Metadata<'_>) -> bool {
    *metadata.level() < Level::TRACE || !is_wire(metadata.target())
}

fn is_wire(target: &str) -> bool {
    let crate_name = target.split("::").next().unwrap_or(target);
    WIRE_TARGETS.contains(&crate_name)
}

/// Scrub one formatted line (the fmt layer writes each event with one `write_all`).
pub fn scrub(line: &str) -> String {
    match SECRETS.read().as_ref() {
        Some(redactor) => redactor.text(line),
        None => line.to_owned(),
    }
}

struct ScrubbedStderr;

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = ScrubbedLine;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLine
    }
}

struct ScrubbedLine;

impl Write for ScrubbedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = scrub(&String::from_utf8_lossy(buf));
        std::io::stderr().lock().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wire_crates_trace_lines_are_dropped() {
        let cases = [
            ("tungstenite::protocol::frame", false),
            ("tokio_tungstenite", false),
            ("reqwest::connect", false),
            ("h2::codec::framed_write", false),
            ("wsprobe::probe", true),
            ("tungstenite_like", true),
        ];
        for (target, kept) in cases {
            assert_eq!(!is_wire(target), kept, "{target}");
        }
    }
}
