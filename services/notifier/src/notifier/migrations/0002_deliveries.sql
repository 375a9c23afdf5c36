-- Webhook endpoints registered by admins. The secret signs every delivery (Standard Webhooks), so it is kept.
CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY,
    url text NOT NULL CHECK (url ~ '^https?://'),
    event_types text[] NOT NULL CHECK (cardinality(event_types) > 0),
    description text,
    secret text NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    disabled_reason text,
    disabled_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_by_type ON webhook_endpoints USING gin (event_types) WHERE enabled;

-- Every outbound message, written in the transaction that decided to send it and sent after the commit. A row is
-- claimed by pushing `next_attempt_at` one lease ahead, so a crash mid-send is retried by whoever comes next.
CREATE TABLE deliveries (
    id uuid PRIMARY KEY,
    channel text NOT NULL CHECK (channel IN ('email', 'webhook')),
    kind text NOT NULL,                  -- email: confirmation, cancellation, ...; webhook: the event type
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    source_id uuid NOT NULL,             -- the event, or the reminder, that asked for it
    appointment_id uuid,
    endpoint_id uuid REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    recipient text NOT NULL,             -- an email address or a webhook URL
    message_id text NOT NULL UNIQUE,     -- SMTP Message-ID or `webhook-id`: the same on every attempt
    content jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL CHECK (max_attempts > 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    last_response_code integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    CHECK ((channel = 'webhook') = (endpoint_id IS NOT NULL))
);
-- Each source (event or reminder) queues an email to one address once, and one call per endpoint.
CREATE UNIQUE INDEX deliveries_email_once ON deliveries (source_id, kind, recipient) WHERE channel = 'email';
CREATE UNIQUE INDEX deliveries_webhook_once ON deliveries (source_id, endpoint_id) WHERE channel = 'webhook';
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, created_at DESC, id DESC) WHERE endpoint_id IS NOT NULL;

-- The newest calendar sequence seen per appointment: an older event arriving late (a retried confirmation after the
-- cancellation) must not plan reminders or send an invitation that was already withdrawn.
CREATE TABLE appointment_versions (
    appointment_id uuid PRIMARY KEY,
    ics_sequence integer NOT NULL,
    status text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per reminder; the poller turns due ones into deliveries.
CREATE TABLE reminders (
    id uuid PRIMARY KEY,
    appointment_id uuid NOT NULL,
    user_id uuid NOT NULL,
    offset_seconds integer NOT NULL CHECK (offset_seconds > 0),
    starts_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL CHECK (due_at < starts_at),
    -- missed: the notifier was down past the appointment's start, so the reminder would come too late
    status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'sent', 'cancelled', 'missed')),
    appointment jsonb NOT NULL,          -- the appointment payload the reminder describes
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE UNIQUE INDEX reminders_one_live ON reminders (appointment_id, offset_seconds) WHERE status = 'scheduled';
CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'scheduled';
