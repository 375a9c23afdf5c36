"""Booking's internal endpoints as the waitlist uses them: hold a slot for a client, hand a slot back to the public.

Every call has a whole-call timeout and carries a fixed system identity, because booking scopes Idempotency-Keys to
the caller: a hold re-sent with the same key by any waitlist process replays booking's first answer. The identity is
signed with the deployment's identity key for each call, as the gateway signs what it forwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

import aiohttp
import orjson
from yarl import URL

from smartslot_common.http.identity import ROLE_HEADER, USER_ID_HEADER, IdentityKey
from smartslot_common.logging import get_logger
from smartslot_common.tracing import trace_headers

log = get_logger(__name__)
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Verdict(Enum):
    """What booking's answer to a hold means for the offer."""

    HELD = "held"  # the client holds the seat now
    BUSY = "busy"  # 409 slot_held / slot_unavailable: perhaps brief; try again soon with a new key, then give up
    GONE = "gone"  # the seat is not to be had (taken, deleted, started): final
    LATER = "later"  # no final answer (timeout, 5xx, still in flight): re-send the same key later


# A bare 404 `not_found` is a wrong route (misconfigured URL), not a missing slot: it is retried, never final.
GONE_CODES = frozenset({"slot_not_found", "slot_in_past", "validation_error", "idempotency_mismatch"})
# `slot_unavailable` is final for a taken seat, but booking also answers it when its lazy expiry of the last hold
# lost the row lock to a concurrent expiry (confirm or sweeper) and judged the slot by its stale counters; the seat
# is free a moment later. So it is re-tried like the `slot_held` gate, a few times, before it counts as final.
BUSY_CODES = frozenset({"slot_held", "slot_unavailable"})


def classify(status: int, code: str | None) -> Verdict:
    """Booking's answer to a hold, as a verdict."""
    if status == 201:
        return Verdict.HELD
    if status == 409 and code in BUSY_CODES:
        return Verdict.BUSY
    if status in (404, 409, 410, 422) and code in GONE_CODES:
        return Verdict.GONE
    return Verdict.LATER


@dataclass(frozen=True)
class HoldRequest:
    """Hold `slot_id` for `client_id` for `ttl_seconds`; the body is the same on every re-send."""

    slot_id: uuid.UUID
    client_id: uuid.UUID
    ttl_seconds: int
    client_email: str | None = None
    client_name: str | None = None

    def body(self) -> dict[str, str | int]:
        body: dict[str, str | int] = {
            "slot_id": str(self.slot_id), "client_id": str(self.client_id), "ttl_seconds": self.ttl_seconds,
        }
        if self.client_email:
            body["client_email"] = self.client_email
        if self.client_name:
            body["client_name"] = self.client_name
        return body


@dataclass(frozen=True)
class HoldAnswer:
    """The verdict, booking's error code if any, and the held appointment's id and deadline when held."""

    verdict: Verdict
    code: str | None = None
    appointment_id: uuid.UUID | None = None
    hold_expires_at: datetime | None = None


class BookingPort(Protocol):
    """What the waitlist needs of booking."""

    async def hold(self, request: HoldRequest, key: str) -> HoldAnswer: ...

    async def release_reservation(self, slot_id: uuid.UUID) -> bool | None: ...


def _answer(status: int, body: object) -> HoldAnswer:
    code = body.get("code") if isinstance(body, dict) else None
    verdict = classify(status, code)
    if verdict is not Verdict.HELD:
        return HoldAnswer(verdict, code or f"http_{status}")
    assert isinstance(body, dict)
    return HoldAnswer(verdict, None, uuid.UUID(body["id"]), datetime.fromisoformat(body["hold_expires_at"]))


class BookingClient:
    """`BookingPort` over HTTP with one session and a timeout on every call."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, system_user_id: uuid.UUID,
                 key: IdentityKey) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._identity = {USER_ID_HEADER: str(system_user_id), ROLE_HEADER: "system"}
        self._key = key

    def _signed(self, method: str, url: str) -> dict[str, str]:
        """The system identity, signed for this call (its path as it goes on the wire)."""
        return self._key.signed(method, URL(url).raw_path_qs, self._identity)

    async def hold(self, request: HoldRequest, key: str) -> HoldAnswer:
        """Ask booking to hold the slot for the client (origin `waitlist`); never raises."""
        url = self._base + "/internal/v1/holds"
        headers = self._signed("POST", url) | {IDEMPOTENCY_HEADER: key, "Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=orjson.dumps(request.body()),
                                          headers=headers | trace_headers()) as response:
                raw = await response.read()
                body = orjson.loads(raw) if raw and "json" in response.content_type else None
                return _answer(response.status, body)
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError, ValueError) as error:
            log.warning("booking_hold_unanswered", slot_id=str(request.slot_id), error=repr(error))
            return HoldAnswer(Verdict.LATER, type(error).__name__)

    async def release_reservation(self, slot_id: uuid.UUID) -> bool | None:
        """True: handed back now; False: it was not reserved (public already); None: no answer (try again)."""
        url = f"{self._base}/internal/v1/slots/{slot_id}/release-reservation"
        try:
            async with self._session.post(url, headers=self._signed("POST", url) | trace_headers()) as response:
                await response.read()
                if response.status in (204, 404):
                    return response.status == 204
                log.warning("booking_release_refused", slot_id=str(slot_id), status=response.status)
                return None
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("booking_release_unanswered", slot_id=str(slot_id), error=repr(error))
            return None
