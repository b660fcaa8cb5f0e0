//! Content-addressed text shared by many runs, reference-counted so pruning can drop what no
//! run points at any more without scanning the runs.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use super::StoreError;

/// The first 16 bytes of SHA-256: collisions are out of reach at any size this store sees
/// (2^-64 after 2^32 distinct texts), and half the key bytes of the full digest. SHA-256
/// rather than std's SipHash because its output is specified and stable across Rust releases,
/// which a key written to disk needs.
pub fn hash(body: &str) -> [u8; 16] {
    let digest = Sha256::digest(body.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Store `body` once and take a reference on it: the caller's run row holds the returned id.
pub async fn acquire(conn: &mut SqliteConnection, body: &str) -> Result<i64, StoreError> {
    acquire_n(conn, body, 1).await
}

/// [`acquire`] for `count` runs at once: a batch whose runs share a text (the same URL, the
/// same header template) takes all its references in one statement.
pub async fn acquire_n(
    conn: &mut SqliteConnection,
    body: &str,
    count: i64,
) -> Result<i64, StoreError> {
    let key = hash(body);
    let id = sqlx::query_scalar(
        "INSERT INTO blobs (hash, refs, body) VALUES (?1, ?3, ?2)
         ON CONFLICT (hash) DO UPDATE SET refs = refs + excluded.refs
         RETURNING id",
    )
    .bind(&key[..])
    .bind(body)
    .bind(count)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The blobs of a batch of runs, each distinct text counted once per run that holds it, so
/// that [`BatchBlobs::acquire`] writes each text once.
#[derive(Default)]
pub struct BatchBlobs<'a> {
    counts: HashMap<&'a str, i64>,
    ids: HashMap<&'a str, i64>,
}

impl<'a> BatchBlobs<'a> {
    pub fn add(&mut self, body: &'a str) {
        *self.counts.entry(body).or_default() += 1;
    }

    /// Take every reference counted so far; ids are then looked up with [`BatchBlobs::id`].
    pub async fn acquire(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        for (&body, &count) in &self.counts {
            let id = acquire_n(conn, body, count).await?;
            self.ids.insert(body, id);
        }
        Ok(())
    }

    /// The id of a text added and acquired before.
    pub fn id(&self, body: &str) -> Option<i64> {
        self.ids.get(body).copied()
    }
}

/// Give back `count` references per blob id; delete the blobs left without any. Returns how
/// many were deleted.
pub async fn release(
    conn: &mut SqliteConnection,
    released: &HashMap<i64, i64>,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for (&id, &count) in released {
        sqlx::query("UPDATE blobs SET refs = refs - ?1 WHERE id = ?2")
            .bind(count)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        deleted += sqlx::query("DELETE FROM blobs WHERE id = ?1 AND refs <= 0")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}
