-- Events written in the business transaction and published by the relay (architecture I3).
-- Unqualified names: the runner puts the owning service's schema first on the search path.
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,                      -- the event id
    seq             bigint GENERATED ALWAYS AS IDENTITY,   -- insertion order among rows of one transaction
    event_type      text NOT NULL,
    envelope        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);

-- The relay only ever scans what is still to be published, in created order.
CREATE INDEX outbox_unpublished ON outbox (created_at, seq) WHERE published_at IS NULL;

-- Wake the relay at commit instead of waiting for its next poll; one notification per statement is enough.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
