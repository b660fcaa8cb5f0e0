//! Environment names, stored once and referenced by id from runs, skipped slots and rollups.

use sqlx::SqliteConnection;

use super::StoreError;

/// The id of `name`, created on first use: the store learns environments from what it is given
/// rather than from the config, so renamed or removed environments keep their history.
pub async fn id_for(conn: &mut SqliteConnection, name: &str) -> Result<i64, StoreError> {
    let existing = sqlx::query_scalar("SELECT id FROM environments WHERE name = ?1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = sqlx::query_scalar("INSERT INTO environments (name) VALUES (?1) RETURNING id")
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(id)
}

pub async fn all_ids(conn: &mut SqliteConnection) -> Result<Vec<i64>, StoreError> {
    let ids = sqlx::query_scalar("SELECT id FROM environments ORDER BY id")
        .fetch_all(conn)
        .await?;
    Ok(ids)
}
