"""`GET /v1/admin/health`: every service's `/readyz`, asked at once with a short timeout, and the dependencies their
checks report, aggregated (the worst report of a dependency wins)."""

from __future__ import annotations

import asyncio
import time
from operator import methodcaller
from typing import Any

import aiohttp
from aiohttp import web

from gateway.app_keys import HTTP, SETTINGS
from gateway.entrypoints.auth import require_that
from gateway.settings import UPSTREAM_NAMES
from smartslot_common.http import json_response
from smartslot_common.http.health import READINESS_CHECKS, ReadinessCheck

DEPENDENCIES = ("postgres", "redis", "rabbitmq")
SEVERITY = {"ok": 0, "unknown": 1, "degraded": 2, "down": 3}
routes = web.RouteTableDef()


def _state(report: str) -> str:
    """A readiness check's report ("ok", "degraded: ...", "down: ...") as one word."""
    return report.split(":", 1)[0] if report.split(":", 1)[0] in SEVERITY else "down"


async def _ask(session: aiohttp.ClientSession, url: str, timeout: float) -> tuple[str, dict[str, str], float]:
    """(status, checks, latency in ms) of one service's `/readyz`; `down` with no checks if it does not answer."""
    started = time.perf_counter()
    try:
        async with session.get(url + "/readyz", timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.json(content_type=None)
            checks = {str(name): str(report) for name, report in (body.get("checks") or {}).items()}
            status = "ok" if response.status == 200 else "down"
    except (TimeoutError, aiohttp.ClientError, ValueError, AttributeError):
        status, checks = "down", {}
    latency = round((time.perf_counter() - started) * 1000, 1)
    if status == "ok" and any(_state(report) != "ok" for report in checks.values()):
        status = "degraded"
    return status, checks, latency


async def _report(app: web.Application, check: ReadinessCheck, timeout: float) -> str:
    try:
        await asyncio.wait_for(check.probe(app), timeout)
    except Exception as error:  # a probe's failure is the report, whatever it is
        return f"{'down' if check.critical else 'degraded'}: {error or type(error).__name__}"
    return "ok"


async def _own(app: web.Application, timeout: float) -> tuple[str, dict[str, str], float]:
    """The gateway's own readiness, measured the same way."""
    started = time.perf_counter()
    checks: list[ReadinessCheck] = app[READINESS_CHECKS]
    reported = await asyncio.gather(*(_report(app, check, timeout) for check in checks))
    reports = {check.name: report for check, report in zip(checks, reported, strict=True)}
    worst = max((SEVERITY[_state(report)] for report in reports.values()), default=0)
    status = {0: "ok", 2: "degraded", 3: "down"}.get(worst, "degraded")
    return status, reports, round((time.perf_counter() - started) * 1000, 1)


def aggregate(answers: dict[str, tuple[str, dict[str, str], float]]) -> dict[str, Any]:
    """The health document from each service's (status, checks, latency)."""
    dependencies = dict.fromkeys(DEPENDENCIES, "unknown")
    for _, checks, _ in answers.values():
        for name, report in checks.items():
            if name in dependencies:
                known = dependencies[name] if dependencies[name] != "unknown" else "ok"
                dependencies[name] = max(known, _state(report), key=SEVERITY.__getitem__)
    services = {name: {"status": status, "latency_ms": latency} for name, (status, _, latency) in answers.items()}
    states = [entry["status"] for entry in services.values()] + list(dependencies.values())
    overall = "ok" if all(state == "ok" for state in states) else "degraded"
    return {"status": overall, "services": services, "dependencies": dependencies}


@routes.get("/v1/admin/health")
async def admin_health(request: web.Request) -> web.Response:
    """Services and dependencies as the admin sees them; always `200` when the gateway itself can answer."""
    await require_that(request, methodcaller("can_see_operations"))
    settings, session = request.app[SETTINGS], request.app[HTTP]
    names = list(UPSTREAM_NAMES)
    asked = await asyncio.gather(
        _own(request.app, settings.health_timeout_seconds),
        *(_ask(session, settings.url_for(name), settings.health_timeout_seconds) for name in names),
    )
    return json_response(aggregate(dict(zip(["gateway", *names], asked, strict=True))))
