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
from smartslot_common.db import Connection
from smartslot_common.http import json_response
from smartslot_common.http.identity import Caller
from smartslot_common.http.problems import PROBLEM_CONTENT_TYPE, ProblemError, problem_body

T = TypeVar("T")
OnCommit = Callable[[Connection, Any], Awaitable[None]]
UseCase = Callable[[OnCommit | None], Awaitable[T]]
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


async def execute(
    request: web.Request, caller: Caller, status: int, render: Callable[[T], Any], use_case: UseCase[T]
) -> web.Response:
    """Run `use_case` and answer `status` with `render(result)`; with an Idempotency-Key, exactly once.

    `use_case(on_commit)` must call `on_commit(connection, result)` inside its own transaction, so the stored answer
    commits (or rolls back) with the change it describes.
    """
    key = _key(request)
    if key is None:
        return json_response(render(await use_case(None)), status)
    pool = request.app[POOL]
    fingerprint = idempotency.fingerprint(request.method, request.path, _canonical(await request.read()))
    outcome = await idempotency.claim(pool, caller.user_id, key, fingerprint)
    if isinstance(outcome, idempotency.Replay):
        metrics.IDEMPOTENT_REPLAYS.inc()
        return _replay(outcome)

    async def on_commit(connection: Connection, result: Any) -> None:
        await idempotency.complete(connection, outcome, status, render(result))

    try:
        result = await use_case(on_commit)
    except BookingError as error:
        problem = to_problem(error)
        async with pool.acquire() as connection:
            await idempotency.complete(connection, outcome, problem.status, problem_body(problem))
        raise problem from None
    except BaseException:
        await idempotency.release(pool, outcome)
        raise
    return json_response(render(result), status)
