-- Silences made at run time (POST /api/v1/silences, `wsprobe silence add`): while one is active,
-- a result it matches is recorded and shown, and its notifications are held (recorded, never
-- sent), as inside a maintenance window (src/oncall/silence.rs).
-- environment, location, verdict: the matchers, each exact or a pattern with `*`; NULL
-- matches anything (at least one is set). Times are Unix milliseconds: the silence holds from
-- starts_at_ms until ends_at_ms, or until expired_at_ms when it was expired early (DELETE
-- /api/v1/silences/{id}); expired ones are kept for history.
CREATE TABLE silences (
    id            INTEGER PRIMARY KEY,
    environment   TEXT,
    location      TEXT,
    verdict       TEXT,
    starts_at_ms  INTEGER NOT NULL,
    ends_at_ms    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    comment       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expired_at_ms INTEGER
) STRICT;

-- The daemon reads the silences not yet over; the API lists the newest first.
CREATE INDEX silences_by_end ON silences (ends_at_ms);
