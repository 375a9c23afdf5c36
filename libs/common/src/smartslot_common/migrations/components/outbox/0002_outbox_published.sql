-- Retention deletes published rows once they are older than the service's window, oldest first: without this index
-- every pass would read the whole table. Unpublished rows are never in it (nor ever deleted).
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
