//! probes.yaml: `${VAR}` interpolation over the text (`interpolate`), a raw serde mirror of the
//! YAML (`raw`), and the validation (`validate`) that turns it into the typed [`Config`]
//! (`model`); each alert channel kind's keys, validation and secrets are in [`channels`];
//! [`describe`] is what `wsprobe validate` prints. Errors name file:line:column, in
//! the file as written, and the key path (`environments[0].schedule`).

mod alerting;
pub mod channels;
mod cron_fields;
mod describe;
pub mod error;
pub mod interpolate;
mod matcher;
mod model;
mod network;
pub mod protocols;
mod raw;
mod recover;
mod secrets;
mod validate;
mod wording;

pub use channels::ChannelKind;
pub use channels::opsgenie::OPSGENIE_API_URL;
pub use channels::pagerduty::PAGERDUTY_EVENTS_URL;
pub use channels::telegram::TELEGRAM_API_URL;
pub use describe::{describe, describe_with, redact_url};
pub use error::ConfigError;
pub use model::*;
pub use network::{
    AddressPin, IpFamily, NO_PROXY_WORD, NetworkOptions, NoProxy, Proxy, ProxyCredentials,
    ProxySetting, ProxyVariables, authority,
};
pub use protocols::{Preset, Protocol};

use std::path::Path;

use serde_saphyr::{MessageFormatter, Spanned};

use interpolate::Interpolated;
use raw::{Node, RawConfig};

/// Resolve the config path: `--config`, else `$WSPROBE_CONFIG`, else `./probes.yaml`.
pub fn resolve_path(flag: Option<&Path>) -> std::path::PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("WSPROBE_CONFIG").map(Into::into))
        .unwrap_or_else(|| "probes.yaml".into())
}

/// The JSON Schema (draft 2020-12) of probes.yaml, generated from the very types the loader
/// deserializes into, so the two cannot disagree on a key. It says which keys exist and their
/// YAML types; what only validation knows (a cron that parses, a URL scheme) stays there.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawConfig);
    schema.insert("title".into(), "wsprobe probes.yaml".into());
    schema.insert(
        "description".into(),
        "Environments wsprobe probes, and how it alerts, stores, serves and exports. \
         Written by `wsprobe schema`; every value may also be a ${VAR} from the environment."
            .into(),
    );
    schema.to_value()
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
/// `key`, `storage.path`); `lookup` resolves `${VAR}` and reads the proxy variables
/// (`HTTPS_PROXY`, `NO_PROXY`, …).
pub fn load_str(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let interpolated =
        interpolate::interpolate_mapped(text, lookup).map_err(|err| ConfigError::At {
            path: path.to_path_buf(),
            line: err.line,
            column: err.column,
            message: err.kind.to_string(),
        })?;
    let (raw, mut errors, blanked) = parse_going_on(path, &interpolated);
    let Some(raw) = raw else {
        return Err(ConfigError::many(errors));
    };
    let validator = validate::Validator {
        source: path,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        text: &interpolated,
        default_steps: Default::default(),
        schedules: Default::default(),
        proxy_variables: validate::VariablesRead::new(lookup),
    };
    match validator.config(raw) {
        Ok(config) if errors.is_empty() => Ok(config),
        Ok(_) => Err(ConfigError::many(errors)),
        Err(err) => {
            // An entry blanked for its parse error is missing now, and what sat inside it is
            // gone: neither is a second mistake.
            let follows_from_blanking = |e: &ConfigError| match e {
                ConfigError::At { line, column, .. } => blanked
                    .iter()
                    .any(|span| recover::within(span, (*line, *column))),
                other => !blanked.is_empty() && other.to_string().contains("missing key"),
            };
            errors.extend(
                err.into_list()
                    .into_iter()
                    .filter(|e| !follows_from_blanking(e)),
            );
            errors.sort_by_key(|e| match e {
                ConfigError::At { line, column, .. } => (*line, *column),
                _ => (u64::MAX, 0),
            });
            Err(ConfigError::many(errors))
        }
    }
}

/// At most this many mistakes are reported in one run: past that, the first ones are the
/// ones worth fixing.
const MAX_ERRORS: usize = 20;

/// The raw config, reading on past each YAML or type error with the entry at fault blanked
/// ([`recover`]), and every error met on the way. `None` when the text never parsed.
/// The blanked spans come in the file's own positions.
fn parse_going_on(
    path: &Path,
    interpolated: &Interpolated,
) -> (Option<RawConfig>, Vec<ConfigError>, Vec<recover::Span>) {
    let mut text = interpolated.text.clone();
    let mut errors = Vec::new();
    let mut blanked: Vec<recover::Span> = Vec::new();
    let original = |(line, column): (u64, u64)| interpolated.original_position(line, column);
    loop {
        let err = match serde_saphyr::from_str_with_options::<RawConfig>(&text, yaml_options()) {
            Ok(raw) => return (Some(raw), errors, blanked),
            Err(err) => err,
        };
        let at = err
            .location()
            .filter(|location| location.line() > 0)
            .map(|location| (location.line(), location.column()));
        // Met where an entry was blanked: it follows from the blanking, and reading on from
        // here would only find more such.
        if let Some(at) = at
            && blanked
                .iter()
                .any(|span| recover::within(span, original(at)))
        {
            return (None, errors, blanked);
        }
        errors.push(parse_error(path, interpolated, &text, &err));
        let next = at.and_then(|(line, column)| recover::blank_at(&text, line, column));
        match next {
            Some((next, span)) if errors.len() < MAX_ERRORS => {
                blanked.push((original(span.0), original(span.1)));
                text = next;
            }
            _ => return (None, errors, blanked),
        }
    }
}

/// YAML nodes a config may have. serde-saphyr's default (250,000) stops a fleet at about
/// 50,000 one-line environments; 100,000 environments of a few keys each are ~1.5 million.
/// Alias bombs stay capped by the budget's alias and anchor limits, and the input by its size.
const MAX_YAML_NODES: usize = 4_000_000;

fn yaml_options() -> serde_saphyr::Options {
    // The snippet is for terminals; ours is one line, `file:line:column: key: message`.
    serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_nodes: MAX_YAML_NODES,
            // Start and end of each collection, one per scalar: at most two per node.
            max_events: 2 * MAX_YAML_NODES,
        },
    }
}

/// A YAML or type error, at its position in the original file, with the key path it is under.
fn parse_error(
    path: &Path,
    interpolated: &Interpolated,
    text: &str,
    err: &serde_saphyr::Error,
) -> ConfigError {
    let message = yaml_message(err);
    let Some(location) = err.location().filter(|location| location.line() > 0) else {
        return ConfigError::In {
            path: path.to_path_buf(),
            context: "YAML".to_owned(),
            message,
        };
    };
    // A second, shape-only parse finds the key path; it fails too on broken YAML, and then
    // the position alone has to do.
    // Duplicate keys pass through so that the second one is in the tree and can be named.
    let mut options = yaml_options();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    let key = serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options)
        .ok()
        .and_then(|root| Node::path_at(&root, location.line(), location.column()));
    let (line, column) = interpolated.original_position(location.line(), location.column());
    ConfigError::At {
        path: path.to_path_buf(),
        line,
        column,
        message: match key {
            Some(key) => format!("{key}: {message}"),
            None => message,
        },
    }
}

fn yaml_message(err: &serde_saphyr::Error) -> String {
    match err.without_snippet() {
        serde_saphyr::Error::AliasError { error, .. } => yaml_message(error),
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => match wording::did_you_mean(field, expected) {
            // The list would bury the one key meant.
            Some(meant) => format!("unknown key `{field}`: did you mean `{meant}`?"),
            None => format!(
                "unknown key `{field}` (expected one of: {})",
                expected.join(", ")
            ),
        },
        serde_saphyr::Error::InvalidScalar { ty, .. } => match *ty {
            "boolean" => "expected true or false".to_owned(),
            "u16" => format!("expected a whole number from 0 to {}", u16::MAX),
            "u32" => format!("expected a whole number from 0 to {}", u32::MAX),
            "u64" => format!("expected a whole number from 0 to {}", u64::MAX),
            other => format!("invalid {other}"),
        },
        other => serde_saphyr::UserMessageFormatter
            .format_message(other)
            .escape_debug()
            .to_string(),
    }
}
