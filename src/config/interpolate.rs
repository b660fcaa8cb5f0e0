//! `${VAR}` and `${VAR:-default}` interpolation (pure: takes a lookup function).
//!
//! Runs over the raw file text, before YAML parsing, the way docker-compose does:
//! - `${VAR}` is replaced by the value of `VAR`; unset is an error naming it.
//! - `${VAR:-default}` uses `default` when `VAR` is unset *or empty* (POSIX sh semantics).
//! - `$$` is a literal `$`; any other `$` is left as it is.
//! - Names are `[A-Za-z_][A-Za-z0-9_]*`.
//!
//! Values are inserted verbatim: a value holding YAML syntax (`: `, ` #`, a newline, a leading
//! quote or bracket) changes the document's structure unless the placeholder sits inside a quoted
//! scalar. Quote placeholders whose values you do not control: `secret: "${SECRET}"`.
//!
//! YAML comments are copied untouched, because the SPEC's own example keeps placeholders in
//! comments (`# kind: bearer -> token: ${TOKEN}`) and an unset variable there must not fail the
//! load. A comment is a `#` at the start of a line or after a space or tab, outside a quoted
//! scalar.
//!
//! Error positions, and [`Interpolated::original_position`], are 1-based lines and columns
//! counted in characters, as serde-saphyr counts them, in the *original* text.

use std::fmt;

/// A malformed placeholder or an unset variable, at the `${` that starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolateError {
    pub line: u64,
    pub column: u64,
    pub kind: InterpolateErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateErrorKind {
    /// `${NAME}` with `NAME` unset and no default.
    Unset { name: String },
    /// `${` with no `}` before the end of the line.
    Unterminated,
    /// `${}` or `${:-x}`.
    EmptyName,
    /// The name breaks `[A-Za-z_][A-Za-z0-9_]*`, or something other than `}` or `:-` follows it.
    Invalid { placeholder: String },
    /// Inserting `NAME`'s value here would take the text past [`MAX_INTERPOLATED_BYTES`].
    TooLarge { name: String },
}

/// A config grows past this once its values are inserted only by mistake (a huge variable
/// used many times): refused, rather than running out of memory parsing it.
pub const MAX_INTERPOLATED_BYTES: usize = 64 << 20;

impl fmt::Display for InterpolateErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset { name } => {
                write!(
                    f,
                    "environment variable {name} is not set and ${{{name}}} has no default"
                )
            }
            Self::Unterminated => f.write_str("unterminated ${: no closing } on this line"),
            Self::EmptyName => f.write_str("empty variable name in ${}"),
            Self::TooLarge { name } => write!(
                f,
                "inserting ${{{name}}} here takes the config past {} MiB: is the variable, or its use, a mistake?",
                MAX_INTERPOLATED_BYTES >> 20
            ),
            Self::Invalid { placeholder } => write!(
                f,
                "invalid placeholder {placeholder}: expected ${{NAME}} or ${{NAME:-default}}, NAME made of A-Z, a-z, 0-9 and _ and not starting with a digit"
            ),
        }
    }
}

impl fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.kind)
    }
}

impl std::error::Error for InterpolateError {}

/// Interpolate `text`; see the module docs for the rules.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    interpolate_mapped(text, lookup).map(|done| done.text)
}

/// The interpolated text, plus what is needed to map a position in it back to the original.
#[derive(Debug, Clone)]
pub struct Interpolated {
    pub text: String,
    /// Every replacement, in order, in character offsets.
    replacements: Vec<Replacement>,
    original_line_starts: Vec<usize>,
    text_line_starts: Vec<usize>,
    /// The values taken from variables (not defaults written in the file), once each: every
    /// one is treated as a secret wherever text leaves the process.
    pub variable_values: Vec<String>,
    /// The same values with the variable each came from (name, value), first use first:
    /// how a replay command names a secret without showing it.
    pub variables: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy)]
struct Replacement {
    text_start: usize,
    text_len: usize,
    original_start: usize,
    original_len: usize,
}

impl Interpolated {
    /// Map a 1-based (line, column) in [`Self::text`] to the original text. A position inside
    /// an inserted value maps to the `${` of its placeholder, since that is what the user wrote.
    pub fn original_position(&self, line: u64, column: u64) -> (u64, u64) {
        if line == 0 || self.replacements.is_empty() {
            return (line, column);
        }
        let line_index = (line as usize - 1).min(self.text_line_starts.len() - 1);
        let offset = self.text_line_starts[line_index] + (column as usize).saturating_sub(1);
        let before = self
            .replacements
            .partition_point(|r| r.text_start <= offset);
        let original = match before.checked_sub(1).map(|i| self.replacements[i]) {
            None => offset,
            Some(r) if offset < r.text_start + r.text_len => r.original_start,
            Some(r) => offset - (r.text_start + r.text_len) + r.original_start + r.original_len,
        };
        position_of(&self.original_line_starts, original)
    }
}

/// Like [`interpolate`], keeping a map of positions back to the original text.
pub fn interpolate_mapped(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolateError> {
    let chars: Vec<char> = text.chars().collect();
    let original_line_starts = line_starts(&chars);
    let error = |at: usize, kind| {
        let (line, column) = position_of(&original_line_starts, at);
        InterpolateError { line, column, kind }
    };

    let mut out = Output::with_capacity(text.len());
    let mut scope = YamlScope::Plain;
    let mut i = 0;
    while i < chars.len() {
        let verbatim;
        (scope, verbatim) = scope.after(&chars, i);
        if verbatim > 0 {
            out.copy(&chars[i..i + verbatim]);
            i += verbatim;
            continue;
        }
        let replacement = match chars.get(i + 1) {
            _ if chars[i] != '$' || scope == YamlScope::Comment => None,
            Some('$') => Some((2, "$".to_owned())),
            Some('{') => Some(
                out.substitute(&chars[i..], lookup)
                    .map_err(|kind| error(i, kind))?,
            ),
            _ => None,
        };
        match replacement {
            Some((original_len, value)) => {
                out.replace(i, original_len, &value);
                i += original_len;
            }
            None => {
                out.copy(&chars[i..=i]);
                i += 1;
            }
        }
    }
    Ok(out.finish(original_line_starts))
}

/// The interpolated text as it grows, with what [`Interpolated`] keeps to map it back.
struct Output {
    text: String,
    /// The length of `text` in characters.
    len: usize,
    replacements: Vec<Replacement>,
    variable_values: std::collections::BTreeSet<String>,
    variables: Vec<(String, String)>,
}

impl Output {
    fn with_capacity(bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            len: 0,
            replacements: Vec::new(),
            variable_values: std::collections::BTreeSet::new(),
            variables: Vec::new(),
        }
    }

    fn copy(&mut self, chars: &[char]) {
        self.text.extend(chars);
        self.len += chars.len();
    }

    /// The value for the `${…}` that `chars` starts with, and how many characters it spans.
    fn substitute(
        &mut self,
        chars: &[char],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(usize, String), InterpolateErrorKind> {
        let placeholder = parse_placeholder(chars)?;
        let value = match (lookup(&placeholder.name), placeholder.default) {
            (Some(value), Some(default)) if value.is_empty() => default,
            (Some(value), _) => {
                self.variable_values.insert(value.clone());
                if !self
                    .variables
                    .iter()
                    .any(|(name, _)| *name == placeholder.name)
                {
                    self.variables
                        .push((placeholder.name.clone(), value.clone()));
                }
                value
            }
            (None, Some(default)) => default,
            (None, None) => {
                return Err(InterpolateErrorKind::Unset {
                    name: placeholder.name,
                });
            }
        };
        if self.text.len() + value.len() > MAX_INTERPOLATED_BYTES {
            return Err(InterpolateErrorKind::TooLarge {
                name: placeholder.name,
            });
        }
        Ok((placeholder.len, value))
    }

    /// Write `value` in place of the `original_len` characters at `original_start`.
    fn replace(&mut self, original_start: usize, original_len: usize, value: &str) {
        let value_len = value.chars().count();
        self.replacements.push(Replacement {
            text_start: self.len,
            text_len: value_len,
            original_start,
            original_len,
        });
        self.text.push_str(value);
        self.len += value_len;
    }

    fn finish(self, original_line_starts: Vec<usize>) -> Interpolated {
        let text_line_starts = line_starts(&self.text.chars().collect::<Vec<_>>());
        Interpolated {
            text: self.text,
            replacements: self.replacements,
            original_line_starts,
            text_line_starts,
            variable_values: self.variable_values.into_iter().collect(),
            variables: self.variables,
        }
    }
}

/// Where the scan stands in the YAML syntax: placeholders in comments are left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum YamlScope {
    Plain,
    Comment,
    SingleQuoted,
    DoubleQuoted,
}

impl YamlScope {
    /// The scope once `chars[i]` is read, and how many characters from `i` to copy as they are
    /// (2 for an escape such as `\"` or `''`, which cannot close the scalar; else 0).
    fn after(self, chars: &[char], i: usize) -> (Self, usize) {
        let c = chars[i];
        let previous = i.checked_sub(1).map(|p| chars[p]);
        match self {
            Self::Comment if c == '\n' => (Self::Plain, 0),
            Self::Plain if c == '#' && previous.is_none_or(is_blank_or_newline) => {
                (Self::Comment, 0)
            }
            Self::Plain if c == '"' && previous.is_none_or(starts_scalar) => {
                (Self::DoubleQuoted, 0)
            }
            Self::Plain if c == '\'' && previous.is_none_or(starts_scalar) => {
                (Self::SingleQuoted, 0)
            }
            Self::DoubleQuoted if c == '\\' && i + 1 < chars.len() => (self, 2),
            Self::DoubleQuoted if c == '"' => (Self::Plain, 0),
            Self::SingleQuoted if c == '\'' && chars.get(i + 1) == Some(&'\'') => (self, 2),
            Self::SingleQuoted if c == '\'' => (Self::Plain, 0),
            _ => (self, 0),
        }
    }
}

fn is_blank_or_newline(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A quote opens a quoted scalar only where a scalar can start; elsewhere (`don't`) it is text.
fn starts_scalar(c: char) -> bool {
    is_blank_or_newline(c) || matches!(c, '[' | '{' | ',')
}

struct Placeholder {
    name: String,
    default: Option<String>,
    /// Characters from `$` to `}` inclusive.
    len: usize,
}

/// Parse `${NAME}` or `${NAME:-default}` at the start of `chars` (which starts with `${`).
fn parse_placeholder(chars: &[char]) -> Result<Placeholder, InterpolateErrorKind> {
    let Some(close) = chars
        .iter()
        .take_while(|c| **c != '\n')
        .position(|c| *c == '}')
    else {
        return Err(InterpolateErrorKind::Unterminated);
    };
    let inner: String = chars[2..close].iter().collect();
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default.to_owned())),
        None => (inner.as_str(), None),
    };
    if name.is_empty() {
        return Err(InterpolateErrorKind::EmptyName);
    }
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(InterpolateErrorKind::Invalid {
            placeholder: chars[..=close].iter().collect(),
        });
    }
    Ok(Placeholder {
        name: name.to_owned(),
        default,
        len: close + 1,
    })
}

/// Character offsets at which each line starts.
pub(super) fn line_starts(chars: &[char]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '\n')
                .map(|(i, _)| i + 1),
        )
        .collect()
}

fn position_of(line_starts: &[usize], offset: usize) -> (u64, u64) {
    let line = line_starts.partition_point(|start| *start <= offset).max(1);
    let column = offset - line_starts[line - 1] + 1;
    (line as u64, column as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.com".into()),
            "EMPTY" => Some(String::new()),
            "MULTI" => Some("a\nb".into()),
            "LONG" => Some("0123456789".into()),
            _ => None,
        }
    }

    #[test]
    fn interpolates() {
        let cases: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            ("url: wss://${HOST}/ws", "url: wss://example.com/ws"),
            ("${HOST}${HOST}", "example.comexample.com"),
            ("a: ${UNSET:-fallback}", "a: fallback"),
            ("a: ${EMPTY:-fallback}", "a: fallback"),
            ("a: ${HOST:-fallback}", "a: example.com"),
            ("a: ${EMPTY}", "a: "),
            ("a: ${UNSET:-}", "a: "),
            ("a: ${UNSET:-x y: z}", "a: x y: z"),
            ("a: $$HOST", "a: $HOST"),
            ("a: $${HOST}", "a: ${HOST}"),
            ("a: $$$$", "a: $$"),
            ("a: $HOST $1 $", "a: $HOST $1 $"),
            ("a: \"${HOST}\"", "a: \"example.com\""),
            ("a: '${HOST}'", "a: 'example.com'"),
            ("a: ${MULTI}", "a: a\nb"),
            // Comments stay as written, placeholders and all.
            ("# token: ${UNSET}", "# token: ${UNSET}"),
            ("a: ${HOST} # ${UNSET} $$", "a: example.com # ${UNSET} $$"),
            (
                "  # indented ${UNSET}\nb: ${HOST}",
                "  # indented ${UNSET}\nb: example.com",
            ),
            // A `#` inside a quoted scalar or a word is not a comment.
            ("a: \"x # ${HOST}\"", "a: \"x # example.com\""),
            ("a: 'x # ''${HOST}'''", "a: 'x # ''example.com'''"),
            ("a: \"x \\\" # ${HOST}\"", "a: \"x \\\" # example.com\""),
            ("a: http://h/#${HOST}", "a: http://h/#example.com"),
            ("a: don't # ${UNSET}", "a: don't # ${UNSET}"),
            ("a: [\"#\", ${HOST}]", "a: [\"#\", example.com]"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                interpolate(input, &env).as_deref(),
                Ok(*expected),
                "input: {input:?}"
            );
        }
    }

    #[test]
    fn rejects() {
        let unset = |name: &str| InterpolateErrorKind::Unset { name: name.into() };
        let invalid = |p: &str| InterpolateErrorKind::Invalid {
            placeholder: p.into(),
        };
        let cases: &[(&str, u64, u64, InterpolateErrorKind)] = &[
            ("a: ${UNSET}", 1, 4, unset("UNSET")),
            ("a: 1\nb:\n  c: x${UNSET}y", 3, 7, unset("UNSET")),
            ("a: ${HOST} ${UNSET}", 1, 12, unset("UNSET")),
            ("a: ${HOST", 1, 4, InterpolateErrorKind::Unterminated),
            ("a: ${HOST\nb: }", 1, 4, InterpolateErrorKind::Unterminated),
            ("a: ${}", 1, 4, InterpolateErrorKind::EmptyName),
            ("a: ${:-x}", 1, 4, InterpolateErrorKind::EmptyName),
            ("a: ${1A}", 1, 4, invalid("${1A}")),
            ("a: ${A-B}", 1, 4, invalid("${A-B}")),
            ("a: ${A:?err}", 1, 4, invalid("${A:?err}")),
            ("a: ${ A }", 1, 4, invalid("${ A }")),
            ("é: ${UNSET}", 1, 4, unset("UNSET")),
        ];
        for (input, line, column, kind) in cases {
            let expected = InterpolateError {
                line: *line,
                column: *column,
                kind: kind.clone(),
            };
            assert_eq!(interpolate(input, &env), Err(expected), "input: {input:?}");
        }
    }

    #[test]
    fn error_messages() {
        let err = interpolate("a: ${STAGING_JWT_SECRET}", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:4: environment variable STAGING_JWT_SECRET is not set and ${STAGING_JWT_SECRET} has no default"
        );
        let err = interpolate("a: ${A-B}", &env).unwrap_err();
        assert_eq!(
            err.kind.to_string(),
            "invalid placeholder ${A-B}: expected ${NAME} or ${NAME:-default}, NAME made of A-Z, a-z, 0-9 and _ and not starting with a digit"
        );
    }

    #[test]
    fn maps_positions_back_to_the_original() {
        // original: `a: ${LONG} x` -> `a: 0123456789 x`
        let done = interpolate_mapped("k: v\na: ${LONG} x\nb: $$y z", &env).unwrap();
        assert_eq!(done.text, "k: v\na: 0123456789 x\nb: $y z");
        let cases = [
            ((1, 1), (1, 1)),   // before any replacement
            ((2, 1), (2, 1)),   // same line, before the placeholder
            ((2, 4), (2, 4)),   // first character of the value -> the `${`
            ((2, 10), (2, 4)),  // inside the value -> the `${`
            ((2, 15), (2, 12)), // the `x` after it
            ((3, 4), (3, 4)),   // the `$` from `$$`
            ((3, 5), (3, 6)),   // `y`
            ((3, 7), (3, 8)),   // `z`
        ];
        for ((line, column), expected) in cases {
            assert_eq!(
                done.original_position(line, column),
                expected,
                "at {line}:{column}"
            );
        }

        // A value with a newline shifts the lines after it.
        let done = interpolate_mapped("a: ${MULTI}\nb: 1", &env).unwrap();
        assert_eq!(done.text, "a: a\nb\nb: 1");
        assert_eq!(done.original_position(2, 1), (1, 4));
        assert_eq!(done.original_position(3, 4), (2, 4));
    }
}

#[cfg(test)]
mod limits {
    use super::*;

    #[test]
    fn a_config_growing_past_the_limit_is_refused_at_the_placeholder() {
        let big = "x".repeat(100 * 1024);
        let text = "a: ${BIG}\n".repeat(20_000);
        let err = interpolate(&text, &|_| Some(big.clone())).unwrap_err();
        assert!(
            matches!(&err.kind, InterpolateErrorKind::TooLarge { name } if name == "BIG"),
            "{err}"
        );
        assert!(err.line > 600 && err.line < 700, "{err}");
        assert!(err.to_string().contains("past 64 MiB"), "{err}");
    }

    #[test]
    fn variable_values_are_kept_once_and_defaults_are_not() {
        let text = "a: ${TOKEN}\nb: ${TOKEN}\nc: ${UNSET:-written-in-the-file}\n";
        let done = interpolate_mapped(text, &|name| {
            (name == "TOKEN").then(|| "s3cr3t-value".to_owned())
        })
        .unwrap();
        assert_eq!(done.variable_values, ["s3cr3t-value"]);
    }
}
