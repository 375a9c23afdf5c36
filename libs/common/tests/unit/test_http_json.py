"""JSON bodies in and out: what a client gets back for bad input, and how database values are written out."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from asyncpg.pgproto.pgproto import UUID as AsyncpgUUID
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, Field, SecretStr

from smartslot_common.http import create_base_app, json_response, read_json
from smartslot_common.http.json import parse_query

SLOT_ID = uuid.UUID("7d8b2a4e-2f1c-4c35-9a51-0b6f3e9a1c2d")


class Slot(BaseModel):
    starts_at: datetime
    seats: int = Field(ge=1)


class HoldRequest(BaseModel):
    slot: Slot
    note: str = ""


class SearchQuery(BaseModel):
    day: date
    limit: int = 20


class WindowQuery(BaseModel):
    starts_from: AwareDatetime = Field(alias="from")
    to: AwareDatetime


async def hold(request: web.Request) -> web.Response:
    return json_response(await read_json(request, HoldRequest), status=201)


async def search(request: web.Request) -> web.Response:
    return json_response(parse_query(request, SearchQuery))


async def window(request: web.Request) -> web.Response:
    return json_response(parse_query(request, WindowQuery))


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = create_base_app()
    app.router.add_post("/holds", hold)
    app.router.add_get("/search", search)
    app.router.add_get("/window", window)
    async with TestClient(TestServer(app)) as client:
        yield client


async def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/problem+json"
    return await response.json(content_type=None)


VALID = {"slot": {"starts_at": "2025-03-30T01:30:00+00:00", "seats": 2}}


async def test_a_valid_body_is_parsed_into_the_model(client: TestClient) -> None:
    response = await client.post("/holds", json=VALID)

    assert response.status == 201
    assert await response.json() == {"slot": {"starts_at": "2025-03-30T01:30:00Z", "seats": 2}, "note": ""}


async def test_a_json_content_type_with_a_charset_is_accepted(client: TestClient) -> None:
    response = await client.post(
        "/holds", data=orjson.dumps(VALID), headers={"Content-Type": "application/json; charset=utf-8"}
    )

    assert response.status == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_a_body_that_is_not_declared_json_is_415(client: TestClient, content_type: str) -> None:
    response = await client.post("/holds", data=orjson.dumps(VALID), headers={"Content-Type": content_type})

    problem = await _problem(response, 415)
    assert problem["code"] == "unsupported_media_type"
    assert "application/json" in problem["detail"]


@pytest.mark.parametrize("raw", [b'{"slot": ', b"not json", b"\xff\xfe"])
async def test_malformed_json_is_400_malformed_json(client: TestClient, raw: bytes) -> None:
    response = await client.post("/holds", data=raw, headers={"Content-Type": "application/json"})

    problem = await _problem(response, 400)
    assert problem["code"] == "malformed_json"


async def test_an_invalid_body_is_422_naming_every_failing_field(client: TestClient) -> None:
    response = await client.post("/holds", json={"slot": {"starts_at": "tomorrow-ish", "seats": 0}, "note": 5})

    problem = await _problem(response, 422)
    assert problem["code"] == "validation_error"
    assert {error["field"] for error in problem["errors"]} == {"slot.starts_at", "slot.seats", "note"}
    assert all(error["message"] and error["type"] for error in problem["errors"])
    assert "tomorrow-ish" not in str(problem)  # the input is not echoed back


async def test_a_body_that_is_not_an_object_is_422_on_the_body_itself(client: TestClient) -> None:
    response = await client.post("/holds", json=[VALID])

    problem = await _problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == ["body"]


async def test_an_empty_body_is_validated_as_an_empty_object(client: TestClient) -> None:
    response = await client.post("/holds", data=b"", headers={"Content-Type": "application/json"})

    problem = await _problem(response, 422)
    assert [(error["field"], error["type"]) for error in problem["errors"]] == [("slot", "missing")]


async def test_query_parameters_are_validated_with_the_same_422(client: TestClient) -> None:
    assert (await client.get("/search", params={"day": "2025-03-30"})).status == 200

    problem = await _problem(await client.get("/search", params={"day": "someday", "limit": "x"}), 422)
    assert {error["field"] for error in problem["errors"]} == {"day", "limit"}


async def test_a_timestamp_whose_plus_arrived_as_a_space_is_422_saying_to_encode_it(client: TestClient) -> None:
    # What `curl "...?from=$(date -uIs)"` sends: the offset's "+" unencoded, which the query string decodes as a space.
    response = await client.get("/window?from=2026-12-04T10:00:00+00:00&to=2026-12-05T10:00:00Z")

    problem = await _problem(response, 422)
    assert "`from`" in problem["detail"]
    assert "`%2B`" in problem["detail"]
    assert [error["field"] for error in problem["errors"]] == ["from"]


async def test_an_encoded_plus_and_a_z_are_both_understood(client: TestClient) -> None:
    response = await client.get("/window?from=2026-12-04T10:00:00%2B01:00&to=2026-12-05T10:00:00Z")

    assert response.status == 200
    assert await response.json() == {"starts_from": "2026-12-04T10:00:00+01:00", "to": "2026-12-05T10:00:00Z"}


async def test_other_bad_timestamps_keep_the_plain_detail(client: TestClient) -> None:
    problem = await _problem(await client.get("/window?from=tomorrow&to=2026-12-05 10:00"), 422)

    assert problem["detail"] == "The request is not valid."


def _written(data: Any) -> Any:
    response = json_response(data)
    assert response.content_type == "application/json"
    assert isinstance(response.body, bytes)
    return orjson.loads(response.body)


def test_uuids_from_asyncpg_and_the_standard_library_are_written_as_strings() -> None:
    from_database = AsyncpgUUID(SLOT_ID.bytes)

    assert _written({"a": from_database, "b": SLOT_ID}) == {"a": str(SLOT_ID), "b": str(SLOT_ID)}


def test_decimals_are_written_as_exact_strings_not_floats() -> None:
    assert _written({"fee": Decimal("12.50"), "tiny": Decimal("0.10")}) == {"fee": "12.50", "tiny": "0.10"}


@dataclasses.dataclass
class Quote:
    appointment_id: Any
    fee: Decimal
    at: datetime


class Provider(BaseModel):
    id: uuid.UUID
    name: str
    calendar_token: SecretStr


def test_dataclasses_and_pydantic_models_are_written_with_their_fields() -> None:
    quote = Quote(AsyncpgUUID(SLOT_ID.bytes), Decimal("7.5"), datetime(2025, 3, 30, 1, 30, tzinfo=UTC))
    provider = Provider(id=SLOT_ID, name="Dr Ada", calendar_token=SecretStr("s3cr3t"))

    written = _written({"quote": quote, "providers": [provider]})

    assert written["quote"] == {"appointment_id": str(SLOT_ID), "fee": "7.5", "at": "2025-03-30T01:30:00+00:00"}
    assert written["providers"] == [{"id": str(SLOT_ID), "name": "Dr Ada", "calendar_token": "**********"}]


class Unwritable:
    """Something a handler should have converted itself."""


def test_a_value_with_no_json_form_fails_loudly_naming_its_type() -> None:
    with pytest.raises(TypeError, match="Unwritable"):
        json_response({"what": Unwritable()})


def test_status_and_headers_are_passed_on() -> None:
    response = json_response({"ok": True}, status=202, headers={"Location": "/holds/1"})

    assert (response.status, response.headers["Location"]) == (202, "/holds/1")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_every_finite_decimal_reads_back_equal(amount: Decimal) -> None:
    written = _written({"amount": amount})["amount"]

    assert Decimal(written) == amount


@pytest.mark.parametrize(("body", "field"), [
    (b'{"slot": {"starts_at": "2030-01-01T09:00:00Z", "seats": 1}, "note": "a\\u0000b"}', "note"),
    (b'{"slot": {"starts_at": "2030-01-01T09:00:00Z", "seats": 1}, "note": "ok", "tags": ["x", "\\u0000"]}', "tags.1"),
])
async def test_text_holding_a_nul_character_is_422_naming_it_never_a_500(
    client: TestClient, body: bytes, field: str
) -> None:
    response = await client.post("/holds", data=body, headers={"Content-Type": "application/json"})

    problem = await _problem(response, 422)
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == [field]


async def test_an_escaped_backslash_before_u0000_is_just_text(client: TestClient) -> None:
    body = b'{"slot": {"starts_at": "2030-01-01T09:00:00Z", "seats": 1}, "note": "C:\\\\u0000"}'

    response = await client.post("/holds", data=body, headers={"Content-Type": "application/json"})

    assert response.status == 201
    assert (await response.json())["note"] == "C:\\u0000"
