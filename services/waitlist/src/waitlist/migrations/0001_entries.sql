CREATE TABLE entries (
    id uuid PRIMARY KEY,
    client_id uuid NOT NULL,
    service_id uuid NOT NULL,
    provider_id uuid,
    slot_id uuid,
    window_from timestamptz,
    window_to timestamptz,
    priority integer NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'offered', 'booked', 'expired', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (window_from IS NULL OR window_to IS NULL OR window_from < window_to)
);
CREATE INDEX entries_queue ON entries (service_id, priority DESC, created_at) WHERE status = 'waiting';
