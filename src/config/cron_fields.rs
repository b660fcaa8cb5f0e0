//! Cron fields read the way a person reads them, before croner parses the expression: a value
//! outside its field's range, or a step larger than the field, is said in words that name the
//! field. croner accepts `*/70` in the minute field (it fires only at minute 0, so hourly) and
//! says "Component error: Number out of bounds." for `61`: both are mistakes a person makes,
//! and both deserve a sentence that says which field and what it takes.

/// One field of a cron line: its name and the values it takes.
struct Field {
    name: &'static str,
    low: u32,
    high: u32,
    /// Three-letter names the field also takes (`JAN`, `MON`), in value order from `low`.
    names: &'static [&'static str],
}

impl Field {
    const fn new(name: &'static str, low: u32, high: u32, names: &'static [&'static str]) -> Field {
        Field {
            name,
            low,
            high,
            names,
        }
    }
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const SECOND: Field = Field::new("second", 0, 59, &[]);
const MINUTE: Field = Field::new("minute", 0, 59, &[]);
const HOUR: Field = Field::new("hour", 0, 23, &[]);
const DAY: Field = Field::new("day of month", 1, 31, &[]);
const MONTH: Field = Field::new("month", 1, 12, MONTHS);
/// 0 and 7 are both Sunday, as in POSIX cron.
const WEEKDAY: Field = Field::new("weekday", 0, 7, WEEKDAYS);

/// Checks every field of `expression` that is written with numbers, ranges, lists and steps.
/// What it does not read (`L`, `W`, `#`, `?`, `@hourly`) is left to croner.
pub fn check(expression: &str) -> Result<(), String> {
    let parts: Vec<&str> = expression.split_whitespace().collect();
    let fields: &[Field] = match parts.len() {
        5 => &[MINUTE, HOUR, DAY, MONTH, WEEKDAY],
        6 => &[SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY],
        _ => return Ok(()),
    };
    for (text, field) in parts.iter().zip(fields) {
        for item in text.split(',') {
            check_item(item, field)
                .map_err(|problem| format!("cron schedule {expression:?}: {problem}"))?;
        }
    }
    Ok(())
}

fn check_item(item: &str, field: &Field) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    let bounds = match range {
        "*" | "?" => Some((field.low, field.high)),
        _ => match range.split_once('-') {
            Some((from, to)) => match (value(from, field)?, value(to, field)?) {
                (Some(from), Some(to)) => Some((from, to)),
                _ => None,
            },
            None => value(range, field)?.map(|at| (at, field.high)),
        },
    };
    let (Some(step), Some((from, to))) = (step, bounds) else {
        return Ok(());
    };
    let Ok(step) = step.parse::<u32>() else {
        return Ok(());
    };
    let span = field.high - field.low + 1;
    if step == 0 {
        return Err(format!(
            "a step of 0 in the {} field never advances",
            field.name
        ));
    }
    if step >= span || (from < to && step > to - from) {
        return Err(format!(
            "`{item}`: a step of {step} is larger than the {} field ({}–{}): it would fire only at {} {from}, not every {step} {}",
            field.name,
            field.low,
            field.high,
            field.name,
            unit(field)
        ));
    }
    Ok(())
}

/// A number or name in `field`: `None` when it is something croner reads that this does not
/// (`L`, `5L`, `15W`, `1#2`).
fn value(text: &str, field: &Field) -> Result<Option<u32>, String> {
    if let Ok(number) = text.parse::<u32>() {
        if number < field.low || number > field.high {
            return Err(format!(
                "{} {number} is out of range: the {} field takes {}–{}",
                field.name, field.name, field.low, field.high
            ));
        }
        return Ok(Some(number));
    }
    let position = field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text));
    Ok(position.map(|index| field.low + index as u32))
}

fn unit(field: &Field) -> &'static str {
    match field.name {
        "second" => "seconds",
        "minute" => "minutes",
        "hour" => "hours",
        "day of month" => "days",
        "month" => "months",
        _ => "weekdays",
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn fields_are_read_in_a_persons_words() {
        let rows: &[(&str, Option<&str>)] = &[
            ("*/5 * * * *", None),
            ("0 9 * * 1-5", None),
            ("0 9 * * MON-FRI", None),
            ("30 */6 * * *", None),
            ("*/30 * * * * *", None),
            ("0 0 1 JAN *", None),
            ("0 0 L * *", None),
            ("0 0 * * 7", None),
            ("5-50/15 * * * *", None),
            (
                "*/70 * * * *",
                Some(
                    "a step of 70 is larger than the minute field (0–59): it would fire only at minute 0, not every 70 minutes",
                ),
            ),
            (
                "61 * * * *",
                Some("minute 61 is out of range: the minute field takes 0–59"),
            ),
            (
                "0 24 * * *",
                Some("hour 24 is out of range: the hour field takes 0–23"),
            ),
            (
                "0 0 0 * *",
                Some("day of month 0 is out of range: the day of month field takes 1–31"),
            ),
            ("0 0 1 13 *", Some("month 13 is out of range")),
            (
                "0 0 * * 8",
                Some("weekday 8 is out of range: the weekday field takes 0–7"),
            ),
            (
                "0 0 */0 * *",
                Some("a step of 0 in the day of month field never advances"),
            ),
            (
                "0 10-20/15 * * *",
                Some("a step of 15 is larger than the hour field"),
            ),
            ("61 * * * * *", Some("second 61 is out of range")),
        ];
        for (expression, want) in rows {
            match (check(expression), want) {
                (Ok(()), None) => {}
                (Err(message), Some(want)) => assert!(
                    message.contains(want),
                    "{expression}: {message:?} should say {want:?}"
                ),
                (got, want) => panic!("{expression}: got {got:?}, want {want:?}"),
            }
        }
    }
}
