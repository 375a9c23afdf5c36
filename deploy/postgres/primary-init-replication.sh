#!/bin/sh
# Runs once, when the primary's data directory is first created (mounted into /docker-entrypoint-initdb.d):
# creates the role the read replica streams as and lets it connect for replication.
# No `set -u`: the official entrypoint sources this file when it is not executable.
set -e

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v role="$REPLICATION_USER" -v password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"role" WITH REPLICATION LOGIN PASSWORD :'password';
SQL

echo "host replication $REPLICATION_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"
