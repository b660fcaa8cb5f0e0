//! One `alerts.channels` entry as written: `name`, `kind`, and the other keys in file order
//! for the kind to read. A key no kind has is refused while parsing, like every other
//! mapping's unknown keys (`deny_unknown_fields`, at its position); which kind takes which key
//! is validation's to say.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::ENTRY_KEYS;
use crate::config::raw::Text;

#[derive(Debug)]
pub(crate) struct RawChannel {
    pub name: Option<Text>,
    pub kind: Option<Text>,
    /// Every other key with its value, in the order written.
    pub keys: Vec<(&'static str, Text)>,
}

impl RawChannel {
    /// The value of `key`, if the entry has it.
    pub fn get(&self, key: &str) -> Option<&Text> {
        self.keys
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
    }
}

/// A key of an entry, refused (as serde's derive does) when no kind has it.
struct EntryKey(&'static str);

impl<'de> Deserialize<'de> for EntryKey {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = EntryKey;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a channel key")
            }

            fn visit_str<E: de::Error>(self, key: &str) -> Result<EntryKey, E> {
                match ENTRY_KEYS.iter().find(|known| **known == key) {
                    Some(known) => Ok(EntryKey(known)),
                    None => Err(E::unknown_field(key, ENTRY_KEYS.as_slice())),
                }
            }
        }

        deserializer.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawChannel {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;

        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = RawChannel;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("struct Channel")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawChannel, A::Error> {
                let mut entry = RawChannel {
                    name: None,
                    kind: None,
                    keys: Vec::new(),
                };
                while let Some(EntryKey(key)) = map.next_key()? {
                    let value: Text = map.next_value()?;
                    match key {
                        "name" => entry.name = Some(value),
                        "kind" => entry.kind = Some(value),
                        _ => entry.keys.push((key, value)),
                    }
                }
                Ok(entry)
            }
        }

        deserializer.deserialize_map(EntryVisitor)
    }
}

impl JsonSchema for RawChannel {
    fn schema_name() -> Cow<'static, str> {
        "Channel".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let properties: serde_json::Map<String, serde_json::Value> = ENTRY_KEYS
            .iter()
            .map(|key| {
                let schema = generator.subschema_for::<Option<String>>();
                ((*key).to_owned(), schema.to_value())
            })
            .collect();
        json_schema!({
            "description": "Every channel kind's keys in one mapping; validation refuses keys the kind does not use.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
    }
}
