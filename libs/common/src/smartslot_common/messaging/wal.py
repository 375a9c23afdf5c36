"""A producer database's write-ahead-log position that travels with the events its relay publishes.

The relay reads the WAL insert position in the query that takes the rows, so it is past each row's commit. A read
model fed by a streaming replica of that database (availability) can fence what an event changed at that position
without asking the primary itself. The position names its cluster (the system identifier every replica of it
shares), so a consumer uses it only for the database it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage

WAL_POSITION_HEADER = "smartslot-wal-position"


@dataclass(frozen=True, order=True)
class WalPosition:
    """A point in the WAL of one PostgreSQL cluster."""

    system: int  # pg_control_system().system_identifier
    lsn: int  # as a byte offset (pg_lsn - '0/0')

    def header(self) -> str:
        return f"{self.system}/{self.lsn}"

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> WalPosition | None:
        """The position a message carries, if it carries a readable one."""
        value = (message.headers or {}).get(WAL_POSITION_HEADER)
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if not isinstance(value, str):
            return None
        system, _, lsn = value.partition("/")
        try:
            return cls(int(system), int(lsn))
        except ValueError:
            return None


def latest(positions: Iterable[WalPosition | None]) -> WalPosition | None:
    """The furthest of positions of one cluster, past every one of them; None if any is missing or they differ in
    cluster (then no single position is known to be past them all)."""
    found = list(positions)
    if not found or any(position is None for position in found):
        return None
    known = [position for position in found if position is not None]
    if len({position.system for position in known}) != 1:
        return None
    return max(known)
