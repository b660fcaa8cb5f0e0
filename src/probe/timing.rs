//! Latency comes from the monotonic clock only: wall-clock jumps must never show as latency.

use std::time::Instant;

/// Milliseconds since `since`, rounded to microseconds so JSON stays readable.
pub fn elapsed_ms(since: Instant) -> f64 {
    round_ms(since.elapsed().as_secs_f64() * 1000.0)
}

pub fn between_ms(from: Instant, to: Instant) -> f64 {
    round_ms(to.saturating_duration_since(from).as_secs_f64() * 1000.0)
}

pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}
