"""The catalog: clinics, the services they sell and the providers who offer them, as booking stores them.

Deleted rows stay in their tables for history but read as "no such resource"; these objects are the live ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

ItemT = TypeVar("ItemT")
PageKey = tuple[str, uuid.UUID]  # the sort key and id of the last item seen


@dataclass(frozen=True)
class Clinic:
    """A place where providers work; its time zone is the default of the providers created there."""

    id: uuid.UUID
    name: str
    timezone: str
    address: str | None
    created_at: datetime


@dataclass(frozen=True)
class Service:
    """What a client books: a duration, a price and the cancellation policy (its stored JSON form)."""

    id: uuid.UUID
    name: str
    duration_minutes: int
    price_cents: int
    currency: str
    cancellation_policy: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class NewService:
    """A service to create."""

    name: str
    duration_minutes: int
    price_cents: int
    currency: str
    cancellation_policy: dict[str, Any]


@dataclass(frozen=True)
class Provider:
    """A person at a clinic offering services, with their own IANA time zone."""

    id: uuid.UUID
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    display_name: str
    timezone: str
    created_at: datetime
    service_ids: list[uuid.UUID]


@dataclass(frozen=True)
class NewProvider:
    """A provider to create; with no zone of its own it takes the clinic's."""

    user_id: uuid.UUID
    clinic_id: uuid.UUID
    display_name: str
    service_ids: list[uuid.UUID]
    timezone: str | None = None

    @property
    def offered(self) -> list[uuid.UUID]:
        """The services offered, each once, in the order given."""
        return list(dict.fromkeys(self.service_ids))


@dataclass(frozen=True)
class PageRequest:
    """At most `limit` items, after the `(sort key, id)` of the last item already seen."""

    limit: int
    after: PageKey | None = None


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """One page of items; `last` is the key to continue after, or None on the last page."""

    items: list[ItemT]
    last: PageKey | None


@dataclass(frozen=True)
class RetiredSlot:
    """A future open slot taken out of the schedule because its provider or service was deleted."""

    provider_id: uuid.UUID
    service_id: uuid.UUID


def retired_by_provider(retired: Iterable[RetiredSlot]) -> dict[uuid.UUID, list[RetiredSlot]]:
    """The retired slots grouped by provider, in the order first seen."""
    groups: dict[uuid.UUID, list[RetiredSlot]] = {}
    for slot in retired:
        groups.setdefault(slot.provider_id, []).append(slot)
    return groups
