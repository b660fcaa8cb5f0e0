//! wsprobe: authenticated WebSocket synthetic probes that say why a connection failed.
//!
//! # Layout
//! - [`config`]: probes.yaml → validated, typed [`config::Config`] (errors carry file:line:col).
//! - [`probe`]: one probe, phase by phase, and the pure verdict/diagnosis over its evidence.
//! - [`lab`]: the failure lab, misbehaving endpoints that reproduce each failure.
//! - [`check`]: probe a set of environments once and report (`wsprobe check`).
//! - [`demo`]: the lab plus wsprobe probing it from the bundled config.
//! - [`app`]: the daemon: store, scheduler and web server built from a Config.
//! - [`alert`]: incidents (pure state machine), the notification outbox and its channels.
//! - [`schedule`]: when each environment fires (pure) and the per-environment loop.
//! - [`store`]: SQLite through sqlx; all SQL lives there.
//! - [`web`]: status page, HTTP API, health endpoints.
//! - [`cli`]: the command line; `main.rs` only parses it and maps the outcome to an exit code.
//! - [`telemetry`]: logging set-up and the OTLP metrics.

pub mod alert;
pub mod app;
pub mod check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod incident;
pub mod lab;
pub mod probe;
pub mod schedule;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod web;
