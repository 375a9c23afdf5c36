"""Catalog routes: clinics, services and providers. Reads are open to every role, writes to admins."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from booking.domain.catalog import NewProvider, NewService, Page, PageRequest
from booking.entrypoints import schemas
from booking.entrypoints.commands import unit_of_work
from booking.entrypoints.paths import path_uuid
from booking.service_layer import catalog
from smartslot_common.http import ProblemError, json_response, read_json
from smartslot_common.http.identity import Role, require_role
from smartslot_common.http.json import parse_query

routes = web.RouteTableDef()
ANY_ROLE: tuple[Role, ...] = ("client", "provider", "admin")


# --- pagination: `?limit=&cursor=` → `{"items": [...], "next_cursor": ...}` ------------------------------------------


def encode_cursor(last: tuple[str, uuid.UUID] | None) -> str | None:
    """An opaque cursor for the position after `last` (sort key and id), or None on the last page."""
    if last is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps([last[0], str(last[1])])).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, uuid.UUID] | None:
    """The position a cursor names; `422 validation_error` for anything this service did not hand out."""
    if cursor is None:
        return None
    try:
        key, last_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, str):
            raise ValueError(key)
        return key, uuid.UUID(last_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        raise ProblemError(422, "validation_error", "The cursor is not one this list handed out.", errors=[
            {"field": "cursor", "message": "not a cursor of this list", "type": "value_error"}]) from None


def _page_request(query: schemas.PageQuery) -> PageRequest:
    return PageRequest(query.limit, decode_cursor(query.cursor))


def _page_body(page: Page[Any]) -> dict[str, Any]:
    return {"items": page.items, "next_cursor": encode_cursor(page.last)}


def _changes(body: BaseModel) -> dict[str, Any]:
    """The fields the caller actually sent, JSON-ready (nested defaults filled in)."""
    return body.model_dump(mode="json", include=body.model_fields_set)


# --- clinics --------------------------------------------------------------------------------------------------------


@routes.post("/v1/clinics")
async def create_clinic(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateClinic)
    clinic = await catalog.create_clinic(unit_of_work(request), body.name, body.timezone, body.address)
    return json_response(clinic, 201)


@routes.get("/v1/clinics")
async def list_clinics(request: web.Request) -> web.Response:
    require_role(request, *ANY_ROLE)
    query = parse_query(request, schemas.PageQuery)
    return json_response(_page_body(await catalog.list_clinics(unit_of_work(request), _page_request(query))))


@routes.get("/v1/clinics/{clinic_id}")
async def get_clinic(request: web.Request) -> web.Response:
    require_role(request, *ANY_ROLE)
    return json_response(await catalog.get_clinic(unit_of_work(request), path_uuid(request, "clinic_id", "clinic")))


@routes.patch("/v1/clinics/{clinic_id}")
async def update_clinic(request: web.Request) -> web.Response:
    require_role(request, "admin")
    clinic_id = path_uuid(request, "clinic_id", "clinic")
    body = await read_json(request, schemas.UpdateClinic)
    return json_response(await catalog.update_clinic(unit_of_work(request), clinic_id, _changes(body)))


@routes.delete("/v1/clinics/{clinic_id}")
async def delete_clinic(request: web.Request) -> web.Response:
    require_role(request, "admin")
    await catalog.delete_clinic(unit_of_work(request), path_uuid(request, "clinic_id", "clinic"))
    return web.Response(status=204)


# --- services -------------------------------------------------------------------------------------------------------


@routes.post("/v1/services")
async def create_service(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateService)
    service = NewService(**body.model_dump(mode="json"))
    return json_response(await catalog.create_service(unit_of_work(request), service), 201)


@routes.get("/v1/services")
async def list_services(request: web.Request) -> web.Response:
    require_role(request, *ANY_ROLE)
    query = parse_query(request, schemas.PageQuery)
    return json_response(_page_body(await catalog.list_services(unit_of_work(request), _page_request(query))))


@routes.get("/v1/services/{service_id}")
async def get_service(request: web.Request) -> web.Response:
    require_role(request, *ANY_ROLE)
    return json_response(await catalog.get_service(unit_of_work(request), path_uuid(request, "service_id", "service")))


@routes.patch("/v1/services/{service_id}")
async def update_service(request: web.Request) -> web.Response:
    require_role(request, "admin")
    service_id = path_uuid(request, "service_id", "service")
    body = await read_json(request, schemas.UpdateService)
    return json_response(await catalog.update_service(unit_of_work(request), service_id, _changes(body)))


@routes.delete("/v1/services/{service_id}")
async def delete_service(request: web.Request) -> web.Response:
    require_role(request, "admin")
    await catalog.delete_service(unit_of_work(request), path_uuid(request, "service_id", "service"))
    return web.Response(status=204)


# --- providers ------------------------------------------------------------------------------------------------------


@routes.post("/v1/providers")
async def create_provider(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateProvider)
    return json_response(await catalog.create_provider(unit_of_work(request), NewProvider(**body.model_dump())), 201)


@routes.get("/v1/providers")
async def list_providers(request: web.Request) -> web.Response:
    require_role(request, *ANY_ROLE)
    query = parse_query(request, schemas.ProviderQuery)
    page = await catalog.list_providers(unit_of_work(request), _page_request(query), query.service_id, query.clinic_id)
    return json_response(_page_body(page))


@routes.get("/v1/providers/{provider_id}")
async def get_provider(request: web.Request) -> web.Response:
    require_role(request, *ANY_ROLE)
    provider_id = path_uuid(request, "provider_id", "provider")
    return json_response(await catalog.get_provider(unit_of_work(request), provider_id))


@routes.delete("/v1/providers/{provider_id}")
async def delete_provider(request: web.Request) -> web.Response:
    require_role(request, "admin")
    await catalog.delete_provider(unit_of_work(request), path_uuid(request, "provider_id", "provider"))
    return web.Response(status=204)
