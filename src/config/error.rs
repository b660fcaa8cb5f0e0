//! Config errors: each one names the file and the line/column, or the environment and key.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Anything wrong at a known position in the file.
    #[error("{}:{line}:{column}: {message}", path.display())]
    At {
        path: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    /// Anything wrong that has no single position (e.g. a missing key in an environment).
    #[error("{}: {context}: {message}", path.display())]
    In {
        path: PathBuf,
        /// e.g. `environments[staging].auth.secret`
        context: String,
        message: String,
    },
}
