-- Earlier releases created the shared inbox here, but availability never wrote to it: a redelivered invalidation just
-- drops the same pages again. An unused table is still one to back up, vacuum and wonder about.
DROP TABLE IF EXISTS inbox;
