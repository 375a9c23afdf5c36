"""Which searches are answered again from the primary: those whose answer lists a slot the caller held or booked
moments ago, as the gateway names them beside an identity that verifies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from availability.domain.search import MAX_OWN_SLOTS, entry, lists_own_slot, own_slots, select, with_own_slots
from availability.entrypoints.http import _own_slots
from smartslot_common.http.identity import IDENTITY_KEY, OWN_SLOTS_HEADER, ROLE_HEADER, USER_ID_HEADER, IdentityKey

KEY = IdentityKey("unit-test-identity-key-0123456789-abcdefghijklmnop")
BOOKED, OTHER = uuid.uuid4(), uuid.uuid4()


STARTS = datetime.now(UTC) + timedelta(days=1)
PROVIDER, SERVICE, CLINIC = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def row(slot_id: uuid.UUID, remaining: int = 1, reserved_until: datetime | None = None,
        starts: datetime = STARTS) -> dict:
    return {"slot_id": slot_id, "provider_id": PROVIDER, "service_id": SERVICE, "clinic_id": CLINIC,
            "starts_at": starts, "ends_at": starts + timedelta(minutes=30), "capacity": 2, "remaining": remaining,
            "reserved_until": reserved_until}


def answer_listing(*slot_ids: uuid.UUID) -> bytes:
    """A search's response body, built as a search builds it."""
    listed = select([[entry(row(slot_id)) for slot_id in slot_ids]], 0, float("inf"), 0)
    return orjson.dumps({"slots": [orjson.Fragment(text) for text in listed]})


def test_the_header_names_slot_ids_as_an_answer_writes_them_and_nothing_else() -> None:
    header = f" {str(BOOKED).upper()},not-a-slot,,{OTHER} ,{BOOKED.hex}"
    assert own_slots(header) == (str(BOOKED).encode(), str(OTHER).encode(), str(BOOKED).encode())
    assert own_slots("") == ()
    assert len(own_slots(",".join(str(uuid.uuid4()) for _ in range(MAX_OWN_SLOTS + 5)))) == MAX_OWN_SLOTS


def test_an_answer_listing_an_own_slot_is_answered_again_and_any_other_is_not() -> None:
    own = own_slots(f"{BOOKED},{uuid.uuid4()}")
    assert lists_own_slot(answer_listing(OTHER, BOOKED), own)
    assert not lists_own_slot(answer_listing(OTHER), own)
    assert not lists_own_slot(answer_listing(), own)
    assert not lists_own_slot(answer_listing(BOOKED), ())


def request(headers: dict[str, str], signed: bool) -> web.Request:
    app = web.Application()
    app[IDENTITY_KEY] = KEY
    path = "/v1/availability?service_id=x"
    if signed:
        headers = KEY.signed("GET", path, headers)
    return make_mocked_request("GET", path, headers=headers, app=app)


def test_the_header_is_believed_only_beside_an_identity_that_verifies() -> None:
    identity = {USER_ID_HEADER: str(uuid.uuid4()), ROLE_HEADER: "client"}
    own = {OWN_SLOTS_HEADER: str(BOOKED)}
    assert _own_slots(request(identity | own, signed=True)) == (str(BOOKED).encode(),)
    assert _own_slots(request(identity | own, signed=False)) == ()
    assert _own_slots(request(own, signed=False)) == ()
    assert _own_slots(request(identity, signed=True)) == ()


def listed(body: bytes) -> dict[str, int]:
    return {item["slot_id"]: item["remaining"] for item in orjson.loads(body)["slots"]}


def test_own_slots_are_listed_as_the_primary_has_them_now_and_every_other_slot_as_the_answer_had_it() -> None:
    taken, shared, untouched = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    body = answer_listing(taken, shared, untouched)
    now = datetime.now(UTC).timestamp()

    patched = with_own_slots(body, {str(taken): None, str(shared): entry(row(shared, remaining=1))}, now)

    assert listed(patched) == {str(shared): 1, str(untouched): 1}
    assert [item["slot_id"] for item in orjson.loads(patched)["slots"]] == [str(shared), str(untouched)]  # in order
    assert with_own_slots(body, {}, now) == body  # nothing of the caller's: byte for byte the same answer


def test_an_own_slot_reserved_for_the_waitlist_or_started_by_now_is_left_out() -> None:
    reserved, started = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    own = {str(reserved): entry(row(reserved, reserved_until=now + timedelta(minutes=5))),
           str(started): entry(row(started, starts=now - timedelta(seconds=1)))}
    assert listed(with_own_slots(answer_listing(reserved, started), own, now.timestamp())) == {}
