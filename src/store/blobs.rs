//! Content-addressed text shared by many runs, reference-counted so pruning can drop what no
//! run points at any more without scanning the runs.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

use super::{StoreError, multi_row};

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

/// The blobs of a batch of runs, each distinct text counted once per run that holds it, so
/// that [`BatchBlobs::acquire`] writes each text once, and all of them in a few statements.
#[derive(Default)]
pub struct BatchBlobs<'a> {
    counts: HashMap<&'a str, i64>,
    ids: HashMap<&'a str, i64>,
}

impl<'a> BatchBlobs<'a> {
    pub fn add(&mut self, body: &'a str) {
        *self.counts.entry(body).or_default() += 1;
    }

    /// Store every text not stored yet and take every reference counted so far; ids are then
    /// looked up with [`BatchBlobs::id`].
    pub async fn acquire(&mut self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        let texts: Vec<(&'a str, [u8; 16], i64)> = self
            .counts
            .iter()
            .map(|(&body, &count)| (body, hash(body), count))
            .collect();
        for chunk in multi_row::chunks(texts.len()) {
            let texts = &texts[chunk];
            let sql = format!(
                "INSERT INTO blobs (hash, refs, body) VALUES {}
                 ON CONFLICT (hash) DO UPDATE SET refs = refs + excluded.refs
                 RETURNING id, hash",
                multi_row::placeholders(texts.len(), 3)
            );
            let mut query = sqlx::query_as::<_, (i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql));
            for (body, key, count) in texts {
                query = query.bind(&key[..]).bind(*count).bind(*body);
            }
            let by_hash: HashMap<Vec<u8>, i64> = query
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(id, key)| (key, id))
                .collect();
            for (body, key, _) in texts {
                let id = by_hash.get(&key[..]).copied().ok_or_else(|| {
                    StoreError::Corrupt("a blob written in this batch returned no id".into())
                })?;
                self.ids.insert(body, id);
            }
        }
        Ok(())
    }

    /// The id of a text added and acquired before.
    pub fn id(&self, body: &str) -> Result<i64, StoreError> {
        self.ids.get(body).copied().ok_or_else(|| {
            StoreError::Corrupt("a text of the batch was not counted in its blobs".into())
        })
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
