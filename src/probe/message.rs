//! A received message as the matchers, the keepalives and a preset's refusal reader see it,
//! and as the evidence keeps it.

use crate::config::{Matcher, hex};

/// One text or binary message from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// Leading bytes of a binary message kept as evidence: enough for a protocol's header and
/// reason code (an MQTT CONNACK is 4 bytes), too few to carry a payload's content.
const KEPT_BINARY_BYTES: usize = 16;

impl Incoming<'_> {
    pub fn matches(&self, matcher: &Matcher) -> bool {
        match self {
            Incoming::Text(text) => {
                // Only a `json` matcher needs the parse, and most keepalive checks are not one.
                let json = matcher
                    .reads_json()
                    .then(|| serde_json::from_str::<serde_json::Value>(text).ok())
                    .flatten();
                matcher.matches(text, json.as_ref())
            }
            Incoming::Binary(data) => matcher.matches_binary(data),
        }
    }

    /// The message as the result keeps it: text as is, binary as its size and first bytes
    /// (`<binary message, 4 bytes: 20 02 00 05>`).
    pub fn evidence(&self) -> String {
        match self {
            Incoming::Text(text) => (*text).to_owned(),
            Incoming::Binary(data) => binary_evidence(data),
        }
    }
}

pub fn binary_evidence(data: &[u8]) -> String {
    match data.len() {
        0 => "<binary message, 0 bytes>".to_owned(),
        len if len <= KEPT_BINARY_BYTES => {
            format!("<binary message, {len} bytes: {}>", hex(data))
        }
        len => format!(
            "<binary message, {len} bytes: {} …>",
            hex(&data[..KEPT_BINARY_BYTES])
        ),
    }
}

/// The bytes a kept binary message began with, read back from its evidence text.
pub fn binary_from_evidence(evidence: &str) -> Option<(usize, Vec<u8>)> {
    let rest = evidence
        .strip_prefix("<binary message, ")?
        .strip_suffix('>')?;
    let (size, bytes) = match rest.split_once(" bytes") {
        Some((size, bytes)) => (size, bytes.trim_start_matches(':')),
        None => return None,
    };
    let size = size.parse().ok()?;
    let bytes = bytes
        .split_whitespace()
        .filter(|b| *b != "…")
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((size, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_evidence_reads_back() {
        for data in [
            vec![],
            vec![0x20, 0x02, 0x00, 0x05],
            (0..40).collect::<Vec<u8>>(),
        ] {
            let kept = binary_evidence(&data);
            let (size, bytes) = binary_from_evidence(&kept).unwrap();
            assert_eq!(size, data.len(), "{kept}");
            assert_eq!(bytes, data[..data.len().min(KEPT_BINARY_BYTES)], "{kept}");
        }
        assert_eq!(
            binary_evidence(&[0x20, 0x02, 0x00, 0x05]),
            "<binary message, 4 bytes: 20 02 00 05>"
        );
        assert_eq!(binary_from_evidence("hello"), None);
    }
}
