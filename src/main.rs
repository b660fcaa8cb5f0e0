use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wsprobe::cli::Cli::parse();
    let (log_format, log_level) = cli.log_settings();
    wsprobe::telemetry::init_logging(log_format, log_level);
    // `check` is one burst of I/O-bound probes: one thread does it with fewer cross-thread
    // wake-ups (measured in bench/run.sh); the daemon keeps the multi-threaded runtime.
    let runtime = match &cli.command {
        wsprobe::cli::Command::Check { .. }
        | wsprobe::cli::Command::Healthcheck { .. }
        | wsprobe::cli::Command::Silence { .. } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => {
            limit_malloc_arenas();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                // Blocking threads (DNS lookups, file reads, exporter set-up) are rare: keep
                // them a second, not tokio's 10 s, so an idle daemon holds only its workers.
                .thread_keep_alive(std::time::Duration::from_secs(1))
                .build()
        }
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(wsprobe::cli::execute(cli))
}

/// glibc gives every thread that allocates an arena of its own, up to 8 per core, and each
/// keeps the memory freed into it: the daemon's worker, blocking, SQLite and exporter threads
/// held ~1 MiB more at idle (bench/daemon_idle.sh) and more after a busy minute. Two arenas
/// keep contention low on the few threads that allocate much. `MALLOC_ARENA_MAX` set in the
/// environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable (under glibc's own lock); called before the
        // runtime starts, so its threads have not picked arenas yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
