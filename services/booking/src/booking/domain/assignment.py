"""Automatic provider assignment (seed 003), pure: who goes first among the providers free at a start, and why.

Workload first: the provider with the fewest booked minutes (confirmed and live held appointments) on their own
local day of the start. Among equals, round robin: the provider this service assigned least recently, one never
assigned before anyone else; the provider id breaks what is left, so the order is always total.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    """A provider with an open slot at the requested start, and how busy they are."""

    provider_id: uuid.UUID
    slot_id: uuid.UUID
    booked_minutes: int
    local_day: date
    last_assigned_at: datetime | None = None  # when this service last auto-assigned them


def _order(candidate: Candidate) -> tuple[int, datetime, str]:
    return candidate.booked_minutes, candidate.last_assigned_at or NEVER, str(candidate.provider_id)


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Best first: least booked minutes that local day, then the one assigned least recently."""
    return sorted(candidates, key=_order)


def explain(ranked: Sequence[Candidate], index: int) -> str:
    """Why `ranked[index]` got the appointment, the `index` candidates ranked above it having lost their claims."""
    chosen = ranked[index]
    minutes = f"booked minutes ({chosen.booked_minutes}) on {chosen.local_day.isoformat()}"
    least = chosen.booked_minutes == min(candidate.booked_minutes for candidate in ranked)
    parts = [f"least {minutes}" if least else minutes]
    tied = sum(candidate.booked_minutes == chosen.booked_minutes for candidate in ranked)
    if tied > 1:
        parts.append(f"round robin among {tied} tied")
    if len(ranked) == 1:
        parts.append("the only provider free at that time")
    if index:
        parts.append(f"{index} better-ranked {'provider' if index == 1 else 'providers'} lost to other clients")
    return "; ".join(parts)
