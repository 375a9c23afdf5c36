#!/bin/sh
# Entrypoint of the streaming read replica (official postgres image, run as user postgres).
# First start: clone the primary with pg_basebackup; --write-recovery-conf leaves standby.signal and
# primary_conninfo behind, so postgres then starts as a hot standby that follows the primary's WAL stream.
# Later starts: the data directory exists and postgres resumes streaming where it stopped.
set -eu

PGDATA="${PGDATA:-/var/lib/postgresql/data}"
# Kept in the environment so the WAL receiver can authenticate on every reconnect.
export PGPASSWORD="$REPLICATION_PASSWORD"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup --host="$PRIMARY_HOST" --username="$REPLICATION_USER" --pgdata="$PGDATA" \
      --wal-method=stream --write-recovery-conf --checkpoint=fast; do
    echo "replica: base backup from $PRIMARY_HOST failed, retrying in 2s" >&2
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  chmod 0700 "$PGDATA"
fi

exec postgres
