-- Slots and appointments. Invariant I1 lives here, not in code: counters never exceed capacity and no two
-- live slots of one provider overlap.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE slots (
    id uuid PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES providers (id),
    service_id uuid NOT NULL REFERENCES services (id),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    capacity integer NOT NULL DEFAULT 1 CHECK (capacity >= 1),
    held integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    booked integer NOT NULL DEFAULT 0 CHECK (booked >= 0),
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'blocked', 'deleted')),
    origin text NOT NULL DEFAULT 'working_hours' CHECK (origin IN ('working_hours', 'ad_hoc')),
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT slots_within_capacity CHECK (held + booked <= capacity),
    CONSTRAINT slots_no_overlap EXCLUDE USING gist (
        provider_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status <> 'deleted')
);
CREATE INDEX slots_search ON slots (service_id, starts_at) WHERE status = 'open';
CREATE INDEX slots_provider_day ON slots (provider_id, starts_at);

CREATE TABLE appointments (
    id uuid PRIMARY KEY,
    slot_id uuid NOT NULL REFERENCES slots (id),
    provider_id uuid NOT NULL REFERENCES providers (id),
    service_id uuid NOT NULL REFERENCES services (id),
    client_id uuid NOT NULL,
    status text NOT NULL CHECK (status IN ('draft', 'locked', 'confirmed', 'cancelled', 'completed', 'expired', 'no_show')),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    hold_expires_at timestamptz,
    origin text NOT NULL DEFAULT 'client' CHECK (origin IN ('client', 'waitlist')),
    assignment text NOT NULL DEFAULT 'chosen' CHECK (assignment IN ('chosen', 'auto')),
    assignment_reason text,
    fee_cents integer NOT NULL DEFAULT 0 CHECK (fee_cents >= 0),
    lock_token text,
    currency char(3) NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT appointments_hold_has_deadline CHECK (status <> 'locked' OR hold_expires_at IS NOT NULL)
);
-- One live appointment per client per slot.
CREATE UNIQUE INDEX appointments_live_client_slot ON appointments (slot_id, client_id)
    WHERE status IN ('locked', 'confirmed');
CREATE INDEX appointments_client ON appointments (client_id, starts_at);
CREATE INDEX appointments_provider ON appointments (provider_id, starts_at);
CREATE INDEX appointments_hold_deadline ON appointments (hold_expires_at) WHERE status = 'locked';

CREATE TABLE appointment_transitions (
    id bigserial PRIMARY KEY,
    appointment_id uuid NOT NULL REFERENCES appointments (id),
    from_status text,
    to_status text NOT NULL,
    actor_id uuid,
    actor_role text,
    reason text,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appointment_transitions_appointment ON appointment_transitions (appointment_id, at);
