"""Which searches are answered again from the primary: those whose answer lists a slot the caller held or booked
moments ago, as the gateway names them beside an identity that verifies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from availability.domain.search import MAX_OWN_SLOTS, entry, lists_own_slot, own_slots, select
from availability.entrypoints.http import _own_slots
from smartslot_common.http.identity import IDENTITY_KEY, OWN_SLOTS_HEADER, ROLE_HEADER, USER_ID_HEADER, IdentityKey

KEY = IdentityKey("unit-test-identity-key-0123456789-abcdefghijklmnop")
BOOKED, OTHER = uuid.uuid4(), uuid.uuid4()


def answer_listing(*slot_ids: uuid.UUID) -> bytes:
    """A search's response body, built as a search builds it."""
    starts = datetime.now(UTC) + timedelta(days=1)
    rows = [{"slot_id": slot_id, "provider_id": uuid.uuid4(), "service_id": uuid.uuid4(), "clinic_id": uuid.uuid4(),
             "starts_at": starts, "ends_at": starts + timedelta(minutes=30), "capacity": 1, "remaining": 1,
             "reserved_until": None} for slot_id in slot_ids]
    listed = select([[entry(row) for row in rows]], 0, float("inf"), 0)
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
