"""What each event tells its recipient, in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Message:
    """One notification for one user."""

    user_id: str
    kind: str
    title: str
    body: str
    appointment_id: str | None


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M %Z")


def hold_placed(payload: dict[str, Any]) -> Message:
    """A client's hold: confirm it before the deadline."""
    return Message(
        user_id=payload["client_id"],
        kind="hold_placed",
        title="Your slot is held",
        body=f"Your appointment at {_when(payload['starts_at'])} is held for you until "
        f"{_when(payload['hold_expires_at'])}. Confirm it to keep it.",
        appointment_id=payload["appointment_id"],
    )
