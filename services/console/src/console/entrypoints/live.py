"""Live pages: the API's event streams relayed to the browser (which cannot send the token itself: it never sees
it), and the notification bell and feed that react to them."""

from __future__ import annotations

import asyncio

from aiohttp import web

from console import metrics
from console.adapters.api import ApiProblem
from console.web import SECURITY_HEADERS, api_for, redirect, render, require, session_of
from smartslot_common.http.relays import relaying

routes = web.RouteTableDef()
STREAM_QUERY = ("service_id", "from", "to", "provider_id", "clinic_id")


async def _relay(request: web.Request, path: str, params: dict[str, str], stream: str) -> web.StreamResponse:
    """Pass the API's stream through byte for byte (events, ids, heartbeats), resuming where the browser says."""
    session = session_of(request)
    if not session.signed_in:
        return web.Response(status=204)  # an EventSource stops on 204: the page's next load signs in again
    api = api_for(request)
    try:
        async with api.stream(path, params, request.headers.get("Last-Event-ID")) as upstream:
            response = web.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
                "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"]})
            await response.prepare(request)
            metrics.LIVE_RELAYS.labels(stream=stream).inc()
            try:
                with relaying(request, upstream):  # ended when the console shuts down
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
            except (ConnectionResetError, asyncio.CancelledError):
                raise
            except Exception:  # the upstream broke off: end here, the browser reconnects with its last id
                pass
            finally:
                metrics.LIVE_RELAYS.labels(stream=stream).dec()
            return response
    except ApiProblem as problem:
        if problem.status in (401, 422, 404):
            return web.Response(status=204)  # nothing to follow: stop rather than retry forever
        raise


@routes.get("/live/slots")
async def live_slots(request: web.Request) -> web.StreamResponse:
    params = {name: request.query[name] for name in STREAM_QUERY if request.query.get(name)}
    return await _relay(request, "/v1/availability/stream", params, "availability")


@routes.get("/live/notifications")
async def live_notifications(request: web.Request) -> web.StreamResponse:
    return await _relay(request, "/v1/notifications/stream", {}, "notifications")


@routes.get("/bell")
async def bell(request: web.Request) -> web.Response:
    """The bell: how many notifications are unread."""
    require(request)
    unread = [item for item in await api_for(request).notifications() if item.read_at is None]
    return render(request, "_bell.html", unread=len(unread))


@routes.get("/notifications")
async def notifications(request: web.Request) -> web.Response:
    require(request)
    return render(request, "notifications.html", items=await api_for(request).notifications())


@routes.post("/notifications/{id}/read")
async def mark_read(request: web.Request) -> web.StreamResponse:
    require(request)
    await api_for(request).mark_read(request.match_info["id"])
    return redirect(request, "/notifications")
