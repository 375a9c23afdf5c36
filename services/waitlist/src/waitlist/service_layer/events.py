"""The events the waitlist publishes, built inside the transaction that makes the change they report (the unit of
work writes them to the outbox with its commit)."""

from __future__ import annotations

from smartslot_common.contracts.events import WAITLIST_JOINED
from smartslot_common.contracts.payloads import WaitlistJoinedPayload, WaitlistOfferPayload
from smartslot_common.messaging import Event
from waitlist.domain.model import EntryView

PRODUCER = "waitlist"


def offer_event(kind: str, payload: WaitlistOfferPayload) -> Event:
    """`waitlist.offer_made|offer_expired|offer_accepted` for one offer, with the slot's names and zone if known."""
    return Event.create(kind, payload.to_wire(), PRODUCER)


def joined_event(view: EntryView) -> Event:
    """`waitlist.joined`: who waits for what, and where they stand."""
    entry, wish = view.entry, view.entry.wish
    payload = WaitlistJoinedPayload(
        entry_id=entry.id, client_id=entry.client_id, service_id=wish.service_id, provider_id=wish.provider_id,
        slot_id=wish.slot_id, window_from=wish.window_from, window_to=wish.window_to, position=view.position,
        client_email=view.client_email, client_name=view.client_name,
    )
    return Event.create(WAITLIST_JOINED, payload.to_wire(), PRODUCER)
