-- The appointment lifecycle after the hold: who cancelled and why, when it ended, and the calendar sequence that
-- every reschedule or cancellation raises so that calendar clients replace their copy of the event.
ALTER TABLE appointments
    ADD COLUMN ics_sequence integer NOT NULL DEFAULT 0 CHECK (ics_sequence >= 0),
    ADD COLUMN cancelled_by text CHECK (cancelled_by IN ('client', 'provider', 'admin', 'system')),
    ADD COLUMN cancel_reason text CHECK (length(cancel_reason) <= 500),
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN completed_at timestamptz;

-- The admin's list ("all appointments") pages by start then id; clients and providers have their own indexes.
CREATE INDEX appointments_start_id ON appointments (starts_at, id);
