//! Shared by the integration tests, one file per concern. Test files import only from here,
//! never from one another.

pub mod app;
pub mod child;
pub mod json_style;
pub mod lab;
pub mod otlp_metrics;
pub mod pg;
pub mod receiver;
pub mod results;
pub mod schema;
pub mod series;
pub mod store;
pub mod tls;

use std::time::Duration;

pub use app::{App, env_status, prepare_app, spawn_app, write_config};
pub use json_style::assert_one_json_style;
pub use lab::{TestLab, config, spawn_lab, spawn_lab_with};
pub use schema::{assert_schema_accepts, schema_errors};
pub use store::hold_write_lock;

/// Generous: a slow CI machine must never turn these into flakes.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// An address on 127.0.0.1 that was free a moment ago: bound, read and released, for a server
/// started later (or for a port where nothing listens).
pub fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
