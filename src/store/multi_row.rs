//! Multi-row statements for the SQLite writer. sqlx runs every statement on its own worker
//! thread, so each one costs a round trip through a channel and a wake-up on both sides, more
//! than SQLite's own work on a small row: a batch is written with one statement per table per
//! chunk instead of one per run.
//!
//! Chunks have power-of-two sizes up to [`MAX_ROWS`]: a batch of any size uses at most
//! seven texts of each statement, which stay prepared in the connection's statement cache,
//! instead of a new, large prepared statement for every batch size seen.

use std::ops::Range;

/// Rows in one statement at most: 64 runs of 35 columns are 2,240 variables, far below
/// SQLite's limit (32,766), and past a few dozen rows a round trip more is lost in the writes.
pub const MAX_ROWS: usize = 64;

/// `len` rows as consecutive ranges of power-of-two sizes, largest first, none above
/// [`MAX_ROWS`].
pub fn chunks(len: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < len {
        let left = (len - start).min(MAX_ROWS);
        let size = 1 << left.ilog2();
        out.push(start..start + size);
        start += size;
    }
    out
}

/// `rows` groups of `columns` placeholders: `(?, ?), (?, ?)`.
pub fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once_in_few_sizes() {
        for len in 0..300 {
            let chunks = chunks(len);
            let mut next = 0;
            for chunk in &chunks {
                assert_eq!(chunk.start, next);
                assert!(chunk.len().is_power_of_two() && chunk.len() <= MAX_ROWS);
                next = chunk.end;
            }
            assert_eq!(next, len);
        }
        let sizes: Vec<usize> = chunks(7 + 2 * MAX_ROWS).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [MAX_ROWS, MAX_ROWS, 4, 2, 1]);
    }

    #[test]
    fn placeholders_are_rows_of_columns() {
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholders(1, 1), "(?)");
    }
}
