//! Shared by the integration tests, one file per concern. Test files import only from here,
//! never from one another.

pub mod app;
pub mod child;
pub mod django;
pub mod faults;
pub mod fleet;
pub mod json_style;
pub mod lab;
pub mod otlp_metrics;
pub mod pg;
pub mod preset_servers;
pub mod python;
pub mod receiver;
pub mod results;
pub mod schema;
pub mod series;
pub mod servers;
pub mod smtp;
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

/// An address on 127.0.0.1 that was free a moment ago, for a server started later (or for a
/// port where nothing listens). Taken below the kernel's ephemeral range (32768 and up), one
/// port after another: a port the kernel hands out for `bind(…:0)` or as a connection's source
/// is never one of these, and no two calls in a run return the same one. (A port from
/// `bind(…:0)`, released, was often the next one the kernel gave another test's server: with
/// tests running side by side, a "nothing listens here" port then answered.)
pub fn free_port() -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const LAST: u16 = 32_000;
    // Where this run starts: apart from another test process's run on the same machine.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        FIRST + (std::process::id() % 40) as u16 * 250,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    loop {
        let port = NEXT.fetch_add(1, Ordering::Relaxed);
        if port > LAST {
            NEXT.store(FIRST, Ordering::Relaxed);
            continue;
        }
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return listener.local_addr().unwrap();
        }
    }
}
