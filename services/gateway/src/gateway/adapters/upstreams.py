"""Calls to the services behind the gateway: pooled, under a deadline, retried only when idempotent, and guarded by a
circuit breaker per upstream so that a service that is down costs callers nothing but a quick 503."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import httptools
from yarl import URL

from gateway import metrics
from gateway.adapters.breaker import BreakerOpen, CircuitBreaker, State
from gateway.settings import UPSTREAM_NAMES, GatewaySettings
from smartslot_common.http.lean_client import LeanClient

RETRYABLE_METHODS = frozenset({"GET"})  # never POST/PUT/PATCH/DELETE: a retry could apply a change twice
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


@dataclass(slots=True)
class UpstreamAnswer:
    status: int
    body: bytes
    headers: Mapping[str, str]  # the headers the gateway reads, by their names in KEPT_HEADERS


class UpstreamUnavailable(Exception):
    """The upstream did not answer in time, refused the connection, or its breaker is open."""

    def __init__(self, upstream: str, retry_after: float) -> None:
        self.upstream = upstream
        self.retry_after = retry_after
        super().__init__(f"{upstream} unavailable")


def _breaker(name: str, settings: GatewaySettings) -> CircuitBreaker:
    gauge = metrics.BREAKER_STATE.labels(upstream=name)
    gauge.set(State.CLOSED.value)
    metrics.BREAKER_REJECTIONS.labels(upstream=name)  # exported at 0 from the start: the first refusal is an increase
    return CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_cooldown_seconds,
                          on_change=lambda state: gauge.set(state.value))


class Upstreams:
    """The gateway's client of every upstream service."""

    def __init__(self, calls: LeanClient, stream_session: aiohttp.ClientSession, settings: GatewaySettings) -> None:
        self._calls = calls  # every call that is answered in one piece: lean, pooled, bounded per upstream
        self._stream_session = stream_session
        self._settings = settings
        self.breakers = {name: _breaker(name, settings) for name in UPSTREAM_NAMES}
        # Worked out once: each upstream's base URL, deadline, and the timeout of a first attempt (the whole deadline).
        self._urls = {name: settings.url_for(name) for name in UPSTREAM_NAMES}
        self._deadlines = {name: settings.timeout_for(name) for name in UPSTREAM_NAMES}
        # A stream has no total deadline: its answer must begin within the upstream's deadline (connect and first
        # bytes) and then never stay quiet longer than the idle limit (streams send heartbeats).
        self._stream_timeouts = {
            name: aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=settings.stream_idle_seconds)
            for name, seconds in self._deadlines.items()
        }

    @asynccontextmanager
    async def stream(self, upstream: str, method: str, path_qs: str, body: bytes | None,
                     headers: Mapping[str, str]) -> AsyncIterator[aiohttp.ClientResponse]:
        """The upstream's answer, open, to be relayed as it comes (never retried: it may be long); `UpstreamUnavailable`
        when it cannot be reached or its breaker is open."""
        breaker = self._admitted(upstream)
        # As given, not re-quoted: the target the identity was signed for is the one the upstream receives.
        url = URL(self._urls[upstream] + path_qs, encoded=True)
        try:
            response = await self._stream_session.request(
                method, url, data=body, headers=headers, allow_redirects=False,
                timeout=self._stream_timeouts[upstream])
        except (TimeoutError, aiohttp.ClientError):
            self._failed(upstream, breaker)
            raise UpstreamUnavailable(upstream, 1.0) from None
        except BaseException:
            breaker.release_probe()
            raise
        if response.status in UNAVAILABLE_STATUSES:
            self._failed(upstream, breaker)
        else:
            breaker.record_success()
        try:
            yield response
        finally:
            response.release()

    async def call(self, upstream: str, method: str, path_qs: str, body: bytes | None,
                   headers: Mapping[str, str]) -> UpstreamAnswer:
        """The upstream's answer; `UpstreamUnavailable` when it is down, stuck past its deadline, or known down."""
        breaker = self._admitted(upstream)
        try:
            answer = await self._attempts(upstream, method, path_qs, body, headers)
        except UpstreamUnavailable:
            self._failed(upstream, breaker)
            raise
        except BaseException:  # cancelled: no verdict on the upstream, but a half-open probe slot must be freed
            breaker.release_probe()
            raise
        if answer.status in UNAVAILABLE_STATUSES:
            self._failed(upstream, breaker)
        else:
            breaker.record_success()
        return answer

    def _admitted(self, upstream: str) -> CircuitBreaker:
        """The upstream's breaker, once it lets a call through; `UpstreamUnavailable` at once while it is open."""
        breaker = self.breakers[upstream]
        try:
            breaker.before_call()
        except BreakerOpen as open_:
            metrics.BREAKER_REJECTIONS.labels(upstream=upstream).inc()
            raise UpstreamUnavailable(upstream, open_.retry_after) from None
        return breaker

    def _failed(self, upstream: str, breaker: CircuitBreaker) -> None:
        metrics.UPSTREAM_FAILURES.labels(upstream=upstream).inc()
        breaker.record_failure()

    async def _attempts(self, upstream: str, method: str, path_qs: str, body: bytes | None,
                        headers: Mapping[str, str]) -> UpstreamAnswer:
        """One attempt, or for a GET up to `get_retries` more with full-jitter backoff, all within one deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deadlines[upstream]
        url = self._urls[upstream] + path_qs
        attempts = 1 + (self._settings.get_retries if method in RETRYABLE_METHODS else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise UpstreamUnavailable(upstream, 1.0)
            try:
                answer = await self._once(method, url, body, headers, remaining)
            except (TimeoutError, httptools.HttpParserError):  # deadline spent, or a broken answer: no retry
                raise UpstreamUnavailable(upstream, 1.0) from None
            except OSError:  # refused, reset, closed before answering (ServerDisconnected): a GET may try again
                if last or not await self._backoff(upstream, attempt, deadline):
                    raise UpstreamUnavailable(upstream, 1.0) from None
                continue
            if answer.status in UNAVAILABLE_STATUSES and not last and await self._backoff(upstream, attempt, deadline):
                continue
            return answer
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _once(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
                    timeout: float) -> UpstreamAnswer:
        answer = await self._calls.exchange(self._calls.prepare(method, url, body or b"", headers), timeout)
        return UpstreamAnswer(answer.status, answer.body, answer.headers)

    async def _backoff(self, upstream: str, attempt: int, deadline: float) -> bool:
        """Sleep a full-jitter backoff if it fits before the deadline; False when it does not."""
        delay = random.uniform(0, self._settings.retry_backoff_seconds * 2**attempt)
        if asyncio.get_running_loop().time() + delay >= deadline:
            return False
        metrics.UPSTREAM_RETRIES.labels(upstream=upstream).inc()
        await asyncio.sleep(delay)
        return True
