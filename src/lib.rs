//! wsprobe: authenticated WebSocket synthetic probes that say why a connection failed.
//!
//! # Layout
//! - [`text`]: small pure text helpers (excerpts, latencies, durations, error chains).
//! - [`wire`]: how times and milliseconds are written in every JSON wsprobe emits.
//! - [`config`]: probes.yaml → validated, typed [`config::Config`] (errors carry file:line:col).
//! - [`probe`]: one probe, phase by phase, and the pure verdict/diagnosis over its evidence.
//! - [`lab`]: the failure lab, misbehaving endpoints that reproduce each failure.
//! - [`schedule`]: when each environment fires (pure) and the per-environment loop.
//! - [`oncall`]: what on-call does at run time: acknowledge an incident, silence notifications
//!   by matchers (the requests, their checks and the matching, pure).
//! - [`incident`]: the pure incident state machine of one environment.
//! - [`slo`]: availability against an objective, the error budget left and its burn-down, and
//!   when a burn-rate alert starts and ends (`slo::burn`) (pure).
//! - [`store`]: SQLite, or a fleet's shared PostgreSQL, through sqlx; all SQL lives there.
//!   Callers get narrow views of it: runs, alerts, the fleet's, and a read-only one for `web`.
//! - [`fleet`]: several instances and locations on one store: slot claims, incidents across
//!   locations, quiet locations and instances (the decisions; the daemon runs the loops).
//! - [`alert`]: the alert engine: incidents persisted, the notification outbox, its channels.
//! - [`telemetry`]: logging set-up, the OTLP metrics, and one trace per probe over OTLP.
//! - [`web`]: status page, HTTP API, health endpoints, over a typed [`web::StatusSource`].
//! - [`daemon`]: `wsprobe run`: builds all of the above from a Config and runs it.
//! - [`check`]: probe a set of environments once and report (`wsprobe check`).
//! - [`demo`]: the lab plus the daemon probing it from the bundled config.
//! - [`cli`]: the command line; `main.rs` only parses it and maps the outcome to an exit code.
//!
//! # The rule of direction
//! A module uses only modules listed above it, never one below: `probe` knows nothing of the
//! store, the store nothing of alert delivery, `web` reads the daemon only through
//! [`web::StatusSource`], and only `cli` (and `main.rs`) know the command line. The leaves
//! (`text`, `wire`, `config`, `lab`) use no other module. `tests/it/layout.rs` checks that the modules
//! form no cycle.

pub mod alert;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod fleet;
pub mod incident;
pub mod lab;
pub mod oncall;
pub mod probe;
pub mod schedule;
pub mod slo;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod web;
pub mod wire;
