"""Streams a service relays from another one (server-sent events passed through as they come), ended when the
service shuts down.

A relayed stream lasts as long as its reader, so a graceful shutdown, which waits for the requests in flight, would
wait for it until its timeout. On shutdown each relay's upstream answer is closed instead: the relay sees its
upstream end, ends its own stream, and the reader reconnects (to another instance) from its last event id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
from aiohttp import web

OPEN_RELAYS = web.AppKey("open_relays", set[aiohttp.ClientResponse])


@contextlib.contextmanager
def relaying(request: web.Request, upstream: aiohttp.ClientResponse) -> Iterator[None]:
    """While inside, `upstream` is ended when the app shuts down."""
    relays = request.app.get(OPEN_RELAYS)
    if relays is None:
        yield
        return
    relays.add(upstream)
    try:
        yield
    finally:
        relays.discard(upstream)


async def end_relays(app: web.Application) -> None:
    """On shutdown, before waiting for the requests in flight: every relayed stream's upstream is closed."""
    for upstream in list(app.get(OPEN_RELAYS, ())):
        upstream.close()
