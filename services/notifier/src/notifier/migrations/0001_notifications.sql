CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    kind text NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    appointment_id uuid,
    event_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz
);
-- One notification of a kind per event and recipient, whatever the redeliveries.
CREATE UNIQUE INDEX notifications_once ON notifications (event_id, user_id, kind);
CREATE INDEX notifications_feed ON notifications (user_id, created_at DESC, id DESC);
