"""What the waitlist refuses, in its own words; entrypoints turn these into problem+json."""

from __future__ import annotations

import uuid


class WaitlistError(Exception):
    """Base of the waitlist's refusals."""


class InvalidWish(WaitlistError):
    """The entry asked for something that can never match a slot."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class DuplicateEntry(WaitlistError):
    """The client already waits for exactly this."""

    def __init__(self, existing_id: uuid.UUID | None) -> None:
        self.existing_id = existing_id
        super().__init__("You are already on the waitlist for this.")


class EntryQuota(WaitlistError):
    """The client has as many live entries as allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"At most {limit} waitlist entries at a time; leave one first.")


class EntryNotFound(WaitlistError):
    """No such entry, or not the caller's."""


class EntryBusy(WaitlistError):
    """The entry cannot be left right now (an offer is being made or is open)."""


class IllegalTransition(WaitlistError):
    """An offer, a seat or an entry was asked to move to a state its current one does not lead to."""
