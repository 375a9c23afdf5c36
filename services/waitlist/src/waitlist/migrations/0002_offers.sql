-- Offers as durable timers, the freed seats they walk down the queue with, and what events told us about slots.

-- The client's contact details as the gateway verified them at join time (carried on offer events).
ALTER TABLE entries
    ADD COLUMN client_email text,
    ADD COLUMN client_name  text,
    ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now();

-- The same wish twice is refused while the first is live (409); a cancelled or finished one may be repeated.
CREATE UNIQUE INDEX entries_one_live_wish
    ON entries (client_id, service_id, provider_id, slot_id, window_from, window_to) NULLS NOT DISTINCT
    WHERE status IN ('waiting', 'offered');
CREATE INDEX entries_by_client ON entries (client_id, created_at, id);
-- The queues a freed seat is offered down, each in queue order: a slot's own, a provider's, a whole service's.
CREATE INDEX entries_queue_slot ON entries (slot_id, priority DESC, created_at, id)
    WHERE status = 'waiting' AND slot_id IS NOT NULL;
CREATE INDEX entries_queue_provider ON entries (service_id, provider_id, priority DESC, created_at, id)
    WHERE status = 'waiting' AND slot_id IS NULL AND provider_id IS NOT NULL;
CREATE INDEX entries_queue_service ON entries (service_id, priority DESC, created_at, id)
    WHERE status = 'waiting' AND slot_id IS NULL AND provider_id IS NULL;
CREATE INDEX entries_by_join ON entries (created_at, id);

-- Names and zone of a slot, from the appointment events that preceded its release (booking's schema is never read).
CREATE TABLE slot_context (
    slot_id       uuid PRIMARY KEY,
    timezone      text,
    service_name  text,
    provider_name text,
    clinic_name   text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One seat that came free (one `slot.released`), offered down the queue one entry at a time.
CREATE TABLE seats (
    id                      uuid PRIMARY KEY,      -- the slot.released event's id
    released_appointment_id uuid,                  -- the appointment whose seat this was
    slot_id                 uuid NOT NULL,
    service_id              uuid NOT NULL,
    provider_id             uuid NOT NULL,
    starts_at               timestamptz NOT NULL,
    ends_at                 timestamptz NOT NULL,
    released_by             text NOT NULL,
    released_at             timestamptz NOT NULL,  -- when booking freed it (the event's occurred_at)
    status                  text NOT NULL CHECK (status IN ('deferred', 'offering', 'returning', 'done')),
    outcome                 text CHECK (outcome IN ('claimed', 'returned', 'merged')),
    lease_until             timestamptz,           -- `returning`: when another process may retry the hand-back
    created_at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at              timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX seats_open_by_slot ON seats (slot_id) WHERE status IN ('deferred', 'offering');
CREATE INDEX seats_returning ON seats (lease_until) WHERE status = 'returning';
CREATE INDEX seats_deferred ON seats (created_at) WHERE status = 'deferred';

CREATE TABLE offers (
    id             uuid PRIMARY KEY,
    seat_id        uuid NOT NULL REFERENCES seats (id),
    slot_id        uuid NOT NULL,
    entry_id       uuid NOT NULL REFERENCES entries (id),
    client_id      uuid NOT NULL,
    status         text NOT NULL CHECK (status IN ('requesting', 'pending', 'accepted', 'expired', 'failed')),
    attempt        integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),  -- part of booking's Idempotency-Key
    ttl_seconds    integer NOT NULL CHECK (ttl_seconds >= 1),       -- fixed with the decision: re-sends are identical
    client_email   text,
    client_name    text,
    lease_until    timestamptz,          -- `requesting`: until then the sender owns it; after, recovery re-sends
    appointment_id uuid UNIQUE,          -- the hold booking made for this offer
    deadline       timestamptz,          -- booking's hold_expires_at (database clock)
    predecessor_id uuid REFERENCES offers (id),
    available_at   timestamptz NOT NULL, -- when the seat was free for this offer: release, or the last offer's deadline
    recheck_at     timestamptz,          -- overdue `pending`: the sweeper looks again no earlier than this
    failure        text,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    offered_at     timestamptz,
    decided_at     timestamptz,
    CHECK (status NOT IN ('pending', 'accepted', 'expired') OR (appointment_id IS NOT NULL AND deadline IS NOT NULL))
);
-- At most one open offer per freed seat; at most one hold request in flight per freed seat.
CREATE UNIQUE INDEX offers_one_pending_per_seat ON offers (seat_id) WHERE status = 'pending';
CREATE UNIQUE INDEX offers_one_request_per_seat ON offers (seat_id) WHERE status = 'requesting';
-- An entry has at most one live offer, and is offered a given slot at most once (a refused request reached nobody).
CREATE UNIQUE INDEX offers_one_live_per_entry ON offers (entry_id) WHERE status IN ('requesting', 'pending');
CREATE UNIQUE INDEX offers_once_per_slot_and_entry ON offers (slot_id, entry_id) WHERE status <> 'failed';
-- Booking's word on a waitlist hold that arrived before the hold was recorded as an offer (a crash window):
-- applied when it is.
CREATE TABLE early_outcomes (
    appointment_id uuid PRIMARY KEY,
    outcome        text NOT NULL CHECK (outcome IN ('confirmed', 'ended')),
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The sweeper's scans: due offers and abandoned requests.
CREATE INDEX offers_due ON offers (deadline) WHERE status = 'pending';
CREATE INDEX offers_requesting ON offers (lease_until) WHERE status = 'requesting';
CREATE INDEX offers_by_slot_client ON offers (slot_id, client_id);
CREATE INDEX offers_by_seat ON offers (seat_id);
CREATE INDEX offers_by_entry ON offers (entry_id, offered_at);
