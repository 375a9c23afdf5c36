"""/healthz and /readyz as an orchestrator and an operator read them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartslot_common.http import ReadinessCheck, create_base_app
from smartslot_common.http import health as health_module


async def answers(_: web.Application) -> None:
    """A dependency that is up."""


async def refuses(_: web.Application) -> None:
    raise ConnectionRefusedError("connection refused")


def _client(*checks: ReadinessCheck) -> TestClient:
    return TestClient(TestServer(create_base_app(readiness=checks)))


@pytest.fixture
async def healthy() -> AsyncIterator[TestClient]:
    async with _client(ReadinessCheck("postgres", answers), ReadinessCheck("rabbitmq", answers)) as client:
        yield client


async def test_liveness_answers_200_ok(healthy: TestClient) -> None:
    response = await healthy.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_ready_when_every_probe_passes(healthy: TestClient) -> None:
    response = await healthy.get("/readyz")

    assert response.status == 200
    assert await response.json() == {"status": "ready", "checks": {"postgres": "ok", "rabbitmq": "ok"}}


async def test_a_service_without_dependencies_is_ready() -> None:
    async with _client() as client:
        response = await client.get("/readyz")

        assert (response.status, await response.json()) == (200, {"status": "ready", "checks": {}})


async def test_a_critical_dependency_down_makes_it_503_naming_it_and_how_to_fix_it() -> None:
    checks = (
        ReadinessCheck("postgres", refuses, how_to_fix="start it with `make infra`"),
        ReadinessCheck("rabbitmq", answers),
    )
    async with _client(*checks) as client:
        response = await client.get("/readyz")

        assert response.status == 503
        body = await response.json()
        assert body["status"] == "unavailable"
        assert body["down"] == ["postgres"]
        assert body["checks"] == {
            "postgres": "down: connection refused (start it with `make infra`)",
            "rabbitmq": "ok",
        }


async def test_a_non_critical_dependency_down_shows_degraded_but_stays_ready() -> None:
    checks = (ReadinessCheck("postgres", answers), ReadinessCheck("redis", refuses, critical=False))
    async with _client(*checks) as client:
        response = await client.get("/readyz")

        assert response.status == 200
        body = await response.json()
        assert body["status"] == "ready"
        assert "down" not in body
        assert body["checks"]["redis"] == "degraded: connection refused"


async def test_every_failing_critical_dependency_is_named() -> None:
    async def silent(_: web.Application) -> None:
        raise RuntimeError

    async with _client(ReadinessCheck("postgres", refuses), ReadinessCheck("rabbitmq", silent)) as client:
        body = await (await client.get("/readyz")).json()

        assert sorted(body["down"]) == ["postgres", "rabbitmq"]
        assert body["checks"]["rabbitmq"] == "down: RuntimeError"  # an error without a message is named by type


async def test_a_probe_that_hangs_is_timed_out_and_reported_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_module, "READINESS_TIMEOUT_SECONDS", 0.1)
    abandoned = asyncio.Event()

    async def hangs(_: web.Application) -> None:
        try:
            await asyncio.Event().wait()  # a dependency that never answers
        finally:
            abandoned.set()

    async with _client(ReadinessCheck("rabbitmq", hangs), ReadinessCheck("postgres", answers)) as client:
        response = await client.get("/readyz")

        assert response.status == 503
        body = await response.json()
        assert body["down"] == ["rabbitmq"]
        assert body["checks"] == {"rabbitmq": "down: TimeoutError", "postgres": "ok"}
        assert abandoned.is_set()  # the hung probe was cancelled, not left running
