"""The console's one client of the public API: every read and write a page makes, through the gateway's `/v1`
calls, with the signed-in user's token. Nothing here decides anything; problems come back as `ApiProblem`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import aiohttp
import orjson
from pydantic import BaseModel, TypeAdapter

from console import metrics
from console.adapters.shapes import (
    AccessToken,
    Analytics,
    Appointment,
    Clinic,
    Health,
    Notification,
    OpenSlot,
    Provider,
    Quote,
    Schedule,
    Service,
    Slot,
    TimeOff,
    User,
    WaitlistEntry,
    WorkingHoursRule,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_PAGES = 20  # a list is read page by page up to this many pages (200 items each)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class ApiProblem(Exception):
    """A problem+json answer (or something that stood for one), as the page shows it."""

    status: int
    code: str
    title: str
    detail: str = ""
    errors: list[FieldError] = field(default_factory=list)
    body: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.detail or self.title}"

    def field_messages(self) -> dict[str, str]:
        """Each named field's first message."""
        messages: dict[str, str] = {}
        for error in self.errors:
            messages.setdefault(error.field, error.message)
        return messages


def problem_from(status: int, body: Any) -> ApiProblem:
    """The problem an answer carries; a body that is not a problem still becomes one, with the status's words."""
    if not isinstance(body, dict):
        body = {}
    errors = [
        FieldError(str(item.get("field") or item.get("loc") or ""), str(item.get("message") or item.get("msg") or ""))
        for item in body.get("errors") or [] if isinstance(item, dict)
    ]
    return ApiProblem(status, str(body.get("code") or f"http_{status}"), str(body.get("title") or "Request failed"),
                      str(body.get("detail") or ""), errors, body)


UNREACHABLE = ApiProblem(503, "upstream_unavailable", "Service unavailable",
                         "SmartSlot is not answering right now; try again in a moment.")


class Api:
    """Calls to the gateway for one bearer (or none, for sign-in and registration)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None, timeout: float,
                 catalog: CatalogCache | None = None, stream_session: aiohttp.ClientSession | None = None,
                 forwarded: Mapping[str, str] | None = None) -> None:
        self._session = session
        self._forwarded = dict(forwarded or {})
        self._stream_session = stream_session or session
        self._base = base_url
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._catalog = catalog

    # --- plumbing -------------------------------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"} | self._forwarded
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers | dict(extra or {})

    async def call(self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None) -> Any:
        """The parsed JSON answer of a 2xx (None for an empty body); `ApiProblem` otherwise."""
        sent = self._headers(headers)
        data = None
        if body is not None:
            data, sent["Content-Type"] = orjson.dumps(body), "application/json"
        try:
            async with self._session.request(method, self._base + path, data=data, params=params, headers=sent,
                                             timeout=self._timeout, allow_redirects=False) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            metrics.API_CALLS.labels(method=method, status_class="unreachable").inc()
            raise UNREACHABLE from None
        metrics.API_CALLS.labels(method=method, status_class=f"{status // 100}xx").inc()
        parsed = _parse(raw)
        if status >= 400:
            raise problem_from(status, parsed)
        return parsed

    async def raw(self, path: str) -> tuple[bytes, str, str | None]:
        """A non-JSON answer (a calendar file): body, content type and Content-Disposition."""
        try:
            async with self._session.get(self._base + path, headers=self._headers({"Accept": "*/*"}),
                                         timeout=self._timeout, allow_redirects=False) as response:
                body = await response.read()
                if response.status >= 400:
                    raise problem_from(response.status, _parse(body))
                return body, response.content_type, response.headers.get("Content-Disposition")
        except (aiohttp.ClientError, TimeoutError):
            raise UNREACHABLE from None

    @asynccontextmanager
    async def stream(self, path: str, params: Mapping[str, str], last_event_id: str | None
                     ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An open event stream of the API (no total deadline: it lasts as long as the page)."""
        headers = self._headers({"Accept": "text/event-stream"})
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.total, sock_read=None)
        try:
            async with self._stream_session.get(self._base + path, params=params, headers=headers,
                                                timeout=timeout) as answer:
                if answer.status >= 400:
                    raise problem_from(answer.status, _parse(await answer.read()))
                yield answer
        except (aiohttp.ClientConnectionError, TimeoutError):
            raise UNREACHABLE from None

    async def _model(self, model: type[ModelT], method: str, path: str, body: Any = None,
                     params: Mapping[str, str] | None = None) -> ModelT:
        return model.model_validate(await self.call(method, path, body, params))

    async def _items(self, model: type[ModelT], path: str, params: Mapping[str, str] | None = None) -> list[ModelT]:
        """Every item of a list, following its cursor (up to MAX_PAGES pages)."""
        adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
        query, found = dict(params or {}) | {"limit": "200"}, []
        for _ in range(MAX_PAGES):
            page = await self.call("GET", path, params=query)
            found.extend(adapter.validate_python(page.get("items", [])))
            if not page.get("next_cursor"):
                break
            query["cursor"] = page["next_cursor"]
        return found

    async def _cached_items(self, model: type[ModelT], path: str, params: Mapping[str, str] | None = None,
                            fresh: bool = False) -> list[ModelT]:
        if self._catalog is None or fresh:
            return await self._items(model, path, params)
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        kept: list[ModelT] = await self._catalog.get(key, lambda: self._items(model, path, params))
        return kept

    def forget_catalog(self) -> None:
        """Read the catalog afresh next time (something on the page named what the kept copy does not know)."""
        if self._catalog is not None:
            self._catalog.clear()

    # --- identity -------------------------------------------------------------------------------------------------

    async def sign_in(self, email: str, password: str) -> AccessToken:
        return await self._model(AccessToken, "POST", "/v1/auth/token", {"email": email, "password": password})

    async def register(self, email: str, password: str, name: str) -> User:
        return await self._model(User, "POST", "/v1/auth/register",
                                 {"email": email, "password": password, "name": name})

    async def me(self) -> User:
        return await self._model(User, "GET", "/v1/me")

    async def users(self) -> list[User]:
        return await self._items(User, "/v1/admin/users")

    async def create_user(self, email: str, password: str, name: str, role: str) -> User:
        return await self._model(User, "POST", "/v1/admin/users",
                                 {"email": email, "password": password, "name": name, "role": role})

    async def change_role(self, user_id: str, role: str) -> User:
        return await self._model(User, "PATCH", f"/v1/admin/users/{user_id}", {"role": role})

    # --- catalog --------------------------------------------------------------------------------------------------

    async def services(self, fresh: bool = False) -> list[Service]:
        return await self._cached_items(Service, "/v1/services", fresh=fresh)

    async def clinics(self, fresh: bool = False) -> list[Clinic]:
        return await self._cached_items(Clinic, "/v1/clinics", fresh=fresh)

    async def providers(self, fresh: bool = False) -> list[Provider]:
        return await self._cached_items(Provider, "/v1/providers", fresh=fresh)

    async def create_service(self, body: dict[str, Any]) -> Service:
        return await self._changed(await self._model(Service, "POST", "/v1/services", body))

    async def update_service(self, service_id: str, body: dict[str, Any]) -> Service:
        return await self._changed(await self._model(Service, "PATCH", f"/v1/services/{service_id}", body))

    async def create_clinic(self, body: dict[str, Any]) -> Clinic:
        return await self._changed(await self._model(Clinic, "POST", "/v1/clinics", body))

    async def create_provider(self, body: dict[str, Any]) -> Provider:
        return await self._changed(await self._model(Provider, "POST", "/v1/providers", body))

    async def _changed(self, result: ModelT) -> ModelT:
        if self._catalog is not None:
            self._catalog.clear()  # this process shows its own change at once
        return result

    # --- availability and schedules -------------------------------------------------------------------------------

    async def availability(self, service_id: str, start: datetime, end: datetime, provider_id: str | None = None,
                           clinic_id: str | None = None) -> list[OpenSlot]:
        answer = await self.call("GET", "/v1/availability", params=availability_params(
            service_id, start, end, provider_id, clinic_id))
        return TypeAdapter(list[OpenSlot]).validate_python(answer["slots"])

    async def schedule(self, provider_id: str, day: date) -> Schedule:
        return await self._model(Schedule, "GET", f"/v1/providers/{provider_id}/schedule",
                                 params={"date": day.isoformat()})

    async def working_hours(self, provider_id: str) -> list[WorkingHoursRule]:
        """The provider's weekly rules as saved."""
        answer = await self.call("GET", f"/v1/providers/{provider_id}/working-hours")
        return TypeAdapter(list[WorkingHoursRule]).validate_python(answer["rules"])

    async def set_working_hours(self, provider_id: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("PUT", f"/v1/providers/{provider_id}/working-hours",
                                                 {"rules": rules})
        return answer

    async def add_time_off(self, provider_id: str, starts_at: datetime, ends_at: datetime, reason: str,
                           cancel_conflicting: bool) -> TimeOff:
        return await self._model(TimeOff, "POST", f"/v1/providers/{provider_id}/time-off", {
            "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), "reason": reason,
            "cancel_conflicting": cancel_conflicting})

    async def add_slot(self, provider_id: str, service_id: str, starts_at: datetime, capacity: int) -> Slot:
        return await self._model(Slot, "POST", f"/v1/providers/{provider_id}/slots", {
            "service_id": service_id, "starts_at": starts_at.isoformat(), "capacity": capacity})

    async def delete_slot(self, slot_id: str) -> None:
        await self.call("DELETE", f"/v1/slots/{slot_id}")

    # --- appointments ---------------------------------------------------------------------------------------------

    async def hold(self, slot_id: str) -> Appointment:
        return await self._model(Appointment, "POST", "/v1/holds", {"slot_id": slot_id})

    async def appointments(self, status: str | None = None) -> list[Appointment]:
        return await self._items(Appointment, "/v1/appointments", {"status": status} if status else None)

    async def appointment(self, appointment_id: str) -> Appointment:
        return await self._model(Appointment, "GET", f"/v1/appointments/{appointment_id}")

    async def transition(self, appointment_id: str, action: str, body: dict[str, Any] | None = None) -> Appointment:
        """confirm, cancel, complete, no-show or reschedule."""
        return await self._model(Appointment, "POST", f"/v1/appointments/{appointment_id}/{action}", body)

    async def quote(self, appointment_id: str) -> Quote:
        return await self._model(Quote, "GET", f"/v1/appointments/{appointment_id}/cancellation-quote")

    async def calendar(self, appointment_id: str) -> tuple[bytes, str, str | None]:
        return await self.raw(f"/v1/appointments/{appointment_id}/calendar.ics")

    # --- waitlist and notifications -------------------------------------------------------------------------------

    async def waitlist(self) -> list[WaitlistEntry]:
        return await self._items(WaitlistEntry, "/v1/waitlist")

    async def join_waitlist(self, body: dict[str, Any]) -> WaitlistEntry:
        return await self._model(WaitlistEntry, "POST", "/v1/waitlist", body)

    async def leave_waitlist(self, entry_id: str) -> None:
        await self.call("DELETE", f"/v1/waitlist/{entry_id}")

    async def notifications(self) -> list[Notification]:
        page = await self.call("GET", "/v1/notifications", params={"limit": "50"})
        return TypeAdapter(list[Notification]).validate_python(page.get("items", []))

    async def mark_read(self, notification_id: str) -> None:
        await self.call("POST", f"/v1/notifications/{notification_id}/read")

    # --- admin ----------------------------------------------------------------------------------------------------

    async def analytics(self, start: datetime, end: datetime) -> Analytics:
        return await self._model(Analytics, "GET", "/v1/admin/analytics",
                                 params={"from": start.isoformat(), "to": end.isoformat()})

    async def health(self) -> Health:
        return await self._model(Health, "GET", "/v1/admin/health")


def availability_params(service_id: str, start: datetime, end: datetime, provider_id: str | None,
                        clinic_id: str | None) -> dict[str, str]:
    """The query of a search (and of its live stream)."""
    params = {"service_id": service_id, "from": start.isoformat(), "to": end.isoformat()}
    if provider_id:
        params["provider_id"] = provider_id
    if clinic_id:
        params["clinic_id"] = clinic_id
    return params


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"detail": raw[:200].decode(errors="replace")}


class CatalogCache:
    """Catalog lists (the same for every role) kept a few seconds per process, so a page does not ask for them
    on every click; a change this console makes clears them."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._kept: dict[str, tuple[float, Any]] = {}

    async def get(self, key: str, load: Any) -> Any:
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self._ttl:
            return kept[1]
        value = await load()
        self._kept[key] = (now, value)
        return value

    def clear(self) -> None:
        self._kept.clear()
