//! Process-wide facts that outlive restarts.

use sqlx::SqliteConnection;

use super::StoreError;

const INSTANCE_ID: &str = "service.instance.id";
const HEARTBEAT: &str = "store.heartbeat";

/// The OTLP `service.instance.id`: made once, then read back on every start so metrics from
/// before and after a restart belong to the same instance.
pub async fn instance_id(conn: &mut SqliteConnection) -> Result<String, StoreError> {
    if let Some(id) = read(conn, INSTANCE_ID).await? {
        return Ok(id);
    }
    // Another process opening the same file at the same moment may win: read back its id.
    sqlx::query("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING")
        .bind(INSTANCE_ID)
        .bind(new_uuid_v4())
        .execute(&mut *conn)
        .await?;
    read(conn, INSTANCE_ID)
        .await?
        .ok_or_else(|| StoreError::Corrupt("service.instance.id vanished after insert".into()))
}

/// A store file made anew under a running daemon keeps the daemon's instance id.
pub async fn keep_instance_id(conn: &mut SqliteConnection, id: &str) -> Result<(), StoreError> {
    put(conn, INSTANCE_ID, id).await
}

/// A real write through the writer connection: what /readyz needs to know.
pub async fn heartbeat(conn: &mut SqliteConnection, at: &str) -> Result<(), StoreError> {
    put(conn, HEARTBEAT, at).await
}

async fn put(conn: &mut SqliteConnection, key: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

async fn read(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>, StoreError> {
    let value = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(value)
}

/// RFC 9562 version 4 (random) UUID from `rand`, which the crate already has.
fn new_uuid_v4() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let a = new_uuid_v4();
        let b = new_uuid_v4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{a}");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
