//! Writes that fail alone. A write transaction is a plain `BEGIN IMMEDIATE` … `COMMIT` on the
//! one writer connection; if it does not commit (an error, a full disk, an early return), the
//! connection is closed instead of going back to the pool, and the pool opens a fresh one for
//! the next write. sqlx's own transactions kept their depth after a failed `COMMIT`
//! (`SQLITE_FULL`): every later write failed with "begin_with at non-zero transaction depth"
//! until a restart, even once the disk had room again.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::StoreError;

pub struct WriteTx {
    conn: PoolConnection<Sqlite>,
    /// Committed: the connection is clean and may be reused.
    finished: bool,
}

impl WriteTx {
    pub async fn begin(writer: &SqlitePool) -> Result<WriteTx, StoreError> {
        let mut tx = WriteTx {
            conn: writer.acquire().await?,
            finished: false,
        };
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *tx.conn)
            .await?;
        Ok(tx)
    }

    pub async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT").execute(&mut *self.conn).await?;
        self.finished = true;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if !self.finished {
            // Closing discards the open transaction (SQLite rolls it back) and whatever state
            // the failed statement left behind.
            self.conn.close_on_drop();
        }
    }
}
