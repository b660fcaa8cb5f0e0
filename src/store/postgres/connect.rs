//! Reaching the shared PostgreSQL: at start, and again in the background for as long as it
//! does not answer. A database that is not up yet at boot (or is restarting) is a condition to
//! ride out, not a reason to exit; a server that answers and refuses the login or does not
//! know the database is a bad config, said at once with host, port and database (never the
//! password).

use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::{MIGRATOR, PgStore};
use crate::store::StoreError;

/// One connection attempt at most this long: a server that accepts TCP and says nothing (a
/// blackholed route) is an attempt that failed, not a start that hangs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first retry after this long, doubling up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Where the store is, for messages: `host:port/database`, without user or password.
pub(super) fn target(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

/// Whether `err` is the server answering that the config is wrong: authentication failed
/// (SQLSTATE class 28) or the database does not exist (3D000). Anything else (refused, reset,
/// timed out, the server starting or shutting down) may pass by itself.
pub fn is_bad_config(err: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = err else {
        return false;
    };
    db.code()
        .is_some_and(|code| code.starts_with("28") || code == "3D000")
}

/// The wait before retry number `attempt` (1-based).
fn backoff(attempt: u32) -> Duration {
    RETRY_FIRST
        .saturating_mul(1 << attempt.saturating_sub(1).min(5))
        .min(RETRY_MAX)
}

impl PgStore {
    /// Connect once (a connection of its own, so that the server's own answer is the error,
    /// not the pool's time-out), then migrate and register this instance.
    pub(super) async fn bring_up(&self, options: &PgConnectOptions) -> Result<(), StoreError> {
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options))
            .await
            .map_err(|_| {
                StoreError::NotConnected(format!(
                    "{}: no answer within {}s",
                    self.inner.target,
                    CONNECT_TIMEOUT.as_secs()
                ))
            })??;
        let _ = connection.close().await;
        MIGRATOR.run(self.pool()).await?;
        self.register(env!("CARGO_PKG_VERSION")).await?;
        self.inner.up.store(true, Ordering::Release);
        Ok(())
    }

    /// Retry [`PgStore::bring_up`] with backoff until it works or the store is closed; each
    /// attempt is logged with where and why.
    pub(super) async fn keep_trying(self, options: PgConnectOptions) {
        let target = target(&options);
        let mut attempt = 1;
        loop {
            let wait = backoff(attempt);
            tokio::time::sleep(wait).await;
            if self.pool().is_closed() {
                return;
            }
            attempt += 1;
            match self.bring_up(&options).await {
                Ok(()) => {
                    tracing::info!(store = %target, attempt, "connected to the shared store");
                    return;
                }
                Err(err) => {
                    let error = crate::text::error_chain(&err);
                    tracing::warn!(
                        store = %target, attempt,
                        next_in_s = backoff(attempt).as_secs(),
                        "the shared store is not reachable: {error}"
                    );
                    *self.inner.unreachable.lock() = error;
                }
            }
        }
    }

    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Whether the store has been reached, migrated and this instance registered.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    /// `Err` at once while the store has never been reached: a writer does not wait out a
    /// pool time-out per batch for a server known not to answer.
    pub(super) fn ensure_up(&self) -> Result<(), StoreError> {
        if self.is_up() {
            return Ok(());
        }
        Err(StoreError::NotConnected(format!(
            "{}: {}",
            self.inner.target,
            self.inner.unreachable.lock()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_half_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn the_target_names_host_port_and_database_but_no_password() {
        let options: PgConnectOptions = "postgres://probe:s3cret@db.internal:6543/fleet"
            .parse()
            .unwrap();
        let target = target(&options);
        assert_eq!(target, "db.internal:6543/fleet");
        assert!(!target.contains("s3cret"));
    }
}
