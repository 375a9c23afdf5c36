"""A provider's pages: the day and the week on a time line in their zone, working hours, time off (with its
conflicts), ad-hoc slots, and marking visits completed or no-show. Admins see any provider's (`?provider_id=`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from console.adapters.api import Api, ApiProblem
from console.adapters.shapes import Provider
from console.domain.forms import FormErrors, read_slot, read_time_off, zone_named
from console.domain.hours import read_working_hours, rows_from_form, rows_from_rules
from console.domain.timeline import timeline
from console.entrypoints.client import Catalog, catalog, catalog_naming
from console.web import api_for, redirect, render, require

routes = web.RouteTableDef()
ROLES = ("provider", "admin")


async def own_provider(request: web.Request, api: Api) -> Provider:
    """The provider whose pages these are: the signed-in provider's own, or for an admin the one named."""
    session = require(request, *ROLES)
    wanted = request.query.get("provider_id")
    for fresh in (False, True):  # a provider created a moment ago may not be in the kept catalog yet
        for provider in await api.providers(fresh):
            if (session.role == "admin" and provider.id == wanted) or (
                    session.role == "provider" and provider.user_id == session.user_id):
                return provider
    if session.role == "admin":
        raise ApiProblem(404, "not_found", "Not found", "Choose a provider from the Providers page.")
    raise ApiProblem(404, "not_found", "No provider profile",
                     "Your account has no provider profile yet; an admin creates it on the Providers page.")


async def provider_catalog(api: Api, provider: Provider) -> Catalog:
    """The catalog, knowing at least the provider's own services."""
    return await catalog_naming(api, await catalog(api), (), provider.service_ids)


def _day(request: web.Request, provider: Provider) -> date:
    try:
        return date.fromisoformat(request.query.get("date", ""))
    except ValueError:
        return datetime.now(zone_named(provider.timezone)).date()


def _links(provider: Provider, admin: bool, **extra: str) -> str:
    query = ({"provider_id": provider.id} if admin else {}) | extra
    return ("?" + urlencode(query)) if query else ""


@routes.get("/provider/day")
async def day_view(request: web.Request) -> web.Response:
    session = require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    day = _day(request, provider)
    found, schedule = await asyncio.gather(provider_catalog(api, provider), api.schedule(provider.id, day))
    zone = zone_named(schedule.timezone)
    admin = session.role == "admin"
    return render(request, "provider/day.html", provider=provider, day=day, schedule=schedule, zone=zone,
                  line=timeline(zone, [(day, schedule.slots, schedule.appointments)]), catalog=found,
                  now=datetime.now(UTC), errors={}, values={},
                  previous=_links(provider, admin, date=(day - timedelta(days=1)).isoformat()),
                  following=_links(provider, admin, date=(day + timedelta(days=1)).isoformat()),
                  week=_links(provider, admin, date=day.isoformat()), suffix=_links(provider, admin),
                  notice=request.query.get("notice", ""))


@routes.get("/provider/week")
async def week_view(request: web.Request) -> web.Response:
    session = require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    first = _day(request, provider)
    first -= timedelta(days=first.weekday())
    days = [first + timedelta(days=offset) for offset in range(7)]
    schedules = await asyncio.gather(*(api.schedule(provider.id, day) for day in days))
    zone = zone_named(schedules[0].timezone)
    admin = session.role == "admin"
    line = timeline(zone, [(day, s.slots, s.appointments) for day, s in zip(days, schedules, strict=True)])
    return render(request, "provider/week.html", provider=provider, days=days, schedules=schedules, zone=zone,
                  line=line, previous=_links(provider, admin, date=(first - timedelta(days=7)).isoformat()),
                  following=_links(provider, admin, date=(first + timedelta(days=7)).isoformat()),
                  suffix=_links(provider, admin))


@routes.post("/provider/appointments/{id}/{action:complete|no-show}")
async def mark_visit(request: web.Request) -> web.StreamResponse:
    """Mark a visit completed or a no-show (the API refuses one that has not started)."""
    require(request, *ROLES)
    form = await request.post()
    appointment = await api_for(request).transition(request.match_info["id"], request.match_info["action"])
    back = form.get("back") if isinstance(form.get("back"), str) else "/provider/day"
    return redirect(request, _back(str(back), f"marked-{appointment.status}"))


def _back(path: str, notice: str) -> str:
    target = path if path.startswith("/provider/") else "/provider/day"
    return target + ("&" if "?" in target else "?") + "notice=" + notice


@routes.post("/provider/slots")
async def add_slot(request: web.Request) -> web.StreamResponse:
    session = require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    form = await request.post()
    zone = zone_named(provider.timezone)
    try:
        service_id, starts_at, capacity = read_slot(form, zone, datetime.now(UTC))
        await api.add_slot(provider.id, service_id, starts_at, capacity)
    except (FormErrors, ApiProblem) as refused:
        if isinstance(refused, ApiProblem) and refused.status not in (409, 422):
            raise
        errors = refused.messages if isinstance(refused, FormErrors) else (
            refused.field_messages() or {"starts_at": refused.detail or refused.title})
        day = _day(request, provider)
        found, schedule = await asyncio.gather(provider_catalog(api, provider), api.schedule(provider.id, day))
        admin = session.role == "admin"
        return render(request, "provider/day.html", status=422 if isinstance(refused, FormErrors) else
                      refused.status, provider=provider, day=day, schedule=schedule, zone=zone,
                      line=timeline(zone, [(day, schedule.slots, schedule.appointments)]), catalog=found,
                      now=datetime.now(UTC), errors=errors, values={k: str(v) for k, v in form.items()},
                      previous=_links(provider, admin, date=(day - timedelta(days=1)).isoformat()),
                      following=_links(provider, admin, date=(day + timedelta(days=1)).isoformat()),
                      week=_links(provider, admin, date=day.isoformat()), suffix=_links(provider, admin), notice="")
    return redirect(request, "/provider/day" + _links(provider, session.role == "admin",
                                                      date=starts_at.date().isoformat(), notice="slot-added"))


@routes.post("/provider/slots/{id}/delete")
async def delete_slot(request: web.Request) -> web.StreamResponse:
    session = require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    await api.delete_slot(request.match_info["id"])
    return redirect(request, "/provider/day" + _links(provider, session.role == "admin", notice="slot-deleted"))


# --- working hours -------------------------------------------------------------------------------------------------


@routes.get("/provider/hours")
async def hours_page(request: web.Request) -> web.Response:
    """The week as saved, ready to edit (saving replaces it whole, so every saved period is on the form)."""
    require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    found, rules = await asyncio.gather(provider_catalog(api, provider), api.working_hours(provider.id))
    return render(request, "provider/hours.html", provider=provider, catalog=found, rows=rows_from_rules(rules),
                  errors={}, notice=request.query.get("notice", ""), created=request.query.get("created"))


@routes.post("/provider/hours")
async def set_hours(request: web.Request) -> web.StreamResponse:
    session = require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    form = await request.post()
    try:
        rules = read_working_hours(form)
        answer = await api.set_working_hours(provider.id, rules)
    except (FormErrors, ApiProblem) as refused:
        if isinstance(refused, ApiProblem) and refused.status not in (409, 422):
            raise
        errors = refused.messages if isinstance(refused, FormErrors) else (
            refused.field_messages() or {"week": refused.detail or refused.title})
        found = await provider_catalog(api, provider)
        return render(request, "provider/hours.html", status=422 if isinstance(refused, FormErrors) else
                      refused.status, provider=provider, catalog=found, rows=rows_from_form(form), errors=errors,
                      notice="", created=None)
    created = str(answer.get("slots_created", 0))
    return redirect(request, "/provider/hours" + _links(provider, session.role == "admin", notice="saved",
                                                        created=created))


# --- time off ------------------------------------------------------------------------------------------------------


@routes.get("/provider/time-off")
async def time_off_page(request: web.Request) -> web.Response:
    require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    return render(request, "provider/time_off.html", provider=provider, errors={}, values={}, conflicts=[],
                  catalog=None, zone=zone_named(provider.timezone), notice=request.query.get("notice", ""))


@routes.post("/provider/time-off")
async def add_time_off(request: web.Request) -> web.StreamResponse:
    """Block a period; when visits fall in it, list them and let the provider cancel them with it."""
    session = require(request, *ROLES)
    api = api_for(request)
    provider = await own_provider(request, api)
    form = await request.post()
    zone = zone_named(provider.timezone)
    values = {k: str(v) for k, v in form.items()}
    context: dict[str, Any] = {"provider": provider, "values": values, "zone": zone, "notice": "", "catalog": None}
    try:
        starts_at, ends_at, reason = read_time_off(form, zone, datetime.now(UTC))
        cancel = form.get("cancel_conflicting") == "yes"
        result = await api.add_time_off(provider.id, starts_at, ends_at, reason, cancel)
    except FormErrors as invalid:
        return render(request, "provider/time_off.html", status=422, errors=invalid.messages, conflicts=[],
                      **context)
    except ApiProblem as problem:
        if problem.code == "conflicting_appointments":
            ids = [str(item) for item in problem.body.get("appointment_ids") or []]
            conflicts = await asyncio.gather(*(api.appointment(item) for item in ids))
            return render(request, "provider/time_off.html", status=409, errors={}, conflicts=conflicts,
                          **context | {"catalog": await provider_catalog(api, provider)})
        if problem.status != 422:
            raise
        return render(request, "provider/time_off.html", status=422, conflicts=[],
                      errors=problem.field_messages() or {"ends_at": problem.detail}, **context)
    notice = f"blocked-{len(result.blocked_slot_ids)}-cancelled-{len(result.cancelled_appointment_ids)}"
    return redirect(request, "/provider/time-off" + _links(provider, session.role == "admin", notice=notice))
