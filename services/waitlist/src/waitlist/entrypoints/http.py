"""The waitlist's routes: join, list, leave. Callers are identified by the headers the gateway forwards."""

from __future__ import annotations

import uuid

from aiohttp import web

from smartslot_common.http import json_response, read_json
from smartslot_common.http.identity import require_role
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError
from waitlist.app_keys import POOL, SETTINGS
from waitlist.domain.states import EntryState
from waitlist.entrypoints.schemas import Cursor, JoinWaitlist, WaitlistEntry, WaitlistQuery
from waitlist.service_layer import entries
from waitlist.service_layer.unit_of_work import PostgresUnitOfWork, UnitOfWork

routes = web.RouteTableDef()


@routes.post("/v1/waitlist")
async def join(request: web.Request) -> web.Response:
    """A client joins: `201` with status `waiting` and their position."""
    who = require_role(request, "client")
    body = await read_json(request, JoinWaitlist)
    settings = request.app[SETTINGS]
    entry = await entries.join(_uow(request), who, body.wish(), settings.max_live_entries)
    return json_response(WaitlistEntry.from_view(entry).render(), 201)


@routes.get("/v1/waitlist")
async def list_entries(request: web.Request) -> web.Response:
    """A client's own entries, or every entry for an admin, in join order."""
    who = require_role(request, "client", "admin")
    query = parse_query(request, WaitlistQuery)
    cursor = Cursor.decode(query.cursor) if query.cursor else None
    after = (cursor.created_at, cursor.id) if cursor else None
    state = EntryState(query.status) if query.status else None
    views, more = await entries.list_entries(_uow(request), who, entries.Listing(state, after, query.limit))
    last = views[-1].entry if views else None
    next_cursor = Cursor(created_at=last.created_at, id=last.id).encode() if more and last else None
    items = [WaitlistEntry.from_view(view).render() for view in views]
    return json_response({"items": items, "next_cursor": next_cursor})


@routes.delete("/v1/waitlist/{entry_id}")
async def leave(request: web.Request) -> web.Response:
    """Its client leaves the waitlist: `204`; anyone else sees `404`."""
    who = require_role(request, "client")
    await entries.leave(_uow(request), who, _entry_id(request))
    return web.Response(status=204)


def _uow(request: web.Request) -> UnitOfWork:
    """The request's unit of work (entries never ask for calls to booking)."""
    return PostgresUnitOfWork.pooled(request.app[POOL])


def _entry_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["entry_id"])
    except ValueError:
        raise ProblemError(404, "not_found", "No such waitlist entry.") from None
