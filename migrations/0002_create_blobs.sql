-- Content-addressed text that repeats from run to run (endpoint context, header sets, message
-- lists, refused-upgrade bodies): each distinct text is stored once.
-- hash: the first 16 bytes of the SHA-256 of body.
-- refs: how many runs point here, kept in the same transaction as the runs themselves, so pruning
-- finds unreferenced blobs by key instead of scanning every run.
CREATE TABLE blobs (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    refs INTEGER NOT NULL,
    body TEXT NOT NULL
) STRICT;
