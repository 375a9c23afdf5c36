"""When an appointment's reminders are due: one per configured offset before the start (none in the past)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PlannedReminder:
    offset_seconds: int
    due_at: datetime


def reminder_times(starts_at: datetime, offsets_seconds: Iterable[int]) -> list[PlannedReminder]:
    """One reminder per distinct offset before the start, earliest first. Whether each is still ahead is decided
    when it is stored, by the database clock: one already passed is dropped, not sent late."""
    planned = {offset: starts_at - timedelta(seconds=offset) for offset in offsets_seconds}
    return sorted((PlannedReminder(offset, due) for offset, due in planned.items()), key=lambda r: r.due_at)


def describe_offset(offset_seconds: int) -> str:
    """3600 -> "1 hour", 86400 -> "24 hours", 5400 -> "90 minutes"."""
    if offset_seconds % 3600 == 0:
        hours = offset_seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    minutes = max(1, offset_seconds // 60)
    return f"{minutes} minute" + ("s" if minutes != 1 else "")
