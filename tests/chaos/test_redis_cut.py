"""(a) Redis cut during a hot-slot storm: booking's Redis sits behind a proxy that is cut mid-storm. Exactly one
client wins the slot, every other one is told 409, nothing answers 5xx, and bookings go on in database-only mode."""

from __future__ import annotations

import asyncio

import pytest

from smartslot_common.testing import wait_for

from .harness import (
    Recorder,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    clients,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_fast]
STORM = 40


async def test_a_redis_cut_mid_storm_leaves_one_winner_and_bookings_go_on_without_redis() -> None:
    async with chaos_stack(proxied={"redis": ("booking",)}) as chaos:
        tokens = await clients(chaos.api, 8)
        hot, *others = await slots(chaos.api, chaos.admin, 5)
        recorder = Recorder()

        storm = asyncio.gather(*(
            recorder.call(chaos.api, "POST", "/v1/holds", tokens[i % len(tokens)], {"slot_id": hot})
            for i in range(STORM)))

        async def first_answers() -> bool:
            return len(recorder.answers) >= 3

        await wait_for(first_answers, 30, interval=0.005, what="the storm's first answers")
        recorder.fault_opens()
        await chaos.proxies["redis"].cut()
        await storm
        recorder.fault_closes()

        statuses = recorder.statuses()
        assert statuses[201] == 1, statuses
        # A request caught at the instant of the cut sees redis-py fail mid-command; it must fall back to the
        # database, never answer 5xx.
        assert statuses[409] == STORM - 1, statuses

        # Redis still gone: bookings go on in database-only mode, and a taken slot is still refused.
        booked = [await recorder.call(chaos.api, "POST", "/v1/appointments", token, {"slot_id": slot})
                  for token, slot in zip(tokens, others, strict=False)]
        assert [answer.status for answer in booked if answer] == [201] * len(others), [
            (answer.status, answer.body) for answer in booked if answer]
        again = await recorder.call(chaos.api, "POST", "/v1/holds", tokens[-1], {"slot_id": others[0]})
        assert again is not None, again
        assert again.status == 409, again

        await chaos.proxies["redis"].restore()
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        assert recorder.statuses().keys() <= {201, 409}, recorder.statuses()  # no 5xx, even during the cut
        await assert_each_confirmation_published_and_emailed_once(chaos, [a.body["id"] for a in booked if a])
