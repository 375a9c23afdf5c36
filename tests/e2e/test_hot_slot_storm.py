"""A storm on one slot through the whole stack: exactly one client gets it, every other is told at once that it is
held, and most of them are told by the gateway (booking's refusal given again) without reaching booking at all."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter

import aiohttp
import asyncpg
import pytest

from smartslot_common.api_client import ApiClient

from .builders import on_the_hour, person, practice, slot
from .conftest import RunningStack

pytestmark = pytest.mark.e2e
CLIENTS = 40


async def metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    """The sum of a counter's samples on a service's /metrics."""
    async with session.get(url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


async def test_a_storm_on_one_slot_has_one_winner_and_the_losers_mostly_stop_at_the_gateway(
        api: ApiClient, admin_token: str, db: asyncpg.Connection, running_stack: RunningStack) -> None:
    if running_stack.processes is None:
        pytest.skip("an external stack: its services' metrics are not known here")
    gateway_url = running_stack.processes.services["gateway"].url
    where = await practice(api, admin_token)
    slot_id = await slot(api, admin_token, where, on_the_hour(days=9))
    clients = await asyncio.gather(*(person(api, admin_token) for _ in range(CLIENTS)))

    async with aiohttp.ClientSession() as session:
        before = await metric(session, gateway_url, "smartslot_gateway_claims_refused_here_total")
        answers = await asyncio.gather(*(
            api.call("POST", "/v1/holds", client.token, {"slot_id": slot_id}) for client in clients))
        refused_here = await metric(session, gateway_url, "smartslot_gateway_claims_refused_here_total") - before

    outcomes = Counter((answer.status, answer.code) for answer in answers)
    assert outcomes == Counter({(201, None): 1, (409, "slot_held"): CLIENTS - 1}), outcomes
    assert await db.fetchval("SELECT count(*) FROM booking.appointments WHERE slot_id = $1",
                             uuid.UUID(slot_id)) == 1
    assert await db.fetchval("SELECT held FROM booking.slots WHERE id = $1", uuid.UUID(slot_id)) == 1
    # The winner and (at least) the first loser reached booking; the first loser's refusal taught the gateway.
    assert 1 <= refused_here <= CLIENTS - 2, refused_here
    assert refused_here >= CLIENTS // 2, "most losers waited for the claim at booking and were refused here"
