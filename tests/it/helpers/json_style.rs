//! One JSON style across everything wsprobe writes.

use serde_json::Value;

/// Every time in `body` is RFC 3339 UTC with exactly milliseconds, and every `…_ms` figure is
/// rounded to 0.1 ms: one JSON style across the API.
pub fn assert_one_json_style(what: &str, body: &Value) {
    fn walk(what: &str, key: &str, value: &Value, in_ms: bool) {
        match value {
            Value::String(text) if chrono::DateTime::parse_from_rfc3339(text).is_ok() => {
                let bytes = text.as_bytes();
                assert!(
                    text.len() == 24 && bytes[19] == b'.' && text.ends_with('Z'),
                    "{what}: {key} = {text} is not RFC 3339 UTC with milliseconds"
                );
            }
            Value::Number(n) if in_ms || key.ends_with("_ms") => {
                let ms = n.as_f64().unwrap();
                assert_eq!((ms * 10.0).round() / 10.0, ms, "{what}: {key} = {ms}");
            }
            Value::Array(items) => items.iter().for_each(|v| walk(what, key, v, in_ms)),
            Value::Object(fields) => {
                for (k, v) in fields {
                    walk(what, k, v, in_ms || key.ends_with("_ms"));
                }
            }
            _ => {}
        }
    }
    walk(what, "", body, false);
}
