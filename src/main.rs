use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = wsprobe::cli::Cli::parse();
    wsprobe::telemetry::init_logging(&cli);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(wsprobe::cli::execute(cli))
}
