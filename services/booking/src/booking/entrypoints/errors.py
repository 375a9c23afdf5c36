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
    except asyncpg.ExclusionViolationError:
        raise ProblemError(409, "slot_overlap", "That would overlap another slot of the provider.") from None
    except (asyncpg.UniqueViolationError, asyncpg.CheckViolationError):
        raise ProblemError(409, "slot_unavailable", "This time slot is no longer available.") from None
