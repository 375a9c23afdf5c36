"""Admin routes for webhook endpoints and their delivery log (the gateway proxies `/v1/admin/webhooks*`).

    POST   /v1/admin/webhooks                      register {url, event_types, description?} -> 201, secret once
    GET    /v1/admin/webhooks                      list (no secrets)
    GET    /v1/admin/webhooks/{id}                 one endpoint
    PATCH  /v1/admin/webhooks/{id}                 {url?, event_types?, description?, enabled?}
    DELETE /v1/admin/webhooks/{id}                 204 (its delivery log goes with it)
    POST   /v1/admin/webhooks/{id}/rotate-secret   a new secret, shown once; the old one signs too for the overlap
    GET    /v1/admin/webhooks/{id}/deliveries      delivery log, newest first, ?status=pending|sent|failed
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifier.adapters import deliveries, webhook_endpoints
from notifier.app_keys import DESTINATIONS, POOL, SETTINGS
from notifier.domain.signing import new_secret
from notifier.domain.webhooks import MAX_URL_LENGTH, WEBHOOK_EVENT_TYPES, event_type_problem, url_problem
from notifier.entrypoints.pagination import paginate
from smartslot_common.http import json_response, read_json
from smartslot_common.http.fields import Boolean
from smartslot_common.http.identity import require_role
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError
from smartslot_common.http.queries import PageQuery

routes = web.RouteTableDef()
NOT_FOUND = "No such webhook endpoint."


def _checked_url(url: str) -> str:
    problem = url_problem(url)
    if problem:
        raise ValueError(problem)
    return url


def _checked_types(event_types: list[str]) -> list[str]:
    unique = list(dict.fromkeys(event_types))
    problem = event_type_problem(unique)
    if problem:
        raise ValueError(problem)
    return unique


# What the published schema can say of an endpoint URL; `url_problem` also wants a host and no credentials in it.
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$")]
EventType = Literal[WEBHOOK_EVENT_TYPES]  # type: ignore[valid-type]
EventTypes = Annotated[list[EventType], Field(min_length=1)]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: EventTypes
    description: str | None = Field(None, max_length=500)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _checked_url(url)

    @field_validator("event_types")
    @classmethod
    def _types(cls, event_types: list[str]) -> list[str]:
        return _checked_types(event_types)


class EndpointChange(BaseModel):
    """Only the fields sent change; `description` may be set to null, the others not."""

    model_config = ConfigDict(extra="forbid")

    url: Url = None  # type: ignore[assignment]
    event_types: EventTypes = None  # type: ignore[assignment]
    description: str | None = Field(None, max_length=500)
    enabled: Boolean = None  # type: ignore[assignment]

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        return _checked_url(url) if url is not None else None

    @field_validator("event_types")
    @classmethod
    def _types(cls, event_types: list[str] | None) -> list[str] | None:
        return _checked_types(event_types) if event_types is not None else None


class LogQuery(PageQuery):
    """A delivery log's page, optionally of one delivery status."""

    status: Literal["pending", "sent", "failed"] | None = None


def _endpoint_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["endpoint_id"])
    except ValueError:
        raise ProblemError(404, "not_found", NOT_FOUND) from None


async def _check_destination(request: web.Request, url: str) -> None:
    """Refuse (422) a URL webhooks may not be sent to: not https, or its host resolves to a refused address."""
    problem = await request.app[DESTINATIONS].problem(url)
    if problem:
        raise ProblemError(422, "validation_error", f"Webhooks cannot be sent to this URL: {problem}.", errors=[
            {"field": "url", "message": problem, "type": "value_error"}
        ])


async def _existing(request: web.Request) -> dict[str, Any]:
    endpoint = await webhook_endpoints.get(request.app[POOL], _endpoint_id(request))
    if endpoint is None:
        raise ProblemError(404, "not_found", NOT_FOUND)
    return endpoint


@routes.post("/v1/admin/webhooks")
async def register(request: web.Request) -> web.Response:
    require_role(request, "admin")
    body = await read_json(request, EndpointIn)
    await _check_destination(request, body.url)
    secret = new_secret()
    endpoint = await webhook_endpoints.create(request.app[POOL], body.url, body.event_types, body.description, secret)
    return json_response(endpoint | {"secret": secret}, status=201)


@routes.get("/v1/admin/webhooks")
async def list_endpoints(request: web.Request) -> web.Response:
    require_role(request, "admin")
    pool, query = request.app[POOL], parse_query(request, PageQuery)
    return json_response(await paginate(query, lambda limit, after: webhook_endpoints.page(pool, limit, after)))


@routes.get("/v1/admin/webhooks/{endpoint_id}")
async def show(request: web.Request) -> web.Response:
    require_role(request, "admin")
    return json_response(await _existing(request))


@routes.patch("/v1/admin/webhooks/{endpoint_id}")
async def change(request: web.Request) -> web.Response:
    require_role(request, "admin")
    endpoint_id = _endpoint_id(request)
    body = await read_json(request, EndpointChange)
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        await _check_destination(request, changes["url"])
    updated = await webhook_endpoints.update(request.app[POOL], endpoint_id, changes)
    if updated is None:
        raise ProblemError(404, "not_found", NOT_FOUND)
    return json_response(updated)


@routes.delete("/v1/admin/webhooks/{endpoint_id}")
async def remove(request: web.Request) -> web.Response:
    require_role(request, "admin")
    if not await webhook_endpoints.delete(request.app[POOL], _endpoint_id(request)):
        raise ProblemError(404, "not_found", NOT_FOUND)
    return web.Response(status=204)


@routes.post("/v1/admin/webhooks/{endpoint_id}/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    require_role(request, "admin")
    secret = new_secret()
    overlap = request.app[SETTINGS].webhook_secret_overlap_seconds
    rotated = await webhook_endpoints.rotate_secret(request.app[POOL], _endpoint_id(request), secret, overlap)
    if rotated is None:
        raise ProblemError(404, "not_found", NOT_FOUND)
    return json_response(rotated | {"secret": secret})


@routes.get("/v1/admin/webhooks/{endpoint_id}/deliveries")
async def delivery_log(request: web.Request) -> web.Response:
    require_role(request, "admin")
    endpoint = await _existing(request)
    query, pool = parse_query(request, LogQuery), request.app[POOL]
    return json_response(await paginate(
        query, lambda limit, after: deliveries.endpoint_log(pool, endpoint["id"], limit, after, query.status)
    ))
