"""The open notification streams of this process, by user: new notifications are handed to their queues."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

QUEUE_LIMIT = 1000  # notifications a slow stream may have waiting
CLOSED = None  # put in every queue at shutdown: the stream ends


class Subscribers:
    """The open streams of this process, by user."""

    def __init__(self) -> None:
        self._queues: dict[uuid.UUID, set[asyncio.Queue[dict[str, Any] | None]]] = {}

    @contextlib.contextmanager
    def subscribe(self, user_id: uuid.UUID) -> Iterator[asyncio.Queue[dict[str, Any] | None]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_LIMIT)
        self._queues.setdefault(user_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._queues.get(user_id, set())
            queues.discard(queue)
            if not queues:
                self._queues.pop(user_id, None)

    def deliver(self, notification: dict[str, Any]) -> None:
        """Hand a new notification to its user's streams (the listener's callback: no awaiting)."""
        for queue in list(self._queues.get(notification["user_id"], ())):
            # Far behind: the stream skips this one; it comes from the feed when the stream resumes.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(notification)

    def close(self) -> None:
        for queues in self._queues.values():
            for queue in queues:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(CLOSED)
