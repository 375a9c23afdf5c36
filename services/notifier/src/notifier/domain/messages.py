"""In-app feed entries: what each event tells its recipient, in a title and a sentence."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One notification for one user."""

    user_id: str
    kind: str
    title: str
    body: str
    appointment_id: str | None
