"""Catalog routes: clinics, services and providers."""

from __future__ import annotations

from aiohttp import web

from booking.app_keys import POOL
from booking.entrypoints import schemas
from booking.service_layer import catalog
from smartslot_common.http import json_response, read_json
from smartslot_common.http.identity import require_role

routes = web.RouteTableDef()


@routes.post("/v1/clinics")
async def create_clinic(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateClinic)
    clinic = await catalog.create_clinic(request.app[POOL], body.name, body.timezone, body.address)
    return json_response(clinic, 201)


@routes.post("/v1/services")
async def create_service(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateService)
    return json_response(await catalog.create_service(request.app[POOL], body.model_dump(mode="json")), 201)


@routes.get("/v1/services")
async def list_services(request: web.Request) -> web.Response:
    return json_response({"items": await catalog.list_services(request.app[POOL]), "next_cursor": None})


@routes.post("/v1/providers")
async def create_provider(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, schemas.CreateProvider)
    return json_response(await catalog.create_provider(request.app[POOL], body.model_dump()), 201)
