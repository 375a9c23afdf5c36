"""After the commit: the calls to booking that decisions asked for, and the decision each answer leads to.

Nothing here is needed for correctness after a crash: a `requesting` offer or a `returning` seat stays in the
database until its call is answered, and the sweeper re-sends it (same Idempotency-Key) once the sender's lease ran
out. Here is only the fast path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from smartslot_common.logging import get_logger
from waitlist.adapters.booking import BookingPort, HoldAnswer, HoldRequest, Verdict
from waitlist.domain.commands import Followup, ReturnSlot, SendHold
from waitlist.domain.offers import Offer, idempotency_key
from waitlist.service_layer import offering
from waitlist.service_layer.policy import Policy
from waitlist.service_layer.unit_of_work import Dispatch, UnitOfWork
from waitlist.settings import WaitlistSettings

T = TypeVar("T")
log = get_logger(__name__)
# A new unit of work whose follow-ups go to the given dispatcher.
UnitOfWorkFactory = Callable[[Dispatch], UnitOfWork]


class Offerer:
    """Runs follow-ups: holds for offers being made, hand-backs of finished slots."""

    def __init__(self, new_uow: UnitOfWorkFactory, booking: BookingPort, settings: WaitlistSettings) -> None:
        self._new_uow = new_uow
        self._booking = booking
        self._settings = settings
        self.policy = Policy(settings.offer_ttl_seconds, settings.request_lease_seconds, settings.recheck_seconds)

    def unit_of_work(self, dispatch: Dispatch | None = None) -> UnitOfWork:
        """A unit of work whose follow-ups this offerer runs after its commit (or `dispatch`, if given)."""
        return self._new_uow(dispatch or self.run)

    async def decide(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run `work` in a unit of work of its own; its follow-ups run once it has committed."""
        return await self.unit_of_work().run(work)

    async def run(self, followups: Sequence[Followup]) -> None:
        """Run follow-ups concurrently; a failure is logged and left to the sweeper."""
        if followups:
            await asyncio.gather(*(self._run_one(followup) for followup in followups))

    async def _run_one(self, followup: Followup) -> None:
        try:
            if isinstance(followup, SendHold):
                await self.send_hold(followup.offer_id)
            else:
                await self.return_slot(followup)
        except Exception:  # the row still says what is left to do; the sweeper retries it
            log.exception("followup_failed", followup=repr(followup))

    async def send_hold(self, offer_id: uuid.UUID) -> None:
        """Ask booking to hold the seat for the offer's client; retry a brief refusal with a new key, then decide."""
        while True:
            offer = await self.unit_of_work().run(lambda uow: uow.offers.requested(offer_id), transaction=False)
            if offer is None:
                return  # settled meanwhile
            answer = await self._booking.hold(_request(offer), idempotency_key(offer_id, offer.attempt))
            if answer.verdict is Verdict.LATER:
                log.info("hold_request_unanswered", offer_id=str(offer_id), code=answer.code)
                return  # the same key is re-sent once the lease runs out
            if answer.verdict is Verdict.BUSY and offer.attempt <= self._settings.busy_retries:
                if not await self._next_attempt(offer):
                    return
                await asyncio.sleep(self._settings.busy_retry_delay_seconds * offer.attempt)
                continue
            break
        await self.decide(lambda uow: self._settle(uow, offer, answer))

    async def _next_attempt(self, offer: Offer) -> bool:
        lease = self._settings.request_lease_seconds
        return await self.decide(lambda uow: uow.offers.next_attempt(offer, lease))

    async def _settle(self, uow: UnitOfWork, offer: Offer, answer: HoldAnswer) -> None:
        if answer.verdict is Verdict.HELD:
            assert answer.appointment_id is not None
            assert answer.hold_expires_at is not None
            await offering.hold_granted(uow, self.policy, offer, answer.appointment_id, answer.hold_expires_at)
        else:
            await offering.hold_refused(uow, self.policy, offer, answer.code or "refused")

    async def return_slot(self, followup: ReturnSlot) -> None:
        """Booking ends the slot's reservation for the waitlist (404: it was public already)."""
        if await self._booking.release_reservation(followup.slot_id) is None:
            return  # no answer: the sweeper tries again once the lease runs out
        await self.decide(lambda uow: uow.seats.returned(followup.seat_id))


def _request(offer: Offer) -> HoldRequest:
    return HoldRequest(offer.slot_id, offer.client_id, offer.ttl_seconds, offer.client_email, offer.client_name)
