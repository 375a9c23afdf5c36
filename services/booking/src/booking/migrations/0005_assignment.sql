-- Getting a seat: the waitlist's first call on a released slot, and the round-robin cursor of auto-assignment.

-- A slot freed by a provider or admin cancellation stays out of the public pool until this instant while the
-- waitlist has first call on it; NULL (or a past instant) means public.
ALTER TABLE slots ADD COLUMN reserved_until timestamptz;

-- Round robin among providers tied on booked minutes: the provider auto-assigned least recently for a service
-- goes first. One row per (service, provider), so concurrent assignments to different providers never contend.
CREATE TABLE assignment_cursor (
    service_id uuid NOT NULL REFERENCES services (id),
    provider_id uuid NOT NULL REFERENCES providers (id),
    last_assigned_at timestamptz NOT NULL,
    PRIMARY KEY (service_id, provider_id)
);
