"""`GET /v1/notifications/stream`: the caller's new notifications as server-sent events.

Every notifier process listens to PostgreSQL's notices of new feed rows (sent at commit by the statement that writes
them, whichever process consumed the event) and hands each to the streams of its user. An event's id is its feed
position, so a stream resumes after `Last-Event-ID` from the feed itself, on any process; nothing is lost across a
reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from notifier.adapters import feed
from notifier.app_keys import POOL, SETTINGS, SUBSCRIBERS
from notifier.service_layer.subscribers import CLOSED, Subscribers
from smartslot_common.http.identity import caller
from smartslot_common.live import STREAM_HEADERS
from smartslot_common.logging import get_logger

routes = web.RouteTableDef()
log = get_logger(__name__)
HEARTBEAT_SECONDS = 15.0
RESUME_LIMIT = 500


def event_id(notification: dict[str, Any]) -> str:
    """The feed position: created_at (microseconds since the epoch) and id."""
    created_at: datetime = notification["created_at"]
    return f"{round(created_at.timestamp() * 1_000_000)}.{notification['id']}"


def position_of(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not value:
        return None
    micros, _, raw_id = value.partition(".")
    try:
        return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), uuid.UUID(raw_id)
    except ValueError:
        return None


def message(notification: dict[str, Any]) -> bytes:
    public = {key: notification[key] for key in ("id", "kind", "title", "body", "appointment_id", "created_at",
                                                  "read_at")}
    return (b"id: " + event_id(notification).encode() + b"\nevent: notification\ndata: "
            + orjson.dumps(public, default=str) + b"\n\n")


def parsed_notice(payload: str) -> dict[str, Any] | None:
    """A notice's notification, typed as the feed reads it."""
    try:
        data = orjson.loads(payload)
        data["id"], data["user_id"] = uuid.UUID(data["id"]), uuid.UUID(data["user_id"])
        data["appointment_id"] = uuid.UUID(data["appointment_id"]) if data.get("appointment_id") else None
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["read_at"] = datetime.fromisoformat(data["read_at"]) if data.get("read_at") else None
    except (ValueError, KeyError, TypeError):
        log.warning("feed_notice_not_understood", payload=payload[:200])
        return None
    return dict(data)


@routes.get("/v1/notifications/stream")
async def notifications_stream(request: web.Request) -> web.StreamResponse:
    """The caller's notifications from now on (after `Last-Event-ID`, from the feed, when it is sent)."""
    user_id = caller(request).user_id
    after = position_of(request.headers.get("Last-Event-ID"))
    response = web.StreamResponse(headers=STREAM_HEADERS)
    with request.app[SUBSCRIBERS].subscribe(user_id) as queue:  # before the backlog is read: nothing falls between
        await response.prepare(request)
        await response.write(b"retry: 1000\n\n")
        sent: set[uuid.UUID] = set()
        try:
            if after is not None:
                for item in await feed.since(request.app[POOL], user_id, after, RESUME_LIMIT):
                    sent.add(item["id"])
                    await response.write(message(item))
            await _follow(response, queue, sent)
        except ConnectionResetError:
            pass
    return response


async def _follow(response: web.StreamResponse, queue: asyncio.Queue[dict[str, Any] | None],
                  sent: set[uuid.UUID]) -> None:
    while True:
        try:
            item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
        except TimeoutError:
            await response.write(b": heartbeat\n\n")
            continue
        if item is CLOSED:
            return
        if item["id"] not in sent:
            await response.write(message(item))


async def listener_context(app: web.Application) -> AsyncIterator[None]:
    """One connection listening for new feed rows, handing them to this process's streams."""
    subscribers = app[SUBSCRIBERS] = Subscribers()
    connection: asyncpg.Connection = await asyncpg.connect(app[SETTINGS].database_url.get_secret_value())

    def heard(_: Any, __: int, ___: str, payload: object) -> None:
        notification = parsed_notice(str(payload))
        if notification is not None:
            subscribers.deliver(notification)

    await connection.add_listener(feed.CHANNEL, heard)
    yield
    subscribers.close()
    with contextlib.suppress(Exception):
        await connection.close(timeout=2)


async def close_streams(app: web.Application) -> None:
    """On shutdown, before connections close: every open stream ends."""
    if SUBSCRIBERS in app:
        app[SUBSCRIBERS].close()
