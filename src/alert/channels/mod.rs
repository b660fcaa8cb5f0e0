//! One file per channel kind, named after its `kind:` value, beside its settings in
//! `config/channels/<kind>.rs` (build.rs registers the kinds it finds there). Each file gives `notifier(name, &settings)`, its
//! [`Notifier`], and its payload as a pure function tested against exact JSON.

pub mod json_webhook;

use super::notifier::Notifier;
use crate::config::{ChannelConfig, ChannelKind};

macro_rules! notifiers {
    ($($module:ident: $variant:ident($settings:ident),)*) => {
        $(pub mod $module;)*

        /// The notifier of one configured `alerts.channels` entry.
        pub fn notifier(channel: &ChannelConfig) -> Box<dyn Notifier> {
            match &channel.kind {
                $(ChannelKind::$variant(settings) => $module::notifier(&channel.name, settings),)*
            }
        }
    };
}
crate::config::channels::channel_kinds!(notifiers);
