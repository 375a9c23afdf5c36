-- Idempotency keys, scoped to the caller. A key is claimed ('in_flight') before the work starts and completed in
-- the same transaction as the booking it answers for, so a replay returns exactly what the first call returned.
CREATE TABLE idempotency_keys (
    caller_id uuid NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_fingerprint text NOT NULL,
    state text NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status integer,
    response_body jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (caller_id, key),
    CHECK (state = 'in_flight' OR response_status IS NOT NULL)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
