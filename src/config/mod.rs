//! probes.yaml: a raw serde mirror (`raw`), `${VAR}` interpolation (`interpolate`), and the
//! validation that turns it into the typed [`Config`] (`model`). Errors name file:line:column.

pub mod error;
pub mod interpolate;
mod model;

pub use error::ConfigError;
pub use model::*;

use std::path::Path;

/// Resolve the config path: `--config`, else `$WSPROBE_CONFIG`, else `./probes.yaml`.
pub fn resolve_path(flag: Option<&Path>) -> std::path::PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("WSPROBE_CONFIG").map(Into::into))
        .unwrap_or_else(|| "probes.yaml".into())
}

/// Load and validate a config file, interpolating from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(path, &text, &|name| std::env::var(name).ok())
}

/// Load from text. `path` names the source in errors and anchors relative paths (`ca_file`,
/// `key`, `storage.path`); `lookup` resolves `${VAR}`.
pub fn load_str(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let _ = (path, text, lookup);
    todo!("config loader")
}

/// Placeholder until the loader lands: what `wsprobe validate` prints.
pub fn describe(config: &Config) -> String {
    format!("{} environments\n", config.environments.len())
}
