"""Idempotency-Key: the same key and body replay the first answer; another body is refused; a retry while the first
call still runs is told so. Keys are scoped to the caller and kept 24 hours.

The key is claimed in its own short transaction *before* any work (and before the slot lock, so a replay never
competes for the slot); the answer is stored by an answer hook on the unit of work, inside the business transaction
itself, so a committed booking and its stored answer can never disagree. A claim whose request died without an
answer is taken over once it is older than `STALE_AFTER_SECONDS`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from booking.adapters.idempotency import STALE_AFTER_SECONDS
from booking.domain.errors import IdempotencyInFlight, IdempotencyMismatch
from booking.service_layer.unit_of_work import UnitOfWork

__all__ = ["STALE_AFTER_SECONDS", "Claim", "Replay", "claim", "fingerprint", "release", "store_answer",
           "store_answer_with"]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same request' for one key."""
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), body))).hexdigest()


@dataclass(frozen=True)
class Replay:
    """The stored answer of an earlier call with this key."""

    status: int
    body: Any


@dataclass(frozen=True)
class Claim:
    """A key this request now owns; its answer is stored with `store_answer_with` or `store_answer`."""

    caller_id: uuid.UUID
    key: str


async def claim(uow: UnitOfWork, caller_id: uuid.UUID, key: str, request_fingerprint: str) -> Claim | Replay:
    """Own the key for this request, or get the earlier answer; mismatch and in-flight calls are refused."""
    stored = await uow.run(lambda uow: uow.idempotency.claim(caller_id, key, request_fingerprint))
    if stored is None:
        return Claim(caller_id, key)
    if stored.request_fingerprint != request_fingerprint:
        raise IdempotencyMismatch("This Idempotency-Key was used with a different request.")
    if stored.state == "in_flight" or stored.response_status is None:
        raise IdempotencyInFlight("A request with this Idempotency-Key is still being processed.")
    return Replay(stored.response_status, stored.response_body)


def store_answer_with(uow: UnitOfWork, owned: Claim, status: int, render: Callable[[Any], Any]) -> None:
    """Store `status` and the rendered result as the key's answer, in the transaction whose outcome it reports."""

    async def store(uow: UnitOfWork, result: Any) -> None:
        await uow.idempotency.store_answer(owned.caller_id, owned.key, status, render(result))

    uow.on_answer(store)


async def store_answer(uow: UnitOfWork, owned: Claim, status: int, body: Any) -> None:
    """Store an answer by itself: a refusal, after the transaction that decided it rolled back (or committed)."""
    await uow.run(lambda uow: uow.idempotency.store_answer(owned.caller_id, owned.key, status, body),
                  transaction=False)


async def release(uow: UnitOfWork, owned: Claim) -> None:
    """Give the key back after a failure that answered nothing final (a fault), so a retry can run."""
    await uow.run(lambda uow: uow.idempotency.release(owned.caller_id, owned.key), transaction=False)
