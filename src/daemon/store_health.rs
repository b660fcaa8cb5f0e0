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
    /// When a write last succeeded: readiness wants a recent one, not just no error.
    last_ok: Option<DateTime<Utc>>,
    last_logged: Option<Instant>,
    held_back: u64,
}

impl StoreHealth {
    pub fn failed(&self, error: &str) {
        let mut state = self.state.lock();
        state.last_error = Some((Utc::now(), error.to_owned()));
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
        if state.last_error.take().is_some() {
            tracing::info!("store writes work again");
        }
    }

    pub fn last_ok(&self) -> Option<DateTime<Utc>> {
        self.state.lock().last_ok
    }

    /// The last write error, if the last write failed.
    pub fn error(&self) -> Option<(DateTime<Utc>, String)> {
        self.state.lock().last_error.clone()
    }
}
