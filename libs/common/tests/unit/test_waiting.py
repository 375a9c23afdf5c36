"""wait_for: how tests wait on asynchronous effects, with a deadline and a message that says what never came."""

from __future__ import annotations

import pytest

from smartslot_common.testing import wait_for


async def test_returns_the_first_truthy_value_of_the_probe() -> None:
    calls: list[int] = []

    async def probe() -> list[int] | None:
        calls.append(len(calls))
        return calls[:] if len(calls) == 3 else None

    assert await wait_for(probe, timeout=5, interval=0) == [0, 1, 2]
    assert len(calls) == 3  # stops polling once the condition holds


async def test_a_condition_already_true_is_returned_without_waiting() -> None:
    async def probe() -> str:
        return "ready"

    assert await wait_for(probe, timeout=0) == "ready"


async def test_after_the_deadline_it_fails_naming_what_it_waited_for_and_the_last_value() -> None:
    async def probe() -> int:
        return 0

    with pytest.raises(AssertionError, match=r"timed out after 0.05s waiting for the hold to expire \(last value: 0\)"):
        await wait_for(probe, timeout=0.05, interval=0.01, what="the hold to expire")


async def test_an_error_in_the_probe_is_not_swallowed() -> None:
    async def probe() -> bool:
        raise LookupError("no such slot")

    with pytest.raises(LookupError, match="no such slot"):
        await wait_for(probe, timeout=5)
