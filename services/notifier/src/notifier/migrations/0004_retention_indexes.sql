-- Retention deletes finished deliveries and reminders once they are past the notifier's windows, oldest first:
-- these indexes hold only finished rows, so a pass never reads the rows still to be sent, nor the whole table.
CREATE INDEX deliveries_finished ON deliveries (created_at) WHERE status <> 'pending';
CREATE INDEX reminders_finished ON reminders (due_at) WHERE status <> 'scheduled';
