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
    /// Several mistakes, found in one run: one line each, in file order.
    #[error("{}", lines(.0))]
    Many(Vec<ConfigError>),
}

impl ConfigError {
    /// One error as itself, several as [`ConfigError::Many`].
    pub fn many(mut errors: Vec<ConfigError>) -> ConfigError {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            ConfigError::Many(errors)
        }
    }

    /// Every single error this holds.
    pub fn into_list(self) -> Vec<ConfigError> {
        match self {
            ConfigError::Many(errors) => errors.into_iter().flat_map(Self::into_list).collect(),
            one => vec![one],
        }
    }
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
