"""A small client of SmartSlot's HTTP API, for the demo seed, tests and benchmarks: through the gateway with a bearer
token here, or straight to one service as the gateway would (`smartslot_common.testing.service_api`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient


@dataclass(frozen=True)
class Answer:
    """A response: status, parsed JSON body (or None) and headers."""

    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str | None:
        """The problem's error code, when the answer is a problem."""
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def content_type(self) -> str:
        """The body's media type, without parameters (`application/problem+json`, `text/calendar`)."""
        value = next((value for name, value in self.headers.items() if name.lower() == "content-type"), "")
        return value.split(";", 1)[0].strip()


class ApiClient:
    """Calls the gateway (or, with an aiohttp test client and no base URL, an app under test) with an optional bearer
    token; never raises on 4xx/5xx."""

    def __init__(self, session: aiohttp.ClientSession | TestClient[Any, Any], base_url: str = "") -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")

    async def call(
        self, method: str, path: str, token: str | None = None, json: Any = None,
        headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if json is not None:
            data, sent["Content-Type"] = orjson.dumps(json), "application/json"
        async with self._session.request(
            method, self.base_url + path, data=data, headers=sent, params=params
        ) as response:
            raw = await response.read()
            parsed = orjson.loads(raw) if raw and "json" in response.content_type else raw.decode(errors="replace")
            return Answer(response.status, parsed, dict(response.headers))

    async def token(self, email: str, password: str) -> str:
        """An access token for these credentials (fails loudly when refused)."""
        answer = await self.call("POST", "/v1/auth/token", json={"email": email, "password": password})
        if answer.status != 200:
            raise RuntimeError(f"sign-in as {email} refused: {answer.status} {answer.body}")
        token = answer.body.get("access_token") if isinstance(answer.body, dict) else None
        if not isinstance(token, str):
            raise RuntimeError(f"sign-in as {email} answered without an access token: {answer.body}")
        return token

    async def register(self, email: str, password: str, name: str) -> Answer:
        return await self.call("POST", "/v1/auth/register", json={"email": email, "password": password, "name": name})
