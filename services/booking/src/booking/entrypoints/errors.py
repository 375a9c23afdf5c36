"""How domain failures and constraint violations read over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from booking.domain import errors
from smartslot_common.http.problems import ProblemError

STATUS = {
    errors.NotFound: 404,
    errors.SlotNotFound: 404,
    errors.HoldExpired: 410,
    errors.HoldQuota: 429,
    errors.InvalidSchedule: 422,
    errors.IdempotencyMismatch: 422,
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def to_problem(error: errors.BookingError) -> ProblemError:
    """The problem+json a domain error becomes (409 unless listed otherwise)."""
    return ProblemError(STATUS.get(type(error), 409), error.code, error.detail, **error.extra)


@web.middleware
async def domain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Translate domain errors and the database's own refusals (I1 enforced by constraints) into 4xx."""
    try:
        return await handler(request)
    except errors.BookingError as error:
        raise to_problem(error) from None
    except (asyncpg.ExclusionViolationError, asyncpg.UniqueViolationError, asyncpg.CheckViolationError) as error:
        raise constraint_problem(error) from None


# The constraints that stand for invariant I1, and how their refusal reads; any other is a plain conflict.
CONSTRAINTS = {
    "slots_no_overlap": ("slot_overlap", "That would overlap another slot of the provider."),
    "slots_within_capacity": ("slot_unavailable", errors.NO_SEAT_LEFT),
    "appointments_live_client_slot": ("slot_unavailable", "You already have a seat in this slot."),
}


def constraint_problem(error: asyncpg.IntegrityConstraintViolationError) -> ProblemError:
    """A 409 named after the constraint that refused the write."""
    code, detail = CONSTRAINTS.get(error.constraint_name or "", ("conflict", "That conflicts with existing data."))
    return ProblemError(409, code, detail)
