-- Written updates on an incident (`POST /api/v1/incidents/{id}/notes`): what on-call tells
-- the people watching, shown on the status pages and in the feed, sent to the incident's
-- channels. Times are Unix milliseconds. status: investigating | identified | monitoring |
-- resolved, or NULL for a plain update (the word a note leads with; it never resolves the
-- incident, the probes do). author: who wrote it, as they said, or NULL.
CREATE TABLE incident_notes (
    id            INTEGER PRIMARY KEY,
    incident_id   INTEGER NOT NULL REFERENCES incidents (id),
    created_at_ms INTEGER NOT NULL,
    status        TEXT CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
    message       TEXT NOT NULL,
    author        TEXT
) STRICT;

-- An incident's notes, oldest first.
CREATE INDEX incident_notes_by_incident ON incident_notes (incident_id, id);
