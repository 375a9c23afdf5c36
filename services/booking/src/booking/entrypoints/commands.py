"""Running a state-changing call, with the Idempotency-Key contract of the public API applied to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web

from booking import metrics
from booking.app_keys import POOL
from booking.domain.errors import BookingError
from booking.entrypoints.errors import to_problem
from booking.service_layer import idempotency
from booking.service_layer.unit_of_work import PostgresUnitOfWork, UnitOfWork
from smartslot_common.http import json_response
from smartslot_common.http.identity import Caller
from smartslot_common.http.problems import PROBLEM_CONTENT_TYPE, ProblemError, problem_body

T = TypeVar("T")
UseCase = Callable[[UnitOfWork], Awaitable[T]]
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def _canonical(raw: bytes) -> bytes:
    """The body as compared between two calls: JSON re-encoded with sorted keys, anything else as sent."""
    try:
        return orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS) if raw else b""
    except orjson.JSONDecodeError:
        return raw


def _replay(replay: idempotency.Replay) -> web.Response:
    response = json_response(replay.body, replay.status, headers={REPLAYED_HEADER: "true"})
    if replay.status >= 400:
        response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 1 <= len(key) <= 255:
        raise ProblemError(422, "validation_error", "Idempotency-Key must be 1 to 255 characters.", errors=[
            {"field": IDEMPOTENCY_HEADER, "message": "1 to 255 characters", "type": "string_length"}])
    return key


def unit_of_work(request: web.Request) -> UnitOfWork:
    """The request's unit of work."""
    return PostgresUnitOfWork(request.app[POOL])


async def execute(
    request: web.Request, caller: Caller, status: int, render: Callable[[T], Any], use_case: UseCase[T]
) -> web.Response:
    """Run `use_case` on the request's unit of work and answer `status` with `render(result)`; with an
    Idempotency-Key, exactly once.

    The use case calls `uow.answer(result)` inside the transaction that decides it, so the stored answer commits (or
    rolls back) with the change it describes.
    """
    uow = unit_of_work(request)
    key = _key(request)
    if key is None:
        return json_response(render(await use_case(uow)), status)
    fingerprint = idempotency.fingerprint(request.method, request.path, _canonical(await request.read()))
    outcome = await idempotency.claim(uow, caller.user_id, key, fingerprint)
    if isinstance(outcome, idempotency.Replay):
        metrics.IDEMPOTENT_REPLAYS.inc()
        return _replay(outcome)
    idempotency.store_answer_with(uow, outcome, status, render)
    try:
        result = await use_case(uow)
    except BookingError as error:
        problem = to_problem(error)
        await idempotency.store_answer(uow, outcome, problem.status, problem_body(problem))
        raise problem from None
    except BaseException:
        await idempotency.release(uow, outcome)
        raise
    return json_response(render(result), status)
