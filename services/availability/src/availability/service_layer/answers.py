"""Whole answers of recent searches, kept in this process as the response bytes, so that asking the same question
again costs no day pages and no encoding, and once Redis confirmed it, no Redis read either (`followed_fences`).

An answer is kept with the WAL position each of its day pages was read at. It is served again only while (1) no
day's fence has risen past its page's position — the same check a day page passes, so an event that invalidated any
of its pages invalidates it too, in every process, and one that touched only other days leaves it be — and (2) the
clock has not reached the first instant its selection would change by itself (a listed slot starts, a waitlist
reservation ends), nor the pages' own lifetime.
An answer built from the primary (replica behind a fence) or without Redis is not kept, and one kept before Redis
lost its data (the cache's `generation` moved on) is not served again.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from availability import metrics
from availability.adapters.cache import PageCache
from smartslot_common.redis import REDIS_UNAVAILABLE

if TYPE_CHECKING:
    from availability.service_layer.search import Found, Search


@dataclass(slots=True)
class Answer:
    """A search's response body and what decides whether it is still the answer."""

    body: bytes
    service_id: str
    scope: str
    days: list[date]
    positions: list[int]  # the WAL position each day's page was read at, in the order of `days`
    until: float  # epoch seconds: its selection changes by itself, or its pages' lifetime ends
    generation: int = 0  # the cache's `generation` before its pages were looked up
    # The fence subscription during which Redis last said it is current (0: never): from then on, the raises
    # this process follows are enough to say it still is.
    checked_in: int = 0


class Answers:
    """Recent answers by query string, least recently used dropped first beyond `max_bytes` (0: none kept)."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._kept: OrderedDict[str, Answer] = OrderedDict()
        self._bytes = 0

    def get(self, query: str, now: float) -> Answer | None:
        """The answer kept for this query string, unless its time is up (the caller still checks its fences)."""
        answer = self._kept.get(query)
        if answer is None:
            return None
        if answer.until <= now:
            self.drop(query)
            return None
        self._kept.move_to_end(query)
        return answer

    def keep(self, query: str, answer: Answer) -> None:
        if len(answer.body) > self._max_bytes:
            return
        self.drop(query)
        self._kept[query] = answer
        self._bytes += len(answer.body)
        while self._bytes > self._max_bytes:
            _, oldest = self._kept.popitem(last=False)
            self._bytes -= len(oldest.body)

    def drop(self, query: str) -> None:
        answer = self._kept.pop(query, None)
        if answer is not None:
            self._bytes -= len(answer.body)

    def __len__(self) -> int:
        return len(self._kept)

    def queries(self) -> list[str]:
        """The query strings answers are kept for, least recently used first."""
        return list(self._kept)


async def kept_answer(answers: Answers, cache: PageCache, query: str, now: float) -> bytes | None:
    """The response body kept for this query string if it is still the answer; else None. Judged from the fence
    raises this process follows once Redis said it was current during this subscription, else by one Redis read."""
    answer = answers.get(query, now)
    if answer is None:
        metrics.ANSWERS.labels(outcome="miss").inc()
        return None
    epoch = cache.followed.trusted_epoch()
    if epoch is not None and answer.checked_in == epoch:
        fences = cache.followed_fences(answer.service_id, answer.scope, answer.days)
    else:
        try:
            fences = await cache.fences(answer.service_id, answer.scope, answer.days)
        except REDIS_UNAVAILABLE:
            return None  # the search itself reads the database then
        if epoch is not None and cache.followed.trusted_epoch() == epoch:
            answer.checked_in = epoch
    stale = any(fence > position for fence, position in zip(fences, answer.positions, strict=True))
    if stale or answer.generation != cache.generation:  # a day invalidated, or Redis lost its fences
        answers.drop(query)
        metrics.ANSWERS.labels(outcome="stale").inc()
        return None
    metrics.ANSWERS.labels(outcome="hit").inc()
    metrics.CACHE_REQUESTS.labels(outcome="hit").inc()
    return answer.body


def keep_answer(answers: Answers, query: str, body: bytes, search: Search, found: Found, lifetime: float,
                now: float) -> None:
    """Keep a search's response body for its query string, if it may be served again."""
    if found.positions is not None:
        answers.keep(query, Answer(body, str(search.service_id), search.scope, found.days, found.positions,
                                   min(found.changes_at, now + lifetime), found.generation))
