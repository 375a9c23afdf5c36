"""What an event makes stale: cached pages of one (service, provider, UTC day), of a provider's service, or all.

Pages are kept per (service, provider) and per (service, every provider), each per UTC day of slot start. A change
to one slot touches the provider's page and the every-provider page of that service and day. A schedule change
names a provider and (usually) its services but no day, so it drops every day of them; an event whose payload cannot
be read drops everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from availability.domain.days import utc_day_of
from smartslot_common.contracts.payloads import AppointmentPayload, Payload, ScheduleChangedPayload, SlotPayload

EVERY_PROVIDER = "all"


@dataclass(frozen=True)
class DayScope:
    """One provider's slots of one service starting on one UTC day."""

    service_id: str
    provider_id: str
    day: date


@dataclass(frozen=True)
class Invalidation:
    """The cache scopes one event makes stale."""

    days: frozenset[DayScope] = field(default_factory=frozenset)
    providers: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (service, provider): every day
    services: frozenset[str] = field(default_factory=frozenset)  # whose "does it exist" answer may have changed
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.days or self.providers or self.services or self.everything)


def merged(invalidations: Iterable[Invalidation]) -> Invalidation:
    """One invalidation making stale everything any of `invalidations` does (for a batch of events)."""
    parts = list(invalidations)
    return Invalidation(
        days=frozenset().union(*(part.days for part in parts)),
        providers=frozenset().union(*(part.providers for part in parts)),
        services=frozenset().union(*(part.services for part in parts)),
        everything=any(part.everything for part in parts),
    )


def for_event(payload: Payload | None) -> Invalidation:
    """The scopes an event with `payload` (its contract model, see `smartslot_common.contracts.parsing`) makes stale;
    everything when its payload could not be read (None)."""
    if payload is None:
        return Invalidation(everything=True)
    if isinstance(payload, AppointmentPayload):
        return _appointment(payload)
    if isinstance(payload, SlotPayload):
        return _slot(payload)
    if isinstance(payload, ScheduleChangedPayload):
        return _schedule_changed(payload)
    return Invalidation()


def _appointment(payload: AppointmentPayload) -> Invalidation:
    service = str(payload.service_id)
    days = {DayScope(service, str(payload.provider_id), utc_day_of(payload.starts_at))}
    if payload.previous is not None:  # a reschedule frees the seat it left
        days.add(DayScope(service, str(payload.previous.provider_id), utc_day_of(payload.previous.starts_at)))
    return Invalidation(days=frozenset(days))


def _slot(payload: SlotPayload) -> Invalidation:
    scope = DayScope(str(payload.service_id), str(payload.provider_id), utc_day_of(payload.starts_at))
    return Invalidation(days=frozenset({scope}))


def _schedule_changed(payload: ScheduleChangedPayload) -> Invalidation:
    if not payload.service_ids:  # which services changed is unknown: any of the provider's could have
        return Invalidation(everything=True)
    services = frozenset(map(str, payload.service_ids))
    provider = str(payload.provider_id)
    return Invalidation(providers=frozenset((service, provider) for service in services), services=services)
