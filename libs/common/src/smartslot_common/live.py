"""Live streams as server-sent events: a short log of recent changes per process that subscribers wait on, and the
`text/event-stream` response that writes the ones a subscriber wants, with an `id` each, heartbeats, and resumption
after `Last-Event-ID` (or a `reset` event when that id is older than the log keeps).

Appending is cheap on purpose (a deque append and one future resolved): it runs where events are consumed.

A change that states a versioned thing (a slot's state at its row version) never goes back in time: an entry whose
version is lower than one the log already holds for the same subject is dropped. Changes can reach a shared log out
of order (two replicas, each appending what it read, the one with the older read last); every process drops the same
ones, since each follows the same log in the same order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

HEARTBEAT_SECONDS = 15.0
RESET = "reset"
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class Entry:
    """One change: its stream id, SSE event name, JSON data, and what subscribers filter on."""

    id: str
    order: tuple[int, ...]  # ids compared as numbers ("1733-2" after "1733-1")
    event: str
    data: bytes
    scope: Any = None
    subject: str | None = None  # what the entry states (a slot's id), when a newer state supersedes an older one
    version: int = 0  # the subject's version in this entry: a lower one than the log holds is stale


def order_of(entry_id: str) -> tuple[int, ...] | None:
    """An id's sort key ("<ms>-<seq>", as Redis streams make them); None when it is not one."""
    try:
        return tuple(int(part) for part in entry_id.split("-"))
    except ValueError:
        return None


class LiveLog:
    """The last `size` changes of this process, and whoever waits for the next one."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        # Each subject of the kept entries: the highest version kept and the order of its newest entry (when that one
        # leaves the log, the subject is forgotten: memory stays bounded by the log's size).
        self._latest: dict[str, tuple[int, tuple[int, ...]]] = {}
        self._next: asyncio.Future[None] | None = None
        self.closed = False
        # Entries before this one may have gone by unseen (the log was filled from a shared one that had trimmed
        # them); None: nothing was missed.
        self.horizon: tuple[int, ...] | None = None

    def append(self, entries: Iterable[Entry]) -> None:
        """Keep the entries (in id order), except stale ones, and wake every waiter."""
        added = False
        for entry in entries:
            if self._entries and entry.order <= self._entries[-1].order:
                continue  # seen already (a follower that re-read an overlap)
            if self._is_stale(entry):
                continue  # an older state of a subject than one already streamed
            self._keep(entry)
            added = True
        if added:
            self._wake()

    def _is_stale(self, entry: Entry) -> bool:
        latest = self._latest.get(entry.subject) if entry.subject is not None else None
        return latest is not None and entry.version < latest[0]

    def _keep(self, entry: Entry) -> None:
        if len(self._entries) == self._entries.maxlen:
            self._forget(self._entries[0])  # about to leave the log
        self._entries.append(entry)
        if entry.subject is not None:
            self._latest[entry.subject] = (entry.version, entry.order)

    def _forget(self, leaving: Entry) -> None:
        """Forget the subject of an entry leaving the log when it was that subject's newest entry."""
        if leaving.subject is not None and self._latest.get(leaving.subject, (0, ()))[1] == leaving.order:
            del self._latest[leaving.subject]

    def close(self) -> None:
        """End every stream (the process is shutting down)."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._next is not None and not self._next.done():
            self._next.set_result(None)
        self._next = None

    @property
    def last_id(self) -> str | None:
        return self._entries[-1].id if self._entries else None

    def after(self, entry_id: str | None) -> list[Entry] | None:
        """The entries after `entry_id` (all kept ones for None); None when that id is older than the log keeps or is
        not an id of this log (the subscriber must reload)."""
        if entry_id is None:
            return []
        order = order_of(entry_id)
        if order is None:
            return None
        if self.horizon is not None and order < self.horizon:
            return None
        if not self._entries:
            return []
        if order < self._entries[0].order and len(self._entries) == self._entries.maxlen:
            return None
        return self.newer_than(order)

    def newer_than(self, order: tuple[int, ...] | None) -> list[Entry]:
        if order is None:
            return list(self._entries)
        found: list[Entry] = []
        for entry in reversed(self._entries):
            if entry.order <= order:
                break
            found.append(entry)
        found.reverse()
        return found

    async def wait(self, timeout: float) -> None:
        """Until something is appended (or the log closes), at most `timeout` seconds."""
        if self.closed:
            return
        if self._next is None or self._next.done():
            self._next = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._next), timeout)


def sse_message(entry: Entry) -> bytes:
    return b"id: " + entry.id.encode() + b"\nevent: " + entry.event.encode() + b"\ndata: " + entry.data + b"\n\n"


def reset_message(reason: str, entry_id: str | None) -> bytes:
    head = b"id: " + entry_id.encode() + b"\n" if entry_id else b""
    return head + b"event: " + RESET.encode() + b"\ndata: " + orjson.dumps({"reason": reason}) + b"\n\n"


async def entries_for(log: LiveLog, last_event_id: str | None, heartbeat: float
                      ) -> AsyncIterator[Entry | bytes]:
    """The stream's bytes for one subscriber: the entries after `last_event_id`, then each new one as it comes, a
    heartbeat when nothing came for `heartbeat` seconds (carrying the latest id, so a resume starts there)."""
    backlog = log.after(last_event_id)
    if backlog is None:
        yield reset_message("too_old", log.last_id)
        backlog = []
    for entry in backlog:
        yield entry
    seen = backlog[-1].order if backlog else order_of(log.last_id) if log.last_id else None
    while not log.closed:
        await log.wait(heartbeat)
        fresh = log.newer_than(seen)
        if fresh:
            seen = fresh[-1].order
            for entry in fresh:
                yield entry
        elif log.last_id is not None:
            yield b": heartbeat\nid: " + log.last_id.encode() + b"\n\n"
        else:
            yield b": heartbeat\n\n"


async def serve_stream(request: web.Request, log: LiveLog, wanted: Callable[[Entry], bool],
                       heartbeat: float = HEARTBEAT_SECONDS) -> web.StreamResponse:
    """A `text/event-stream` answer: every entry `wanted` admits, with resumption and heartbeats, until the caller
    leaves or the process shuts down."""
    response = web.StreamResponse(headers=STREAM_HEADERS)
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    try:
        async for item in entries_for(log, request.headers.get("Last-Event-ID"), heartbeat):
            if isinstance(item, Entry):
                if wanted(item):
                    await response.write(sse_message(item))
            else:
                await response.write(item)
    except ConnectionResetError:
        pass  # the caller left
    return response
