-- Runs and rollups carry this small id instead of repeating the name on every row.
CREATE TABLE environments (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
