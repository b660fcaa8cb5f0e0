-- One row per probe result. Size matters (100 environments every 5 minutes for 30 days is
-- 864,000 rows), hence small integer codes and blob references; src/store/codec.rs owns the
-- encodings.
--
-- status, verdict: stable codes from codec.rs, never renumbered.
-- started_at_ns: Unix nanoseconds, so the stored time equals the probe's to the nanosecond.
-- close_after_ms and the ten phases (*_ms) are milliseconds, written as INTEGER microseconds when
-- that is exact (phases are measured to the microsecond: 2-3 bytes instead of 8), otherwise as
-- the REAL millisecond value itself; ANY keeps whichever storage class was written.
-- context_id .. body_id point into blobs. They carry no REFERENCES clause: SQLite would then scan
-- runs for every blob deleted. blobs.refs, kept in the same transactions, holds them together.
-- header_values: the per-request header values (key, accept, date…) lifted out of the headers
-- blob so that the blob repeats; a JSON array, in the order the blob's "lifted" lists name them.
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    env_id         INTEGER NOT NULL REFERENCES environments (id),
    started_at_ns  INTEGER NOT NULL,
    status         INTEGER NOT NULL,
    verdict        INTEGER NOT NULL,
    in_maintenance INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL,
    failed_step    INTEGER,
    http_status    INTEGER,
    close_code     INTEGER,
    close_reason   TEXT,
    close_after_ms ANY,
    token_ms       ANY,
    health_ms      ANY,
    dns_ms         ANY,
    connect_ms     ANY,
    tls_ms         ANY,
    upgrade_ms     ANY,
    ready_ms       ANY,
    exchange_ms    ANY,
    close_ms       ANY,
    total_ms       ANY,
    health_status  INTEGER,
    health_ok      INTEGER,
    health_error   TEXT,
    context_id     INTEGER NOT NULL,
    headers_id     INTEGER,
    header_values  TEXT,
    messages_id    INTEGER,
    body_id        INTEGER,
    error          TEXT,
    diagnosis      TEXT NOT NULL
) STRICT;

-- Every read is "this environment, newest first".
CREATE INDEX runs_by_env_time ON runs (env_id, started_at_ns DESC);
