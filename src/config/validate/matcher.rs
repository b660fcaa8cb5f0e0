//! Matchers, as a step's `expect`, `health.expect_body` and a keepalive's `when` write them:
//! one kind of match per mapping (`prefix` may carry `json` for what follows it), each value
//! checked (and a regular expression compiled) at load.

use super::*;

/// The matcher keys of one mapping, wherever it is written.
#[derive(Default)]
pub(super) struct MatcherKeys<'r> {
    pub json: Option<&'r Located<OrderedMap<serde_json::Value>>>,
    pub contains: Option<&'r Text>,
    pub equals: Option<&'r Text>,
    pub prefix: Option<&'r Text>,
    pub regex: Option<&'r Text>,
    pub binary: Option<&'r Text>,
}

impl<'r> MatcherKeys<'r> {
    pub(super) fn of_expect(expect: &'r RawExpect) -> Self {
        Self {
            json: expect.json.as_ref(),
            contains: expect.contains.as_ref(),
            equals: expect.equals.as_ref(),
            prefix: expect.prefix.as_ref(),
            regex: expect.regex.as_ref(),
            binary: expect.binary.as_ref(),
        }
    }

    pub(super) fn of_match(raw: &'r RawMatch) -> Self {
        Self {
            json: raw.json.as_ref(),
            contains: raw.contains.as_ref(),
            equals: raw.equals.as_ref(),
            prefix: raw.prefix.as_ref(),
            regex: raw.regex.as_ref(),
            binary: raw.binary.as_ref(),
        }
    }

    pub(super) fn of_body(body: &'r RawExpectBody) -> Self {
        Self {
            json: body.json.as_ref(),
            contains: body.contains.as_ref(),
            equals: body.equals.as_ref(),
            prefix: body.prefix.as_ref(),
            regex: body.regex.as_ref(),
            binary: None,
        }
    }

    /// The keys present that each choose a kind of match, in file order. `json` beside
    /// `prefix` reads what follows the prefix: it is part of that match, not another one.
    fn kinds(&self) -> Vec<(&'static str, &'r Location)> {
        let json = self.json.filter(|_| self.prefix.is_none());
        let mut kinds: Vec<(&'static str, &'r Location)> = [
            ("contains", self.contains),
            ("equals", self.equals),
            ("prefix", self.prefix),
            ("regex", self.regex),
            ("binary", self.binary),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, &v.referenced)))
        .chain(json.map(|json| ("json", &json.referenced)))
        .collect();
        kinds.sort_by_key(|(_, at)| (at.line(), at.column()));
        kinds
    }
}

/// Regular expressions compile to at most this much memory: a pattern is the config's, but a
/// runaway repetition (`(a{1000}){1000}`) should be a load error, not a daemon's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Validator<'_> {
    /// The matcher the keys write (`Any` when none is set). `key` is the mapping's path.
    pub(super) fn matcher(&self, keys: &MatcherKeys, key: &str) -> Result<Matcher> {
        if let [(first, _), (second, at), ..] = keys.kinds()[..] {
            return Err(self.at(
                at,
                &format!("{key}.{second}"),
                format!(
                    "one kind of match per mapping: `{first}` or `{second}`, not both (`json` may go with `prefix`, for what follows the prefix)"
                ),
            ));
        }
        let json = match keys.json {
            Some(json) => self.json_pairs(json, key)?,
            None => Vec::new(),
        };
        Ok(if let Some(prefix) = keys.prefix {
            Matcher::Prefix {
                prefix: prefix.value.clone(),
                json,
            }
        } else if let Some(contains) = keys.contains {
            Matcher::Contains(contains.value.clone())
        } else if let Some(equals) = keys.equals {
            Matcher::Equals(equals.value.clone())
        } else if let Some(regex) = keys.regex {
            Matcher::Regex(self.regex(regex, &format!("{key}.regex"))?)
        } else if let Some(binary) = keys.binary {
            Matcher::Binary(self.binary_prefix(binary, &format!("{key}.binary"))?)
        } else if keys.json.is_some() {
            Matcher::Json(json)
        } else {
            Matcher::Any
        })
    }

    fn json_pairs(
        &self,
        json: &Located<OrderedMap<serde_json::Value>>,
        key: &str,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let mut pairs = Vec::new();
        for (pointer, value) in &json.value.0 {
            let pointer_key = format!("{key}.json.{}", pointer.value);
            pairs.push((self.pointer(pointer, &pointer_key)?, value.clone()));
        }
        Ok(pairs)
    }

    fn regex(&self, value: &Text, key: &str) -> Result<Pattern> {
        regex::RegexBuilder::new(&value.value)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Pattern)
            .map_err(|err| {
                self.err(
                    value,
                    key,
                    format!(
                        "invalid regular expression {:?}: {}",
                        value.value,
                        regex_problem(&err)
                    ),
                )
            })
    }

    fn binary_prefix(&self, value: &Text, key: &str) -> Result<Vec<u8>> {
        if value.value.trim().eq_ignore_ascii_case("any") {
            return Ok(Vec::new());
        }
        parse_hex(&value.value).ok_or_else(|| {
            self.err(
                value,
                key,
                format!(
                    "{:?} is neither `any` nor bytes in hex: write the message's first bytes as pairs of hex digits (like \"20 02 00 00\")",
                    value.value
                ),
            )
        })
    }
}

/// The regex crate's errors draw the pattern with a caret over several lines; a config error
/// is one line, so it keeps the sentence that says what is wrong.
fn regex_problem(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_owned())
}

/// `20 02 00 00`, `20:02`, `2002`: pairs of hex digits, spaces, colons or dashes between
/// bytes (never inside one). At least one byte.
pub(super) fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    for group in text.split([' ', ':', '-']).filter(|g| !g.is_empty()) {
        if group.len() % 2 != 0 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        for pair in group.as_bytes().chunks(2) {
            bytes.push(u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?);
        }
    }
    (!bytes.is_empty()).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_prefixes() {
        assert_eq!(parse_hex("20 02 00 00"), Some(vec![0x20, 0x02, 0, 0]));
        assert_eq!(parse_hex("d0:00"), Some(vec![0xd0, 0]));
        assert_eq!(parse_hex("C000"), Some(vec![0xc0, 0]));
        for bad in ["", "2", "zz", "20 0", "2 0", "0x20", "+2"] {
            assert_eq!(parse_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn regex_errors_are_one_line() {
        let pattern = String::from("(unclosed");
        let err = regex::Regex::new(&pattern).unwrap_err();
        assert_eq!(regex_problem(&err), "unclosed group");
    }
}
