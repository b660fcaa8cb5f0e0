//! Whether the last write to the store worked and when one last did, and logging of failures
//! without flooding.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

/// A store error is logged at most this often, with the count of those held back.
const STORE_ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct StoreHealth {
    state: Mutex<StoreState>,
}

#[derive(Default)]
struct StoreState {
    last_error: Option<(DateTime<Utc>, String)>,
    /// The first failure since the last success: how long the store has been away.
    failing_since: Option<DateTime<Utc>>,
    /// Notifications overdue past their retry, as the store check last read them: readiness
    /// answers from this, never from a read of its own.
    overdue: Option<Result<u64, String>>,
    /// When a write last succeeded: readiness wants a recent one, not just no error.
    last_ok: Option<DateTime<Utc>>,
    last_logged: Option<Instant>,
    held_back: u64,
}

impl StoreHealth {
    pub fn failed(&self, error: &str) {
        let mut state = self.state.lock();
        let now = Utc::now();
        state.last_error = Some((now, error.to_owned()));
        state.failing_since.get_or_insert(now);
        let due = state
            .last_logged
            .is_none_or(|at| at.elapsed() >= STORE_ERROR_LOG_EVERY);
        if due {
            tracing::error!(
                held_back = state.held_back,
                "store write failed, probing goes on: {error}"
            );
            state.last_logged = Some(Instant::now());
            state.held_back = 0;
        } else {
            state.held_back += 1;
        }
    }

    pub fn succeeded(&self) {
        let mut state = self.state.lock();
        state.last_ok = Some(Utc::now());
        state.failing_since = None;
        if state.last_error.take().is_some() {
            tracing::info!("store writes work again");
        }
    }

    pub fn last_ok(&self) -> Option<DateTime<Utc>> {
        self.state.lock().last_ok
    }

    /// Since when the store has been failing, if the last write failed.
    pub fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.state.lock().failing_since
    }

    pub fn set_overdue(&self, overdue: Result<u64, String>) {
        self.state.lock().overdue = Some(overdue);
    }

    /// The overdue notifications as last read; none before the first read.
    pub fn overdue(&self) -> Result<u64, String> {
        self.state.lock().overdue.clone().unwrap_or(Ok(0))
    }

    /// The last write error, if the last write failed.
    pub fn error(&self) -> Option<(DateTime<Utc>, String)> {
        self.state.lock().last_error.clone()
    }
}
