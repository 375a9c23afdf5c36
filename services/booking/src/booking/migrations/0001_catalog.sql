-- Catalog: clinics, services with their cancellation policy, providers and what they offer.
CREATE TABLE clinics (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone text NOT NULL,
    address text,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

CREATE TABLE services (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    currency char(3) NOT NULL,
    cancellation_policy jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

CREATE TABLE providers (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    clinic_id uuid NOT NULL REFERENCES clinics (id),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    timezone text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE UNIQUE INDEX providers_live_user ON providers (user_id) WHERE deleted_at IS NULL;

CREATE TABLE provider_services (
    provider_id uuid NOT NULL REFERENCES providers (id),
    service_id uuid NOT NULL REFERENCES services (id),
    PRIMARY KEY (provider_id, service_id)
);

CREATE TABLE working_hours (
    provider_id uuid NOT NULL REFERENCES providers (id),
    weekday smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_local time NOT NULL,
    end_local time NOT NULL CHECK (end_local > start_local),
    service_id uuid NOT NULL REFERENCES services (id),
    PRIMARY KEY (provider_id, weekday, start_local)
);
