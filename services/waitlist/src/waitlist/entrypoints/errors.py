"""The waitlist's refusals as problem+json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from smartslot_common.http.middleware import Handler
from smartslot_common.http.problems import ProblemError
from waitlist.domain.errors import (
    DuplicateEntry,
    EntryBusy,
    EntryNotFound,
    EntryQuota,
    InvalidWish,
    WaitlistError,
)


def to_problem(error: WaitlistError) -> ProblemError:
    """The HTTP answer to a domain refusal."""
    if isinstance(error, DuplicateEntry):
        extra: dict[str, Any] = {"entry_id": str(error.existing_id)} if error.existing_id else {}
        return ProblemError(409, "conflict", str(error), **extra)
    if isinstance(error, EntryQuota):
        return ProblemError(429, "waitlist_quota", str(error), limit=error.limit)
    if isinstance(error, EntryNotFound):
        return ProblemError(404, "not_found", str(error))
    if isinstance(error, EntryBusy):
        return ProblemError(409, "invalid_transition", str(error))
    if isinstance(error, InvalidWish):
        errors = [{"field": error.field, "message": str(error), "type": "value_error"}]
        return ProblemError(422, "validation_error", "The request is not valid.", errors=errors)
    return ProblemError(409, "conflict", str(error))


@web.middleware
async def domain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Raise domain refusals as problems (the shared `problem_errors` middleware, outside this one, renders them)."""
    try:
        return await handler(request)
    except WaitlistError as error:
        raise to_problem(error) from None
