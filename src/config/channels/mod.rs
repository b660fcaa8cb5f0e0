//! Alert channel kinds, as probes.yaml writes them. A kind is two files named after its
//! `kind:` value and nothing else: `config/channels/<kind>.rs` (its `<Variant>Settings`, a type
//! of its own or a shared one: keys, their validation, its secrets) and
//! `alert/channels/<kind>.rs` (what it sends); build.rs
//! registers every kind it finds here. The two halves live apart because config is a leaf: it
//! knows nothing of how notifications go out.

mod entry;

use std::sync::LazyLock;

pub(crate) use entry::{RawChannel, TextList};

use super::error::ConfigError;
use super::model::Secret;
use super::validate::ChannelKeys;

// `channel_kinds!`, every kind once (`module: Variant(Settings)`), made by build.rs from the
// files in this folder. It expands `$then! { … }` over the list: the config builds
// [`ChannelKind`] from it and the alert engine each kind's notifier, so neither repeats it.
include!(concat!(env!("OUT_DIR"), "/channel_kinds.rs"));
pub(crate) use channel_kinds;

/// What a kind's settings type gives the config: its keys, how they are validated, its
/// secrets.
pub(crate) trait ChannelSettings: Sized {
    /// The keys it reads besides `name` and `kind`, in the order messages list them.
    const KEYS: &'static [&'static str];

    /// Those of [`Self::KEYS`] whose value is a list (one string is a list of one). A key is a
    /// list for every kind that takes it: the entry is read before its kind is known.
    const LISTS: &'static [&'static str] = &[];

    /// The settings of one `alerts.channels` entry of this kind, whose other keys are among
    /// [`Self::KEYS`]; an error names the key at fault and its position.
    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError>;

    /// Values never to be shown anywhere (they join [`super::Config::secret_values`]).
    fn secrets(&self) -> Vec<&Secret> {
        Vec::new()
    }

    /// More text to scrub from delivery errors: an endpoint URL may carry a key in its path
    /// or query, and a receiver may echo it.
    fn scrubbed(&self) -> Vec<String> {
        Vec::new()
    }
}

macro_rules! declare_kinds {
    ($($module:ident: $variant:ident($settings:ident),)*) => {
        $(pub mod $module;)*
        $(pub use $module::$settings;)*

        /// A channel's kind, with the settings of that kind.
        #[derive(Debug, Clone)]
        pub enum ChannelKind {
            $($variant($settings),)*
        }

        impl ChannelKind {
            /// Every `kind:` value, in the registry's order.
            pub const NAMES: &[&str] = &[$(stringify!($module)),*];

            /// The `kind:` value.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(ChannelKind::$variant(_) => stringify!($module),)*
                }
            }

            pub fn secrets(&self) -> Vec<&Secret> {
                match self {
                    $(ChannelKind::$variant(settings) => settings.secrets(),)*
                }
            }

            pub fn scrubbed(&self) -> Vec<String> {
                match self {
                    $(ChannelKind::$variant(settings) => settings.scrubbed(),)*
                }
            }

            /// The keys of the kind named `kind`, if there is one.
            pub(crate) fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
                match kind {
                    $(stringify!($module) => Some(<$settings as ChannelSettings>::KEYS),)*
                    _ => None,
                }
            }

            /// Those of its keys that are lists.
            pub(crate) fn lists_of(kind: &str) -> &'static [&'static str] {
                match kind {
                    $(stringify!($module) => <$settings as ChannelSettings>::LISTS,)*
                    _ => &[],
                }
            }

            /// The settings of the kind named `kind` (a known one, see [`Self::keys_of`]).
            pub(crate) fn parse(kind: &str, keys: &ChannelKeys<'_>) -> Option<Result<ChannelKind, ConfigError>> {
                match kind {
                    $(stringify!($module) => Some($settings::parse(keys).map(ChannelKind::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}
channel_kinds!(declare_kinds);

/// The settings of a chat service whose incoming-webhook URL is its only key and its secret
/// (Slack, Discord, Teams, Google Chat). `SIGNED`: the service signs the URL in its query
/// (Teams' `sig`, Google Chat's `key` and `token`), so the query is scrubbed too; otherwise the
/// key sits in the path alone. A kind's file names it `<Variant>Settings` with `pub type`.
#[derive(Debug, Clone)]
pub struct WebhookUrlOnly<const SIGNED: bool> {
    pub webhook_url: Secret,
}

impl<const SIGNED: bool> ChannelSettings for WebhookUrlOnly<SIGNED> {
    const KEYS: &'static [&'static str] = &["webhook_url"];

    fn parse(keys: &ChannelKeys<'_>) -> Result<Self, ConfigError> {
        Ok(WebhookUrlOnly {
            webhook_url: webhook_url(keys)?,
        })
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.webhook_url]
    }

    fn scrubbed(&self) -> Vec<String> {
        echoable_parts(&self.webhook_url, SIGNED)
    }
}

/// A chat service's incoming-webhook URL under `webhook_url`: required, a secret, and checked
/// for shape only (the URL is the secret, so it is kept as one).
pub(crate) fn webhook_url(keys: &ChannelKeys<'_>) -> Result<Secret, ConfigError> {
    let url = keys.required("webhook_url")?;
    let webhook_url = keys.secret(url, "webhook_url")?;
    keys.url(url, "webhook_url")?;
    Ok(webhook_url)
}

/// What of a secret URL a receiver may echo back in an error: its path (where webhook keys
/// and tokens sit), and its query when the service signs there.
pub(crate) fn echoable_parts(url: &Secret, with_query: bool) -> Vec<String> {
    let Ok(url) = url::Url::parse(url.expose()) else {
        return Vec::new();
    };
    let path = (url.path().len() > 1).then(|| url.path().to_owned());
    let query = url
        .query()
        .filter(|query| with_query && !query.is_empty())
        .map(str::to_owned);
    path.into_iter().chain(query).collect()
}

/// Every key an `alerts.channels` entry may have: `name`, `kind`, then each kind's own, once.
pub(crate) static ENTRY_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys = vec!["name", "kind"];
    for kind in ChannelKind::NAMES {
        for key in ChannelKind::keys_of(kind).unwrap_or_default() {
            if !keys.contains(key) {
                keys.push(key);
            }
        }
    }
    keys
});

/// The keys some kind reads as a list ([`ChannelSettings::LISTS`]).
pub(crate) static LIST_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys: Vec<&'static str> = Vec::new();
    for kind in ChannelKind::NAMES {
        for key in ChannelKind::lists_of(kind) {
            if !keys.contains(key) {
                keys.push(key);
            }
        }
    }
    keys
});

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A config with one environment and `entry` as its only channel.
    fn yaml(entry: &str) -> String {
        format!(
            "environments:\n  - name: staging\n    url: wss://staging.example.com/ws\nalerts:\n  channels:\n    - {entry}\n"
        )
    }

    /// The kind of `entry` (a flow mapping), which must load.
    pub(crate) fn channel(entry: &str) -> ChannelKind {
        let config =
            crate::config::load_str(std::path::Path::new("probes.yaml"), &yaml(entry), &|_| None)
                .unwrap_or_else(|err| panic!("{entry} does not load: {err}"));
        config.alerts.channels[0].kind.clone()
    }

    /// The whole message `entry` (a flow mapping) is refused with.
    pub(crate) fn error_of(entry: &str) -> String {
        match crate::config::load_str(std::path::Path::new("probes.yaml"), &yaml(entry), &|_| None)
        {
            Ok(_) => panic!("{entry} loaded, expected an error"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn an_entry_takes_name_kind_and_every_kind_s_keys_once() {
        assert_eq!(ENTRY_KEYS[..2], ["name", "kind"]);
        for kind in ChannelKind::NAMES {
            let keys = ChannelKind::keys_of(kind).expect("a registered kind");
            for key in keys {
                assert!(!["name", "kind"].contains(key), "{kind}.{key}");
                assert!(ENTRY_KEYS.contains(key), "{kind}.{key}");
            }
        }
        let mut unique = ENTRY_KEYS.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ENTRY_KEYS.len());
    }

    #[test]
    fn a_list_key_is_a_list_for_every_kind_that_takes_it() {
        for kind in ChannelKind::NAMES {
            let keys = ChannelKind::keys_of(kind).expect("a registered kind");
            for key in ChannelKind::lists_of(kind) {
                assert!(
                    keys.contains(key),
                    "{kind}.{key} is a list it does not take"
                );
            }
            for key in keys {
                assert_eq!(
                    LIST_KEYS.contains(key),
                    ChannelKind::lists_of(kind).contains(key),
                    "{kind}.{key}"
                );
            }
        }
    }
}
