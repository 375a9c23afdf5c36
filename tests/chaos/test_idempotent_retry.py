"""(f) The answer is lost after commit: the client reaches the gateway through a proxy that forwards the request
and resets the connection when the answer comes back. The retry with the same Idempotency-Key replays the same
appointment, and there is exactly one."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from smartslot_common.api_client import ApiClient
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


async def test_f_a_retry_after_a_lost_answer_replays_the_same_appointment() -> None:
    async with chaos_stack(gateway_proxy=True) as chaos, aiohttp.ClientSession() as session:
        [token] = await clients(chaos.api, 1)
        [slot_id] = await slots(chaos.api, chaos.admin, 1)
        proxy = chaos.proxies["gateway"]
        through_proxy = ApiClient(session, f"http://127.0.0.1:{proxy.port}")
        recorder = Recorder()
        key = {"Idempotency-Key": str(uuid.uuid4())}

        proxy.drop_responses()
        recorder.fault_opens()
        lost = await recorder.call(through_proxy, "POST", "/v1/appointments", token, {"slot_id": slot_id}, key)
        assert lost is None, lost  # the client saw a connection error, not an answer
        assert isinstance(recorder.answers[-1][1], str)

        async def committed() -> int:
            return await chaos.db.fetchval(
                "SELECT count(*) FROM booking.appointments WHERE slot_id = $1::uuid", slot_id)

        await wait_for(committed, 30, what="booking to commit the appointment whose answer was lost")
        await proxy.restore()
        recorder.fault_closes()

        retried = await recorder.call(through_proxy, "POST", "/v1/appointments", token, {"slot_id": slot_id}, key)
        assert retried is not None, retried
        assert retried.status == 201, retried
        assert retried.headers.get("Idempotent-Replayed") == "true"
        stored = await chaos.db.fetch(
            "SELECT id, status FROM booking.appointments WHERE slot_id = $1::uuid", slot_id)
        assert [(str(row["id"]), row["status"]) for row in stored] == [(retried.body["id"], "confirmed")]

        # A different key for the same slot is a new request: refused, and still one appointment.
        other = await recorder.call(through_proxy, "POST", "/v1/appointments", token, {"slot_id": slot_id},
                                    {"Idempotency-Key": str(uuid.uuid4())})
        assert other is not None, other
        assert other.status == 409, other
        await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
        await assert_each_confirmation_published_and_emailed_once(chaos, [retried.body["id"]])
