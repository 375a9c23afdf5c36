"""Pytest fixtures shared by every tier; loaded from the root conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from smartslot_common.testing.identity import ensure_run_key
from smartslot_common.testing.isolation import IsolatedStack, isolated_stack


def pytest_configure(config: pytest.Config) -> None:
    """One identity key for the run, in the environment before any test builds a service's settings."""
    ensure_run_key()


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[IsolatedStack]:
    """This run's own database (all schemas migrated), RabbitMQ vhost and Redis key prefix."""
    async with isolated_stack() as isolated:
        yield isolated
