-- Time off, and how far each provider's working hours have been turned into slots.

-- A provider's absence: no slot is offered inside it (existing ones are blocked, regeneration skips it).
CREATE TABLE time_off (
    id uuid PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES providers (id),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX time_off_provider_range ON time_off USING gist (provider_id, tstzrange(starts_at, ends_at));

-- The first local day (in the provider's zone) whose slots have not been generated yet. The daily horizon job
-- generates only from here on, so a day is generated once: a slot deleted by hand is not brought back.
ALTER TABLE providers ADD COLUMN slots_generated_until date;

-- Lookups of the catalog's soft deletes: live providers of a clinic, providers offering a service, and the
-- live appointments of a service.
CREATE INDEX providers_live_clinic ON providers (clinic_id) WHERE deleted_at IS NULL;
CREATE INDEX provider_services_service ON provider_services (service_id);
CREATE INDEX appointments_service_live ON appointments (service_id, starts_at) WHERE status IN ('locked', 'confirmed');
