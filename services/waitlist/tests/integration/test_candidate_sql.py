"""The repository's candidate query picks exactly the entry the domain's rules pick (matching, order, exclusions)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from smartslot_common.testing import IsolatedStack
from waitlist.adapters.offers import PostgresOfferRepository
from waitlist.domain.matching import next_candidate
from waitlist.domain.model import Entry, FreeSeat, Wish

pytestmark = pytest.mark.integration
ROUNDS = 40


@pytest.fixture
async def connection(stack: IsolatedStack) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(stack.database_url, server_settings={"search_path": "waitlist,public"})
    try:
        yield connection
    finally:
        await connection.close()


def _wish(rng: random.Random, service: uuid.UUID, providers: list, slots: list, base: datetime) -> Wish:
    provider = rng.choice([None, *providers])
    if rng.random() < 0.3:
        return Wish(service, provider, rng.choice(slots))
    start = rng.choice([None, base + timedelta(hours=rng.randint(-3, 3))])
    end = rng.choice([None, base + timedelta(hours=rng.randint(4, 8))])
    return Wish(service, provider, None, start, end)


async def _insert(connection: asyncpg.Connection, entry: Entry) -> None:
    wish = entry.wish
    await connection.execute(
        "INSERT INTO entries (id, client_id, service_id, provider_id, slot_id, window_from, window_to, priority, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        entry.id, entry.client_id, wish.service_id, wish.provider_id, wish.slot_id, wish.window_from, wish.window_to,
        entry.priority, entry.created_at,
    )


async def test_the_candidate_query_agrees_with_the_domain(connection: asyncpg.Connection):
    rng = random.Random(20261121)
    base = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    for _ in range(ROUNDS):
        service, providers, slots = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()], [uuid.uuid4(), uuid.uuid4()]
        clients = [uuid.uuid4() for _ in range(4)]
        joined = base - timedelta(days=2)
        drawn = [
            Entry(uuid.uuid4(), rng.choice(clients), _wish(rng, service, providers, slots, base), rng.randint(-1, 1),
                  joined + timedelta(seconds=rng.choice([number, number + 1])))  # some ties in join time
            for number in range(12)
        ]
        entries = list({(entry.client_id, entry.wish): entry for entry in reversed(drawn)}.values())  # no duplicates
        for entry in entries:
            await _insert(connection, entry)
        seat = FreeSeat(rng.choice(slots), service, rng.choice(providers), base + timedelta(hours=rng.randint(-4, 9)))
        passed_over = [entry.id for entry in rng.sample(entries, rng.randint(0, 4))]

        found = await PostgresOfferRepository(connection).candidate(seat, passed_over)
        expected = next_candidate(entries, seat, passed_over=set(passed_over))
        assert (found.entry_id if found else None) == (expected.id if expected else None)
