//! Slots not probed because the previous probe of the environment was still running.

use sqlx::SqliteConnection;

use super::StoreError;

/// Returns whether the slot was new: a slot recorded twice is counted once.
pub async fn insert(
    conn: &mut SqliteConnection,
    env_id: i64,
    slot_ms: i64,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO skipped_slots (env_id, slot_ms) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )
    .bind(env_id)
    .bind(slot_ms)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

pub async fn delete_before(
    conn: &mut SqliteConnection,
    env_id: i64,
    before_ms: i64,
) -> Result<u64, StoreError> {
    let deleted = sqlx::query("DELETE FROM skipped_slots WHERE env_id = ?1 AND slot_ms < ?2")
        .bind(env_id)
        .bind(before_ms)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted)
}
