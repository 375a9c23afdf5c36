"""Test helpers: an isolated slice of the real servers per run, and waiting on conditions with deadlines."""

from smartslot_common.testing.isolation import IsolatedStack, isolated_stack
from smartslot_common.testing.waiting import wait_for

__all__ = ["IsolatedStack", "isolated_stack", "wait_for"]
