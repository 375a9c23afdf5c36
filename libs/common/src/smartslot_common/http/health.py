"""Liveness and readiness: `/healthz` says the process runs, `/readyz` names what it waits for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from aiohttp import web

from smartslot_common.http.json import json_response

READINESS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe of one dependency; `probe` raises (or times out) when it is down.

    A non-critical dependency that is down is reported as degraded without making the service unready
    (booking, for one, goes on without Redis in database-only mode).
    """

    name: str
    probe: Callable[[web.Application], Awaitable[object]]
    how_to_fix: str = ""
    critical: bool = True


READINESS_CHECKS = web.AppKey("readiness_checks", list[ReadinessCheck])


async def _run_check(app: web.Application, check: ReadinessCheck) -> tuple[ReadinessCheck, str | None]:
    try:
        await asyncio.wait_for(check.probe(app), READINESS_TIMEOUT_SECONDS)
    except Exception as error:  # a probe's failure is the answer, whatever it is
        reason = str(error) or type(error).__name__
        state = "down" if check.critical else "degraded"
        return check, f"{state}: {reason}" + (f" ({check.how_to_fix})" if check.how_to_fix else "")
    return check, None


async def healthz(_: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return json_response({"status": "ok"})


class ReadinessBody(TypedDict):
    status: str
    checks: dict[str, str]  # check name: "ok" or why it failed
    down: NotRequired[list[str]]  # the critical checks that failed


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when every dependency answers, else 503 naming the ones that do not."""
    checks = request.app[READINESS_CHECKS]
    results = await asyncio.gather(*(_run_check(request.app, check) for check in checks))
    down = [check.name for check, reason in results if reason and check.critical]
    body: ReadinessBody = {
        "status": "unavailable" if down else "ready",
        "checks": {check.name: reason or "ok" for check, reason in results},
    }
    if down:
        body["down"] = down
    return json_response(body, status=503 if down else 200)
