-- Retention deletes inbox rows once they are older than the service's window, oldest first: without this index every
-- pass would read the whole table.
CREATE INDEX inbox_received ON inbox (received_at);
