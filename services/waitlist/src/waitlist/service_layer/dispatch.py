"""After the commit: the calls to booking that decisions asked for, and the decision each answer leads to.

Nothing here is needed for correctness after a crash: a `requesting` offer or a `returning` seat stays in the
database until its call is answered, and the sweeper re-sends it (same Idempotency-Key) once the sender's lease ran
out. Here is only the fast path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from smartslot_common.db import Connection
from smartslot_common.logging import get_logger
from smartslot_common.unit_of_work import in_transaction
from waitlist.adapters import offers as repo
from waitlist.adapters import seats
from waitlist.adapters.booking import BookingPort, HoldAnswer, HoldRequest, Verdict
from waitlist.domain.offers import idempotency_key
from waitlist.service_layer import offering
from waitlist.service_layer.followups import Followup, Policy, ReturnSlot, SendHold
from waitlist.settings import WaitlistSettings

log = get_logger(__name__)


class Offerer:
    """Runs follow-ups: holds for offers being made, hand-backs of finished slots."""

    def __init__(self, pool: asyncpg.Pool, booking: BookingPort, settings: WaitlistSettings) -> None:
        self._pool = pool
        self._booking = booking
        self._settings = settings
        self.policy = Policy(settings.offer_ttl_seconds, settings.request_lease_seconds, settings.recheck_seconds)

    def after_commit(self, followups: Sequence[Followup]) -> Callable[[], Awaitable[None]] | None:
        """The consumer's after-commit action for these follow-ups (None when there are none)."""
        if not followups:
            return None
        return lambda: self.run(followups)

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
            offer = await repo.requested(self._pool, offer_id)
            if offer is None:
                return  # settled meanwhile
            answer = await self._booking.hold(_request(offer), idempotency_key(offer_id, offer["attempt"]))
            if answer.verdict is Verdict.LATER:
                log.info("hold_request_unanswered", offer_id=str(offer_id), code=answer.code)
                return  # the same key is re-sent once the lease runs out
            if answer.verdict is Verdict.BUSY and offer["attempt"] <= self._settings.busy_retries:
                if not await self._next_attempt(offer):
                    return
                await asyncio.sleep(self._settings.busy_retry_delay_seconds * offer["attempt"])
                continue
            break
        await self.run(await in_transaction(self._pool, lambda connection: self._settle(connection, offer, answer)))

    async def _next_attempt(self, offer: asyncpg.Record) -> bool:
        lease = self._settings.request_lease_seconds
        return await in_transaction(
            self._pool, lambda connection: repo.bump_attempt(connection, offer["id"], offer["attempt"], lease)
        )

    async def _settle(
        self, connection: Connection, offer: asyncpg.Record, answer: HoldAnswer
    ) -> list[Followup]:
        if answer.verdict is Verdict.HELD:
            assert answer.appointment_id is not None
            assert answer.hold_expires_at is not None
            return await offering.hold_granted(
                connection, self.policy, offer, answer.appointment_id, answer.hold_expires_at
            )
        return await offering.hold_refused(connection, self.policy, offer, answer.code or "refused")

    async def return_slot(self, followup: ReturnSlot) -> None:
        """Booking ends the slot's reservation for the waitlist (404: it was public already)."""
        if await self._booking.release_reservation(followup.slot_id) is None:
            return  # no answer: the sweeper tries again once the lease runs out
        await in_transaction(self._pool, lambda connection: seats.seat_returned(connection, followup.seat_id))


def _request(offer: asyncpg.Record) -> HoldRequest:
    return HoldRequest(offer["slot_id"], offer["client_id"], offer["ttl_seconds"], offer["client_email"],
                       offer["client_name"])
