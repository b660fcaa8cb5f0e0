-- Confirmation across locations: a location whose probe failed asks the others to probe the
-- environment now, so that `min_locations` is met in seconds rather than at the next slot.
-- Times are the database's own (now()): every instance reads the same clock.
CREATE TABLE probe_requests (
    id           BIGSERIAL PRIMARY KEY,
    environment  TEXT NOT NULL,
    -- Who asked: its location never answers, the others each answer once.
    location     TEXT NOT NULL,
    instance     TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Past this, an answer would land beside the next slot's result: nobody answers.
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX probe_requests_by_expiry ON probe_requests (expires_at);

-- One row per (request, location): the replica whose INSERT lands answers for its location.
CREATE TABLE probe_answers (
    request_id BIGINT NOT NULL REFERENCES probe_requests (id) ON DELETE CASCADE,
    location   TEXT NOT NULL,
    instance   TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, location)
);
