//! Logs and metrics: [`logs`] sets up the tracing subscriber and keeps secrets out of it;
//! [`Metrics`] records the SPEC's instruments and exports them over OTLP ([`otlp`] resolves
//! where to, from `telemetry.otlp` and the `OTEL_*` variables).

mod export;
pub mod instruments;
pub mod logs;
pub mod metrics;
pub mod otlp;

pub use logs::{LogFormat, init_logging, scrub_logs_of};
pub use metrics::Metrics;
