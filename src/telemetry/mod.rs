//! Logs, metrics and traces: [`logs`] sets up the tracing subscriber and keeps secrets out of
//! it; [`Metrics`] records the SPEC's instruments and [`Traces`] one trace per probe, both
//! exported over OTLP ([`otlp`] resolves where to, from `telemetry.otlp` and the `OTEL_*`
//! variables).

mod export;
pub mod instruments;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod traces;

pub use logs::{LogFormat, init_logging, scrub_logs_of};
pub use metrics::Metrics;
pub use traces::Traces;
