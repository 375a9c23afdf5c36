"""Pytest fixtures shared by every tier; loaded from the root conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from smartslot_common.testing.isolation import IsolatedStack, isolated_stack


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[IsolatedStack]:
    """This run's own database (all schemas migrated), RabbitMQ vhost and Redis key prefix."""
    async with isolated_stack() as isolated:
        yield isolated
