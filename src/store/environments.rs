//! Environment names, stored once and referenced by id from runs, skipped slots and rollups.

use std::collections::HashMap;

use sqlx::SqliteConnection;

use super::StoreError;
use super::multi_row;

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

/// The ids of `names`, created where missing, a few statements per 64 names: the first
/// batches after a start on a new store bring every configured environment at once (100,000
/// of them one by one were two round trips each to the database's thread, slower than the
/// probes came in).
pub async fn ids_for(
    conn: &mut SqliteConnection,
    names: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
    let mut ids = HashMap::with_capacity(names.len());
    for chunk in multi_row::chunks(names.len()) {
        let names = &names[chunk];
        let insert = format!(
            "INSERT INTO environments (name) VALUES {} ON CONFLICT (name) DO NOTHING",
            multi_row::placeholders(names.len(), 1)
        );
        // Only placeholders are formatted in: the names are bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
        for name in names {
            query = query.bind(*name);
        }
        query.execute(&mut *conn).await?;
        let select = format!(
            "SELECT name, id FROM environments WHERE name IN {}",
            multi_row::placeholders(1, names.len())
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(select));
        for name in names {
            query = query.bind(*name);
        }
        ids.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(ids)
}

pub async fn all_ids(conn: &mut SqliteConnection) -> Result<Vec<i64>, StoreError> {
    let ids = sqlx::query_scalar("SELECT id FROM environments ORDER BY id")
        .fetch_all(conn)
        .await?;
    Ok(ids)
}
