"""WAL positions: how far a database has got, as one integer comparable across the primary and its replicas."""

from __future__ import annotations

from smartslot_common.db import Connection, ConnectionOrPool

# On a replica: how far replay has got (everything committed up to there is visible to later snapshots).
# On the primary: the insert position (everything committed before this call is at or below it).
POSITION = """
SELECT COALESCE((CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)
                - '0/0'::pg_lsn, 0)::bigint
"""
PRIMARY_POSITION = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"


async def position(connection: Connection) -> int:
    """The WAL position this connection's database has made visible (replayed on a replica, inserted on a primary)."""
    return int(await connection.fetchval(POSITION))


async def primary_position(connection: ConnectionOrPool) -> int:
    """The primary's WAL insert position now: past every transaction that committed before this call."""
    return int(await connection.fetchval(PRIMARY_POSITION))


async def system_identifier(connection: ConnectionOrPool) -> int:
    """The cluster's system identifier (shared by its streaming replicas): which WAL a position belongs to."""
    return int(await connection.fetchval("SELECT system_identifier FROM pg_control_system()"))
