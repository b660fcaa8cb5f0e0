-- Process-wide facts that must survive restarts (service.instance.id) and the /readyz heartbeat.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
