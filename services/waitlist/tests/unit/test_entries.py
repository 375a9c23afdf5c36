"""Joining, listing and leaving the waitlist through the service layer on fakes; and the unit of work's follow-ups."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest

from smartslot_common.contracts.events import WAITLIST_JOINED
from smartslot_common.http.identity import Caller
from waitlist.domain.commands import Followup, ReturnSlot
from waitlist.domain.errors import DuplicateEntry, EntryBusy, EntryNotFound, EntryQuota, InvalidWish
from waitlist.domain.seats import Release
from waitlist.domain.states import EntryState
from waitlist.service_layer import entries, offering
from waitlist.service_layer.unit_of_work import UnitOfWork

from .fakes import FakeUnitOfWork, World


def client(user_id: uuid.UUID | None = None) -> Caller:
    return Caller(user_id or uuid.uuid4(), "client", "ana@example.com", "Ana")


async def test_joining_writes_a_waiting_entry_with_its_place_and_announces_it():
    world = World()
    ahead = world.store.add_entry(world.wish())

    view = await entries.join(world.uow(), client(), world.wish(), max_live=5)

    assert (view.entry.state, view.position, view.client_email) == (EntryState.WAITING, 2, "ana@example.com")
    assert view.entry.id in world.store.entries
    (event,) = world.store.outbox
    assert event.type == WAITLIST_JOINED
    assert (event.payload["position"], event.payload["service_id"]) == (2, str(world.service_id))
    assert set(event.payload) == {"entry_id", "client_id", "service_id", "provider_id", "slot_id", "from", "to",
                                  "position", "client_email", "client_name"}
    assert ahead.id != view.entry.id


async def test_the_same_live_wish_twice_the_cap_and_an_impossible_wish_are_refused_and_write_nothing():
    world = World()
    who = client()
    first = await entries.join(world.uow(), who, world.wish(), max_live=2)

    with pytest.raises(DuplicateEntry) as duplicate:
        await entries.join(world.uow(), who, world.wish(), max_live=2)
    assert duplicate.value.existing_id == first.entry.id
    await entries.join(world.uow(), who, world.wish(provider_id=uuid.uuid4()), max_live=2)
    with pytest.raises(EntryQuota):
        await entries.join(world.uow(), who, world.wish(slot_id=uuid.uuid4()), max_live=2)
    with pytest.raises(InvalidWish):
        await entries.join(world.uow(), client(), world.wish(window_to=world.store.now - timedelta(1)), max_live=2)
    assert len(world.store.entries) == 2
    assert len(world.store.outbox) == 2


async def test_a_client_lists_their_own_entries_in_join_order_a_page_at_a_time():
    world = World()
    who = client()
    mine = [await entries.join(world.uow(), who, world.wish(provider_id=uuid.uuid4()), 5) for _ in range(3)]
    await entries.join(world.uow(), client(), world.wish(), 5)

    page, more = await entries.list_entries(world.uow(), who, entries.Listing(None, None, 2))
    last = page[-1].entry
    rest, no_more = await entries.list_entries(world.uow(), who, entries.Listing(None, (last.created_at, last.id), 2))

    assert [view.entry.id for view in [*page, *rest]] == [view.entry.id for view in mine]
    assert (more, no_more) == (True, False)


async def test_leaving_cancels_a_waiting_entry_and_only_its_own_client_may():
    world = World()
    who = client()
    view = await entries.join(world.uow(), who, world.wish(), 5)

    with pytest.raises(EntryNotFound):
        await entries.leave(world.uow(), client(), view.entry.id)
    await entries.leave(world.uow(), who, view.entry.id)
    await entries.leave(world.uow(), who, view.entry.id)  # a finished entry stays as it is

    assert world.store.entry(view.entry.id).state is EntryState.CANCELLED


async def test_an_entry_with_an_offer_being_made_or_open_cannot_be_left():
    world = World()
    who = client()
    view = await entries.join(world.uow(), who, world.wish(), 5)
    release = world.release()

    await world.uow(_dropped).run(lambda uow: _request_only(uow, world, release))
    with pytest.raises(EntryBusy, match="being offered"):
        await entries.leave(world.uow(), who, view.entry.id)

    world.store.tick(16)
    await world.sweep()  # the request re-sent once its sender's lease ran out: the hold is made
    with pytest.raises(EntryBusy, match="held for you"):
        await entries.leave(world.uow(), who, view.entry.id)


async def _request_only(uow: UnitOfWork, world: World, release: Release) -> None:
    """The decision to offer a seat, without running its follow-ups (the request stays in flight)."""
    await offering.seat_released(uow, world.policy, release)


async def test_follow_ups_run_only_after_the_commit_and_never_after_a_failure():
    world = World()
    dispatched: list[Sequence[Followup]] = []

    async def dispatch(followups: Sequence[Followup]) -> None:
        assert world.store.commits == 1  # the decision is visible before booking is called
        dispatched.append(list(followups))

    async def decides(uow: UnitOfWork) -> None:
        uow.follow_up(ReturnSlot(uuid.uuid4(), uuid.uuid4()))
        uow.follow_up(ReturnSlot(uuid.uuid4(), uuid.uuid4()))

    async def fails(uow: UnitOfWork) -> None:
        uow.follow_up(ReturnSlot(uuid.uuid4(), uuid.uuid4()))
        raise EntryNotFound("refused")

    await world.uow(dispatch).run(decides)
    with pytest.raises(EntryNotFound):
        await world.uow(dispatch).run(fails)

    assert [len(batch) for batch in dispatched] == [2]


async def _dropped(followups: Sequence[Followup]) -> None:
    """A dispatcher that loses the follow-ups (the process died right after the commit)."""


async def test_a_unit_of_work_without_a_dispatcher_refuses_follow_ups():
    async def decides(uow: UnitOfWork) -> None:
        uow.follow_up(ReturnSlot(uuid.uuid4(), uuid.uuid4()))

    with pytest.raises(RuntimeError, match="dispatcher"):
        await FakeUnitOfWork(World().store).run(decides)
