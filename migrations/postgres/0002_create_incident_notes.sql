-- Written updates on an incident, as in the SQLite schema (migrations/0011).
CREATE TABLE incident_notes (
    id            BIGSERIAL PRIMARY KEY,
    incident_id   BIGINT NOT NULL REFERENCES incidents (id),
    created_at_ms BIGINT NOT NULL,
    status        TEXT CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    message       TEXT NOT NULL,
    author        TEXT
);
CREATE INDEX incident_notes_by_incident ON incident_notes (incident_id, id);
