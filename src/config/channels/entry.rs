//! One `alerts.channels` entry as written: `name`, `kind`, and the other keys in file order
//! for the kind to read. A key no kind has is refused while parsing, like every other
//! mapping's unknown keys (`deny_unknown_fields`, at its position); which kind takes which key
//! is validation's to say. A key some kind reads as a list ([`LIST_KEYS`]: email's `to`) takes a
//! YAML sequence or one string; every other value is one string.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::{ENTRY_KEYS, LIST_KEYS};
use crate::config::raw::{Located, Text};

#[derive(Debug)]
pub(crate) struct RawChannel {
    pub name: Option<Text>,
    pub kind: Option<Text>,
    /// Every other key with its value, in the order written.
    pub keys: Vec<(&'static str, Text)>,
    /// The keys of [`LIST_KEYS`] with their items, in the order written.
    pub lists: Vec<(&'static str, Located<TextList>)>,
}

impl RawChannel {
    /// The value of `key`, if the entry has it.
    pub fn get(&self, key: &str) -> Option<&Text> {
        self.keys
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
    }

    /// The items of list key `key`, if the entry has it.
    pub fn list(&self, key: &str) -> Option<&Located<TextList>> {
        self.lists
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
    }

    /// Where `key`'s value is written, if the entry has it.
    pub fn location(&self, key: &str) -> Option<&Location> {
        self.get(key)
            .map(|value| &value.referenced)
            .or_else(|| self.list(key).map(|value| &value.referenced))
    }
}

/// A list key's value: a YAML sequence of strings, or one string (its only item, at the
/// value's own position).
#[derive(Debug)]
pub(crate) struct TextList {
    pub items: Vec<Text>,
    /// Written as a sequence: an item's error names its index (`to[1]`).
    pub is_sequence: bool,
}

impl TextList {
    /// The items; a lone string is at the value's own position.
    pub fn items(located: &Located<TextList>) -> Vec<Text> {
        if located.value.is_sequence {
            return located.value.items.clone();
        }
        located
            .value
            .items
            .iter()
            .map(|item| {
                Located(Spanned::new(
                    item.value.clone(),
                    located.referenced,
                    located.defined,
                ))
            })
            .collect()
    }
}

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;

        impl<'de> Visitor<'de> for ListVisitor {
            type Value = TextList;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<TextList, E> {
                Ok(TextList {
                    items: vec![Located(Spanned::new(
                        text.to_owned(),
                        Location::UNKNOWN,
                        Location::UNKNOWN,
                    ))],
                    is_sequence: false,
                })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextList, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Text>()? {
                    items.push(item);
                }
                Ok(TextList {
                    items,
                    is_sequence: true,
                })
            }
        }

        deserializer.deserialize_any(ListVisitor)
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
                    lists: Vec::new(),
                };
                while let Some(EntryKey(key)) = map.next_key()? {
                    if LIST_KEYS.contains(&key) {
                        entry.lists.push((key, map.next_value()?));
                        continue;
                    }
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

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let properties: serde_json::Map<String, serde_json::Value> = ENTRY_KEYS
            .iter()
            .map(|key| {
                let schema = if LIST_KEYS.contains(key) {
                    json_schema!({
                        "anyOf": [
                            { "type": "string" },
                            { "type": "array", "items": { "type": "string" } },
                        ],
                    })
                } else {
                    // Read as text whatever the scalar (`port: 587`, `insecure_auth: true`,
                    // `chat_id: -100…`); the kind checks what the text says.
                    json_schema!({ "type": ["string", "number", "boolean", "null"] })
                };
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
