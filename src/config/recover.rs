//! Going on after a YAML or type error, so one run reports every mistake: the entry at fault is
//! blanked out (each of its characters replaced by a space, so every other position stays
//! where it was) and the text is read again. A block entry takes its nested lines with it; an
//! entry inside a flow mapping or sequence (`{ a: 1, b: 2 }`) is blanked up to its comma.

use super::interpolate::line_starts;

/// What was blanked, as 1-based (line, column) from its first character to just past its last:
/// an error met there afterwards follows from the blanking, not from the file.
pub type Span = ((u64, u64), (u64, u64));

/// `text` with the entry at 1-based `line`/`column` blanked, and where; `None` when there is
/// nothing left to blank there.
pub fn blank_at(text: &str, line: u64, column: u64) -> Option<(String, Span)> {
    let mut chars: Vec<char> = text.chars().collect();
    let starts = line_starts(&chars);
    let line_start = *starts.get(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let line_end = chars[line_start..]
        .iter()
        .position(|c| *c == '\n')
        .map_or(chars.len(), |at| line_start + at);
    let at = line_start + usize::try_from(column).ok()?.saturating_sub(1);
    if at >= line_end {
        return None;
    }
    let end = if flow_depth(&chars[line_start..at]) > 0 {
        flow_entry_end(&chars, at, line_end)
    } else if chars[line_start..at]
        .iter()
        .all(|c| c.is_whitespace() || *c == '-')
    {
        block_entry_end(&chars, &starts, at - line_start, line_end)
    } else {
        line_end
    };
    let blanked = chars[at..end].iter().any(|c| !c.is_whitespace());
    for c in &mut chars[at..end] {
        if *c != '\n' {
            *c = ' ';
        }
    }
    let span = (position(&starts, at), position(&starts, end));
    blanked.then(|| (chars.into_iter().collect(), span))
}

/// The 1-based (line, column) of a character offset.
fn position(starts: &[usize], offset: usize) -> (u64, u64) {
    let line = starts.partition_point(|start| *start <= offset);
    let column = offset - starts[line - 1] + 1;
    (line as u64, column as u64)
}

/// Whether `at` lies in `span`, its end included (a value blanked away leaves its key
/// without one there).
pub fn within(span: &Span, at: (u64, u64)) -> bool {
    span.0 <= at && at <= span.1
}

/// How many flow collections are open at the end of `before` (quotes respected).
fn flow_depth(before: &[char]) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for c in before {
        match (quote, c) {
            (Some(q), c) if *c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(*c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            (None, '#') => break,
            _ => {}
        }
    }
    depth
}

/// Where a flow entry starting at `at` ends: past its comma, or before the bracket that
/// closes its collection.
fn flow_entry_end(chars: &[char], at: usize, line_end: usize) -> usize {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in chars.iter().enumerate().take(line_end).skip(at) {
        match (quote, c) {
            (Some(q), c) if *c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(*c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') if depth == 0 => return i,
            (None, '}' | ']') => depth -= 1,
            (None, ',') if depth == 0 => return i + 1,
            _ => {}
        }
    }
    line_end
}

/// Where a block entry whose key starts at `indent` ends: before the next line that is not
/// more indented (blank and comment lines inside it go with it).
fn block_entry_end(chars: &[char], starts: &[usize], indent: usize, line_end: usize) -> usize {
    let mut end = line_end;
    for &start in starts.iter().filter(|&&s| s > line_end) {
        let line: String = chars[start..].iter().take_while(|c| **c != '\n').collect();
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if line.len() - content.len() <= indent {
            break;
        }
        end = start + line.chars().count();
    }
    end
}

#[cfg(test)]
mod tests {
    use super::{blank_at, within};

    #[test]
    fn the_entry_at_fault_is_blanked_and_nothing_else_moves() {
        let rows: &[(&str, u64, u64, Option<&str>)] = &[
            // A block key and its nested lines.
            (
                "a:\n  bogus:\n    x: 1\n    y: 2\n  b: 3\n",
                2,
                3,
                Some("a:\n        \n        \n        \n  b: 3\n"),
            ),
            // A scalar of the wrong type: the value only.
            ("a: many\nb: 1\n", 1, 4, Some("a:     \nb: 1\n")),
            // Inside a flow mapping: up to and with its comma.
            (
                "t: { bogus: 1, c: 2 }\n",
                1,
                6,
                Some("t: {           c: 2 }\n"),
            ),
            (
                "t: { c: 2, bogus: 1 }\n",
                1,
                12,
                Some("t: { c: 2,          }\n"),
            ),
            // A list item's key.
            (
                "- name: a\n  bad: 1\n- name: b\n",
                2,
                3,
                Some("- name: a\n        \n- name: b\n"),
            ),
            // Nothing there.
            ("a: 1\n", 3, 1, None),
            ("a: 1\n", 1, 9, None),
        ];
        for (text, line, column, want) in rows {
            let blanked = blank_at(text, *line, *column);
            assert_eq!(
                blanked.as_ref().map(|(text, _)| text.as_str()),
                *want,
                "{text:?} at {line}:{column}"
            );
            if let Some((blanked, span)) = blanked {
                assert_eq!(blanked.chars().count(), text.chars().count());
                assert_eq!(span.0, (*line, *column), "{text:?}");
            }
        }
    }

    #[test]
    fn a_span_knows_what_it_covers() {
        let (_, span) = blank_at("s:\n  - sned: x\n", 2, 5).unwrap();
        assert_eq!(span, ((2, 5), (2, 12)));
        assert!(
            within(&span, (2, 12)),
            "the end: where the emptied item is met"
        );
        assert!(!within(&span, (3, 1)));
        assert!(!within(&span, (2, 4)));
    }
}
