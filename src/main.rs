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
        _ => tokio::runtime::Runtime::new(),
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
