"""Where webhook calls may go: https (http only when allowed) to public addresses, checked after resolution.

The HTTP session's connector resolves each host through `GuardedResolver`, which refuses the whole answer if any
address in it is refused, and aiohttp connects to the addresses that resolution returned (the URL's name stays in
the Host header and the TLS SNI). The address checked is therefore the address connected to: a name that answers
with a public address when checked and a private one a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult

from notifier.domain.addresses import AddressPolicy, parse_address
from notifier.settings import NotifierSettings

# A registration waits this long for the host's name to resolve (a hung resolver must not hold the request).
RESOLVE_TIMEOUT_SECONDS = 5.0


class DestinationRefused(OSError):
    """A webhook destination the policy refuses (an OSError, so aiohttp carries it as a connection error)."""


class GuardedResolver(AbstractResolver):
    """Resolves through `inner` and refuses an answer holding any address the policy refuses."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = parse_address(result["host"])
            problem = self._policy.problem(address) if address else f"{result['host']!r} is not an address"
            if problem:
                raise DestinationRefused(f"{host} resolves to a refused address: {problem}")
        return results

    async def close(self) -> None:
        await self._inner.close()


class Destinations:
    """The rules for webhook URLs, and the resolver that enforces them on every connection."""

    def __init__(self, policy: AddressPolicy, allow_http: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_http = allow_http
        self.policy = policy
        self.resolver = GuardedResolver(policy, inner or ThreadedResolver())

    @classmethod
    def from_settings(cls, settings: NotifierSettings, inner: AbstractResolver | None = None) -> Destinations:
        return cls(AddressPolicy(settings.webhooks_allowed_networks), settings.webhooks_allow_http, inner)

    def static_problem(self, url: str) -> str | None:
        """What is wrong with `url` before any resolution: its scheme, or its host when that is an address."""
        parts = urlsplit(url)
        address = parse_address(parts.hostname or "")
        problem = self.policy.problem(address) if address is not None else None
        scheme = parts.scheme.lower()
        if not problem and scheme != "https" and not (scheme == "http" and self.allow_http):
            problem = "only https URLs are allowed"
        return problem

    async def problem(self, url: str) -> str | None:
        """Why webhooks cannot be sent to `url` now (scheme, or any address its host resolves to), or None."""
        static = self.static_problem(url)
        parts = urlsplit(url)
        if static or parse_address(parts.hostname or "") is not None:
            return static
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                await self.resolver.resolve(host, port, socket.AF_UNSPEC)
        except DestinationRefused as refused:
            return str(refused)
        except (OSError, TimeoutError):
            return f"the host {host} does not resolve"
        return None

    async def close(self) -> None:
        await self.resolver.close()


def refusal(error: BaseException) -> DestinationRefused | None:
    """The `DestinationRefused` somewhere in the chain of `error` (aiohttp wraps what the resolver raised)."""
    seen: BaseException | None = error
    for _ in range(8):  # a chain is short; never loop on a cycle
        if seen is None or isinstance(seen, DestinationRefused):
            return seen
        seen = seen.__cause__ or getattr(seen, "os_error", None)
    return None
