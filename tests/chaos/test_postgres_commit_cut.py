"""(1) booking's PostgreSQL connection cut between the booking's last statement and its COMMIT.

booking reaches PostgreSQL through a proxy that watches one booking's transaction: once the connection has sent the
booking's writes (its outbox row names the slot), the next COMMIT on it meets a reset. Twice: once the COMMIT never
reaches PostgreSQL (the transaction is rolled back), once it does and only its answer is lost (the transaction is
committed, booking cannot know). Either way the client is told an error (503) or the stored result, never a 500;
its retry with the same Idempotency-Key converges on one appointment (a new one, or the stored one replayed); no
appointment lacks its outbox row; the confirmation is published and emailed once."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from booking import invariants
from smartslot_common.testing.faults import CHUNK, TcpProxy, _Link

from .harness import (  # _target, _via: the harness's URL helpers, for booking's proxy of our own
    Recorder,
    _target,
    _via,
    assert_each_confirmation_published_and_emailed_once,
    assert_no_double_booking_and_no_lost_answer,
    chaos_stack,
    client_accounts,
    slots,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]
COMMIT = b"COMMIT"  # asyncpg ends a transaction with the simple query "COMMIT;"


class CommitCutter(TcpProxy):
    """A proxy that cuts one connection at its COMMIT, once that connection has sent `arm`'s marker.

    With `deliver=False` the COMMIT is dropped and the connection reset: PostgreSQL rolls the transaction back. With
    `deliver=True` the COMMIT goes through and the connection is reset when PostgreSQL answers it: committed, and
    the client never hears so."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(0, target_host, target_port)
        self._marker: bytes | None = None
        self._deliver = False
        self._watching: dict[_Link, str] = {}  # link -> "written" (marker seen) or "committing" (COMMIT forwarded)
        self.cuts = 0

    def arm(self, marker: bytes, deliver: bool) -> None:
        self._marker, self._deliver = marker, deliver

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, answer: bool
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                stage = self._watching.get(link)
                if answer and stage == "committing":  # PostgreSQL's answer to the COMMIT: lost
                    self._cut(link)
                    return
                if not answer and stage is None and self._marker is not None and self._marker in data:
                    self._marker = None  # once
                    self._watching[link] = "written"
                elif not answer and stage == "written" and COMMIT in data:
                    if not self._deliver:
                        self._cut(link)
                        return
                    self._watching[link] = "committing"
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            link.reset()

    def _cut(self, link: _Link) -> None:
        self._watching.pop(link, None)
        self.cuts += 1
        link.reset()


async def test_1_a_connection_cut_at_commit_answers_an_error_and_the_keyed_retry_converges() -> None:
    async with chaos_stack() as chaos:
        # booking alone sees PostgreSQL through the cutter (the harness's proxies cannot watch a transaction).
        booking = chaos.services
        database_url = booking.env_for("booking")["SMARTSLOT_DATABASE_URL"]
        async with CommitCutter(*_target(database_url)) as cutter:
            booking.overrides.setdefault("booking", {})["SMARTSLOT_DATABASE_URL"] = _via(database_url, cutter.port)
            booking.stop("booking")
            await chaos.restart("booking")
            await _scenario(chaos, cutter)


async def _scenario(chaos, cutter: CommitCutter) -> None:
    client, other = await client_accounts(chaos.api, 2)
    rolled_back_slot, committed_slot, later_slot = await slots(chaos.api, chaos.admin, 3)
    recorder = Recorder()

    async def book(slot_id: str, key: str, token: str = client.token):
        answer = await recorder.call(chaos.api, "POST", "/v1/appointments", token, {"slot_id": slot_id},
                                     {"Idempotency-Key": key})
        assert answer is not None, recorder.answers[-1]
        return answer

    async def appointments(slot_id: str) -> list[tuple[str, str]]:
        rows = await chaos.db.fetch("SELECT id, status FROM booking.appointments WHERE slot_id = $1::uuid", slot_id)
        return [(str(row["id"]), row["status"]) for row in rows]

    # The COMMIT never reaches PostgreSQL: nothing was stored, the client is told to try again.
    key = str(uuid.uuid4())
    cutter.arm(rolled_back_slot.encode(), deliver=False)
    recorder.fault_opens()
    lost = await book(rolled_back_slot, key)
    recorder.fault_closes()
    assert cutter.cuts == 1
    assert (lost.status, lost.code) == (503, "upstream_unavailable"), lost
    assert await appointments(rolled_back_slot) == []
    retried = await book(rolled_back_slot, key)
    assert retried.status == 201, retried
    assert retried.headers.get("Idempotent-Replayed") != "true", retried.headers
    assert await appointments(rolled_back_slot) == [(retried.body["id"], "confirmed")]

    # The COMMIT reaches PostgreSQL, its answer does not: stored, and the retry replays what was stored.
    key = str(uuid.uuid4())
    cutter.arm(committed_slot.encode(), deliver=True)
    recorder.fault_opens()
    unanswered = await book(committed_slot, key)
    recorder.fault_closes()
    assert cutter.cuts == 2
    assert (unanswered.status, unanswered.code) == (503, "upstream_unavailable"), unanswered
    [(stored_id, status)] = await appointments(committed_slot)
    assert status == "confirmed"
    replayed = await book(committed_slot, key)
    assert (replayed.status, replayed.body["id"]) == (201, stored_id), replayed
    assert replayed.headers.get("Idempotent-Replayed") == "true", replayed.headers
    refused = await book(committed_slot, str(uuid.uuid4()), other.token)  # the slot is taken: stored means taken
    assert refused.status == 409, refused

    # booking goes on over its new connections; nothing is half-written.
    later = await book(later_slot, str(uuid.uuid4()))
    assert later.status == 201, later
    assert await invariants.appointments_without_event(chaos.db) == 0
    assert recorder.statuses().keys() <= {201, 409, 503}, recorder.statuses()
    await assert_no_double_booking_and_no_lost_answer(chaos, recorder)
    await assert_each_confirmation_published_and_emailed_once(
        chaos, [retried.body["id"], stored_id, later.body["id"]])
