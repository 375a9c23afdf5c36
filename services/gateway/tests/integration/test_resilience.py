"""Routing under failure, against a scripted upstream: GETs are retried within one deadline, changes never are; a
circuit breaker per upstream opens after consecutive failures, answers 503 at once with Retry-After, and lets one
probe through after its cool-down; each upstream has its own deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from smartslot_common.testing import wait_for

pytestmark = pytest.mark.integration


@dataclass
class ScriptedUpstream:
    """Answers with the statuses queued in `script` (then 200); `hang` keeps requests waiting until released."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(f"{request.method} {request.path}")
        if self.hang:
            await self.release.wait()
        status = self.script.pop(0) if self.script else 200
        return web.json_response({"attempt": len(self.calls)}, status=status)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedUpstream]:
    fake = ScriptedUpstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        fake.release.set()
        await server.close()


async def gateway_before(scripted: ScriptedUpstream, extra_gateway: Any, **settings: Any) -> tuple[Any, str]:
    defaults = {"booking_url": scripted.url, "get_retries": 2, "retry_backoff_seconds": 0.01,
                "breaker_failure_threshold": 3, "breaker_cooldown_seconds": 30.0}
    gateway = await extra_gateway(**(defaults | settings))
    _, token = await gateway.new_client()
    return gateway, token


async def test_a_get_is_retried_until_the_upstream_answers(scripted: ScriptedUpstream, extra_gateway: Any) -> None:
    gateway, token = await gateway_before(scripted, extra_gateway)
    scripted.script = [503, 502]
    answer = await gateway.call("GET", "/v1/services", token)
    assert (answer.status, answer.body) == (200, {"attempt": 3})
    assert scripted.calls == ["GET /v1/services"] * 3


async def test_retries_are_bounded(scripted: ScriptedUpstream, extra_gateway: Any) -> None:
    gateway, token = await gateway_before(scripted, extra_gateway, get_retries=1)
    scripted.script = [503, 503, 503]
    answer = await gateway.call("GET", "/v1/services", token)
    assert answer.status == 503
    assert len(scripted.calls) == 2


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/holds", {"slot_id": "x"}), ("PATCH", "/v1/services/s-1", {"name": "x"}),
    ("PUT", "/v1/providers/p-1/working-hours", {"rules": []}), ("DELETE", "/v1/slots/s-1", None),
])
async def test_a_change_is_never_retried(
    scripted: ScriptedUpstream, extra_gateway: Any, method: str, path: str, body: Any
) -> None:
    gateway, _ = await gateway_before(scripted, extra_gateway)
    token = await gateway.token(gateway.admin_email, gateway.admin_password) if method != "POST" else (
        await gateway.new_client())[1]
    scripted.script = [503]
    answer = await gateway.call(method, path, token, json=body)
    assert answer.status == 503
    assert scripted.calls == [f"{method} {path}"], "sent exactly once"


async def test_the_breaker_opens_after_consecutive_failures_and_answers_at_once(
    scripted: ScriptedUpstream, extra_gateway: Any
) -> None:
    gateway, token = await gateway_before(scripted, extra_gateway, get_retries=0, breaker_failure_threshold=3,
                                          breaker_cooldown_seconds=30)
    scripted.script = [503, 503, 503]
    for _ in range(3):
        assert (await gateway.call("GET", "/v1/services", token)).status == 503
    asked = len(scripted.calls)
    started = time.monotonic()
    refused = await gateway.call("GET", "/v1/clinics", token)
    assert (refused.status, refused.code) == (503, "upstream_unavailable")
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert 25 <= int(refused.headers["Retry-After"]) <= 30
    assert time.monotonic() - started < 0.5
    assert len(scripted.calls) == asked, "an open breaker does not ask the upstream"
    other = await gateway.call("GET", "/v1/availability?service_id=x", token)
    assert other.body.get("detail", "").find("availability") >= 0, "other upstreams have breakers of their own"


async def test_after_the_cooldown_one_probe_closes_the_breaker_again(
    scripted: ScriptedUpstream, extra_gateway: Any
) -> None:
    gateway, token = await gateway_before(scripted, extra_gateway, get_retries=0, breaker_failure_threshold=2,
                                          breaker_cooldown_seconds=0.3)
    scripted.script = [503, 503]
    for _ in range(2):
        await gateway.call("GET", "/v1/services", token)
    assert (await gateway.call("GET", "/v1/services", token)).code == "upstream_unavailable"

    async def probed() -> bool:
        return (await gateway.call("GET", "/v1/services", token)).status == 200

    await wait_for(probed, 5, what="the half-open probe to go through and close the breaker")
    assert (await gateway.call("GET", "/v1/services", token)).status == 200


async def test_each_upstream_has_its_own_deadline(scripted: ScriptedUpstream, extra_gateway: Any) -> None:
    gateway, token = await gateway_before(scripted, extra_gateway, booking_timeout_seconds=0.3,
                                          upstream_timeout_seconds=10)
    scripted.hang = True
    started = time.monotonic()
    answer = await gateway.call("GET", "/v1/services", token)
    elapsed = time.monotonic() - started
    assert (answer.status, answer.code) == (503, "upstream_unavailable")
    assert elapsed < 1.5, f"a 0.3 s deadline took {elapsed:.2f}s"
    assert len(scripted.calls) == 1, "a timed-out attempt spent the deadline: no retry"


async def test_an_open_breaker_and_the_calls_it_refused_are_on_metrics(
    scripted: ScriptedUpstream, extra_gateway: Any
) -> None:
    """What UpstreamCircuitBreakerOpen reads: the breaker's state (2 open) and the calls it answered at once."""
    gateway, token = await gateway_before(scripted, extra_gateway, get_retries=0, breaker_failure_threshold=2,
                                          breaker_cooldown_seconds=30)
    scripted.script = [503, 503]
    for _ in range(2):
        await gateway.call("GET", "/v1/services", token)
    before = await gateway.call("GET", "/metrics")
    assert (await gateway.call("GET", "/v1/clinics", token)).code == "upstream_unavailable"
    after = await gateway.call("GET", "/metrics")

    def sample(exposition: str, name: str) -> float:
        families = text_string_to_metric_families(exposition)
        return next(sample.value for family in families for sample in family.samples
                    if sample.name == name and sample.labels.get("upstream") == "booking")

    assert sample(before.body, "smartslot_gateway_breaker_state") == 2
    refused = "smartslot_gateway_breaker_rejections_total"
    assert sample(after.body, refused) == sample(before.body, refused) + 1
