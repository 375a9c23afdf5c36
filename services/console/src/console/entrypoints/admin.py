"""An admin's pages: services with their cancellation policies, clinics, providers, users and roles; analytics
drawn as SVG; the health of every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from console.adapters.api import Api, ApiProblem
from console.adapters.shapes import Analytics
from console.domain import charts
from console.domain.forms import (
    FormErrors,
    Reader,
    read_clinic,
    read_period,
    read_policy,
    read_provider,
    read_service,
    read_user,
)
from console.entrypoints.client import catalog
from console.web import api_for, redirect, render, require

routes = web.RouteTableDef()
ADMIN = "admin"
STATUSES = ("confirmed", "completed", "cancelled", "expired", "no_show")
MAX_DAILY_CALLS = 31  # the over-time chart asks once per day for up to a month, else once per week


async def _form_page(request: web.Request, template: str, save: Callable[[Api, Any], Awaitable[Any]],
                     load: Callable[[Api], Awaitable[dict[str, Any]]], done: str) -> web.StreamResponse:
    """Post a form: on success back to the list with a notice; a refusal shows the list with the field's message."""
    require(request, ADMIN)
    api = api_for(request)
    form = await request.post()
    try:
        await save(api, form)
    except (FormErrors, ApiProblem) as refused:
        if isinstance(refused, ApiProblem) and refused.status not in (404, 409, 422):
            raise
        errors = refused.messages if isinstance(refused, FormErrors) else (
            refused.field_messages() or {"form": refused.detail or refused.title})
        status = 422 if isinstance(refused, FormErrors) else refused.status
        return render(request, template, status=status, errors=errors, notice="",
                      values={k: str(v) for k, v in form.items()}, **await load(api))
    return redirect(request, done)


# --- services ------------------------------------------------------------------------------------------------------


async def _services(api: Api) -> dict[str, Any]:
    return {"services": await api.services()}


@routes.get("/admin/services")
async def services_page(request: web.Request) -> web.Response:
    require(request, ADMIN)
    return render(request, "admin/services.html", errors={}, values={}, notice=request.query.get("notice", ""),
                  **await _services(api_for(request)))


@routes.post("/admin/services")
async def create_service(request: web.Request) -> web.StreamResponse:
    return await _form_page(request, "admin/services.html", lambda api, form: api.create_service(read_service(form)),
                            _services, "/admin/services?notice=created")


@routes.post("/admin/services/{id}/policy")
async def change_policy(request: web.Request) -> web.StreamResponse:
    service_id = request.match_info["id"]

    async def save(api: Api, form: Any) -> None:
        reader = Reader(form)
        policy = read_policy(form, reader)
        reader.done()
        await api.update_service(service_id, {"cancellation_policy": policy})

    return await _form_page(request, "admin/services.html", save, _services, "/admin/services?notice=policy-changed")


# --- clinics and providers ---------------------------------------------------------------------------------------


async def _clinics(api: Api) -> dict[str, Any]:
    return {"clinics": await api.clinics()}


@routes.get("/admin/clinics")
async def clinics_page(request: web.Request) -> web.Response:
    require(request, ADMIN)
    return render(request, "admin/clinics.html", errors={}, values={}, notice=request.query.get("notice", ""),
                  **await _clinics(api_for(request)))


@routes.post("/admin/clinics")
async def create_clinic(request: web.Request) -> web.StreamResponse:
    return await _form_page(request, "admin/clinics.html", lambda api, form: api.create_clinic(read_clinic(form)),
                            _clinics, "/admin/clinics?notice=created")


async def _providers(api: Api) -> dict[str, Any]:
    found, users = await asyncio.gather(catalog(api), api.users())
    return {"catalog": found, "users": [user for user in users if user.role == "provider"]}


@routes.get("/admin/providers")
async def providers_page(request: web.Request) -> web.Response:
    require(request, ADMIN)
    return render(request, "admin/providers.html", errors={}, values={}, notice=request.query.get("notice", ""),
                  **await _providers(api_for(request)))


@routes.post("/admin/providers")
async def create_provider(request: web.Request) -> web.StreamResponse:
    async def save(api: Api, form: Any) -> None:
        await api.create_provider(read_provider(form, [str(v) for v in form.getall("service_ids", [])]))

    return await _form_page(request, "admin/providers.html", save, _providers, "/admin/providers?notice=created")


# --- users -------------------------------------------------------------------------------------------------------


async def _users(api: Api) -> dict[str, Any]:
    return {"users": await api.users()}


@routes.get("/admin/users")
async def users_page(request: web.Request) -> web.Response:
    require(request, ADMIN)
    return render(request, "admin/users.html", errors={}, values={}, notice=request.query.get("notice", ""),
                  **await _users(api_for(request)))


@routes.post("/admin/users")
async def create_user(request: web.Request) -> web.StreamResponse:
    async def save(api: Api, form: Any) -> None:
        body = read_user(form)
        await api.create_user(body["email"], body["password"], body["name"], body["role"])

    return await _form_page(request, "admin/users.html", save, _users, "/admin/users?notice=created")


@routes.post("/admin/users/{id}/role")
async def change_role(request: web.Request) -> web.StreamResponse:
    user_id = request.match_info["id"]

    async def save(api: Api, form: Any) -> None:
        reader = Reader(form)
        role = reader.text("role", label="The role")
        if role not in ("client", "provider", "admin"):
            reader.errors["role"] = "Choose client, provider or admin."
        reader.done()
        await api.change_role(user_id, role)

    return await _form_page(request, "admin/users.html", save, _users, "/admin/users?notice=role-changed")


# --- analytics and health ------------------------------------------------------------------------------------------


def periods(first: date, last: date) -> list[tuple[str, datetime, datetime]]:
    """The chart's buckets over [first, last]: days, or weeks when the period is longer than a month."""
    step = 1 if (last - first).days + 1 <= MAX_DAILY_CALLS else 7
    buckets, day = [], first
    while day <= last:
        end = min(day + timedelta(days=step), last + timedelta(days=1))
        label = day.strftime("%d %b") if step == 1 else f"wk {day:%d %b}"
        buckets.append((label, datetime.combine(day, time(0), UTC), datetime.combine(end, time(0), UTC)))
        day = end
    return buckets


def analytics_charts(total: Analytics, buckets: list[tuple[str, Analytics]]) -> list[charts.Chart]:
    """Every chart the analytics page draws."""
    return [
        charts.stacked_bars("Bookings by status", [label for label, _ in buckets],
                            [(status.replace("_", " "), [float(b.bookings.get(status, 0)) for _, b in buckets])
                             for status in STATUSES]),
        charts.bars("Utilisation by provider", [(p.display_name, p.utilization) for p in total.by_provider],
                    as_percent=True),
        charts.bars("Cancellation rate by provider",
                    [(p.display_name, p.cancellation_rate) for p in total.by_provider], as_percent=True),
        charts.bars("Cancellation fees by clinic", [(c.name, c.fees_cents / 100) for c in total.by_clinic]),
        charts.bars("Hold → confirm conversion by clinic", [(c.name, c.hold_conversion) for c in total.by_clinic],
                    as_percent=True),
        charts.bars("Waitlist fill rate by clinic", [(c.name, c.waitlist.get("fill_rate", 0.0))
                                                     for c in total.by_clinic], as_percent=True),
    ]


@routes.get("/admin/analytics")
async def analytics_page(request: web.Request) -> web.Response:
    require(request, ADMIN)
    today = datetime.now(UTC).date()
    try:
        first, last = read_period(request.query, today)
    except FormErrors as invalid:
        first, last = read_period({}, today)
        return await _analytics(request, first, last, invalid.messages, 422)
    return await _analytics(request, first, last, {}, 200)


async def _analytics(request: web.Request, first: date, last: date, errors: dict[str, str],
                     status: int) -> web.Response:
    api = api_for(request)
    buckets = periods(first, last)
    start, end = buckets[0][1], buckets[-1][2]
    total, *parts = await asyncio.gather(api.analytics(start, end),
                                         *(api.analytics(b_start, b_end) for _, b_start, b_end in buckets))
    drawn = analytics_charts(total, [(label, part) for (label, _, _), part in zip(buckets, parts, strict=True)])
    return render(request, "admin/analytics.html", status=status, total=total, charts=drawn, errors=errors,
                  values={"from": first.isoformat(), "to": last.isoformat()})


@routes.get("/admin/health")
async def health_page(request: web.Request) -> web.Response:
    require(request, ADMIN)
    return render(request, "admin/health.html", health=await api_for(request).health())
