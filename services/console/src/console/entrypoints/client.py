"""A client's pages: search (live), hold with its countdown, confirm; appointments, cancel, reschedule, calendar
file; the waitlist."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from console.adapters.api import Api, ApiProblem, availability_params
from console.adapters.shapes import Appointment, Clinic, OpenSlot, Provider, Service
from console.domain.days import group_by_day, index_by, split_upcoming
from console.domain.forms import FormErrors, Reader, SearchForm, read_search, zone_named
from console.web import api_for, problem_page, redirect, render, require

routes = web.RouteTableDef()
CLIENT = "client"
RESCHEDULE_DAYS = 14


class Catalog:
    """The services, clinics and providers a page names things by."""

    def __init__(self, services: list[Service], clinics: list[Clinic], providers: list[Provider]) -> None:
        self.services = services
        self.clinics = clinics
        self.providers = providers
        self.service = index_by(services, lambda s: s.id)
        self.clinic = index_by(clinics, lambda c: c.id)
        self.provider = index_by(providers, lambda p: p.id)

    def zone_of_provider(self, provider_id: str) -> ZoneInfo:
        provider = self.provider.get(provider_id)
        clinic = self.clinic.get(provider.clinic_id) if provider else None
        return zone_named(clinic.timezone if clinic else provider.timezone if provider else None)

    def provider_name(self, provider_id: str) -> str:
        provider = self.provider.get(provider_id)
        return provider.display_name if provider else "A provider"

    def clinic_name(self, provider_id: str) -> str:
        provider = self.provider.get(provider_id)
        clinic = self.clinic.get(provider.clinic_id) if provider else None
        return clinic.name if clinic else ""

    def service_name(self, service_id: str) -> str:
        service = self.service.get(service_id)
        return service.name if service else "A service"


async def catalog(api: Api, fresh: bool = False) -> Catalog:
    services, clinics, providers = await asyncio.gather(api.services(fresh), api.clinics(fresh), api.providers(fresh))
    return Catalog(services, clinics, providers)


async def catalog_naming(api: Api, found: Catalog, provider_ids: Any, service_ids: Any = (),
                         clinic_ids: Any = ()) -> Catalog:
    """`found`, or the catalog read afresh when it does not know a provider, service or clinic it must name."""
    if (any(p not in found.provider for p in provider_ids) or any(s not in found.service for s in service_ids)
            or any(c and c not in found.clinic for c in clinic_ids)):
        api.forget_catalog()
        return await catalog(api, fresh=True)
    return found


async def naming(api: Api, found: Catalog, appointments: Any) -> Catalog:
    """The catalog, knowing every provider and service these appointments name."""
    listed = list(appointments)
    return await catalog_naming(api, found, {a.provider_id for a in listed}, {a.service_id for a in listed})


def _today(zone: ZoneInfo) -> Any:
    return datetime.now(zone).date()


def search_zone(found: Catalog, query: Mapping[str, str]) -> ZoneInfo:
    """Dates in the search form are days of the chosen clinic's zone (else of the only clinic, else UTC)."""
    clinic = found.clinic.get(query.get("clinic_id", ""))
    if clinic is None and len(found.clinics) == 1:
        clinic = found.clinics[0]
    return zone_named(clinic.timezone if clinic else None)


def slot_groups(found: Catalog, slots: list[OpenSlot]) -> list[Any]:
    return group_by_day(slots, lambda s: found.zone_of_provider(s.provider_id),
                        lambda s: found.provider_name(s.provider_id), lambda s: found.clinic_name(s.provider_id))


# --- search ------------------------------------------------------------------------------------------------------


@routes.get("/search")
async def search_page(request: web.Request) -> web.Response:
    """The search form and, once a service is chosen, the open slots grouped by day, updated live."""
    require(request, CLIENT)
    api = api_for(request)
    found = await catalog_naming(api, await catalog(api), (), (), (request.query.get("clinic_id"),))
    zone = search_zone(found, request.query)
    today = _today(zone)
    values = {"from": today.isoformat(), "to": (today + timedelta(days=6)).isoformat()} | dict(request.query)
    context: dict[str, Any] = {"catalog": found, "values": values, "errors": {}, "search": None, "groups": []}
    if "service_id" not in request.query:
        return render(request, "client/search.html", **context)
    try:
        search = read_search(request.query, zone, today)
    except FormErrors as invalid:
        return render(request, "client/search.html", status=422, **context | {"errors": invalid.messages})
    try:
        slots = await api.availability(search.service_id, search.start, search.end, search.provider_id,
                                       search.clinic_id)
    except ApiProblem as problem:
        if problem.status in (404, 422):
            errors = problem.field_messages() or {"service_id": problem.detail}
            return render(request, "client/search.html", status=problem.status, **context | {"errors": errors})
        raise
    found = context["catalog"] = await catalog_naming(api, found, {s.provider_id for s in slots},
                                                      {search.service_id})
    return render(request, "client/search.html", **context | {
        "search": search, "groups": slot_groups(found, slots), "live_query": _live_query(search)})


def _live_query(search: SearchForm) -> str:
    from urllib.parse import urlencode

    return urlencode(availability_params(search.service_id, search.start, search.end, search.provider_id,
                                         search.clinic_id))


@routes.get("/search/slots")
async def search_slots(request: web.Request) -> web.Response:
    """The slot list alone: what the page swaps in when its live stream says something changed."""
    require(request, CLIENT)
    api = api_for(request)
    found = await catalog_naming(api, await catalog(api), (), (), (request.query.get("clinic_id"),))
    zone = search_zone(found, request.query)
    try:
        search = read_search(request.query, zone, _today(zone))
    except FormErrors as invalid:
        raise ApiProblem(422, "validation_error", "Invalid search", "; ".join(invalid.messages.values())) from None
    slots = await api.availability(search.service_id, search.start, search.end, search.provider_id,
                                   search.clinic_id)
    found = await catalog_naming(api, found, {s.provider_id for s in slots})
    return render(request, "client/_slots.html", groups=slot_groups(found, slots), search=search)


# --- hold and confirm --------------------------------------------------------------------------------------------


@routes.post("/holds")
async def hold(request: web.Request) -> web.Response:
    """Hold the clicked slot: its countdown and Confirm; a slot taken meanwhile shows the API's suggestions."""
    require(request, CLIENT)
    form = await request.post()
    slot_id = Reader(form).text("slot_id")
    api = api_for(request)
    found = await catalog(api)
    try:
        appointment = await api.hold(slot_id)
        found = await naming(api, found, [appointment])
    except ApiProblem as problem:
        if problem.status != 409:
            raise
        suggestions = [OpenSlot.model_validate(item) for item in problem.body.get("suggestions") or []]
        found = await catalog_naming(api, found, {s.provider_id for s in suggestions})
        return render(request, "client/_hold_refused.html", problem=problem,
                      groups=slot_groups(found, suggestions), catalog=found)
    return render(request, "client/_hold.html", appointment=appointment, catalog=found,
                  zone=found.zone_of_provider(appointment.provider_id))


@routes.post("/appointments/{id}/confirm")
async def confirm(request: web.Request) -> web.Response:
    require(request, CLIENT)
    api = api_for(request)
    found = await catalog(api)
    try:
        appointment = await api.transition(request.match_info["id"], "confirm")
    except ApiProblem as problem:
        return problem_page(request, problem, "client/_hold_over.html")
    found = await naming(api, found, [appointment])
    return render(request, "client/_confirmed.html", appointment=appointment, catalog=found,
                  zone=found.zone_of_provider(appointment.provider_id))


@routes.post("/appointments/{id}/release")
async def release(request: web.Request) -> web.Response:
    """Let a hold go before its time is up (it is cancelled; a hold costs nothing)."""
    require(request, CLIENT)
    await api_for(request).transition(request.match_info["id"], "cancel", {"reason": "released by the client"})
    return render(request, "client/_released.html")


# --- appointments ------------------------------------------------------------------------------------------------


@routes.get("/appointments")
async def appointments(request: web.Request) -> web.Response:
    require(request, CLIENT)
    api = api_for(request)
    found, mine = await asyncio.gather(catalog(api), api.appointments())
    found = await naming(api, found, mine)
    upcoming, past = split_upcoming(mine, datetime.now(UTC))
    return render(request, "client/appointments.html", upcoming=upcoming, past=past, catalog=found,
                  notice=request.query.get("notice", ""))


@routes.get("/appointments/{id}/cancel")
async def cancel_page(request: web.Request) -> web.Response:
    """What cancelling costs, before the client commits to it."""
    require(request, CLIENT)
    api = api_for(request)
    appointment_id = request.match_info["id"]
    found, appointment, quote = await asyncio.gather(catalog(api), api.appointment(appointment_id),
                                                     api.quote(appointment_id))
    found = await naming(api, found, [appointment])
    return render(request, "client/cancel.html", appointment=appointment, quote=quote, catalog=found,
                  zone=found.zone_of_provider(appointment.provider_id))


@routes.post("/appointments/{id}/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    require(request, CLIENT)
    form = await request.post()
    reason = Reader(form).text("reason", required=False, max_length=200)
    await api_for(request).transition(request.match_info["id"], "cancel", {"reason": reason} if reason else None)
    return redirect(request, "/appointments?notice=cancelled")


@routes.get("/appointments/{id}/reschedule")
async def reschedule_page(request: web.Request) -> web.Response:
    require(request, CLIENT)
    api = api_for(request)
    found, appointment = await asyncio.gather(catalog(api), api.appointment(request.match_info["id"]))
    found = await naming(api, found, [appointment])
    now = datetime.now(UTC)
    slots = await api.availability(appointment.service_id, now, now + timedelta(days=RESCHEDULE_DAYS))
    found = await catalog_naming(api, found, {s.provider_id for s in slots})
    return render(request, "client/reschedule.html", appointment=appointment, catalog=found,
                  groups=slot_groups(found, [s for s in slots if s.slot_id != appointment.slot_id]),
                  zone=found.zone_of_provider(appointment.provider_id))


@routes.post("/appointments/{id}/reschedule")
async def reschedule(request: web.Request) -> web.StreamResponse:
    require(request, CLIENT)
    form = await request.post()
    await api_for(request).transition(request.match_info["id"], "reschedule", {"slot_id": Reader(form).text("slot_id")})
    return redirect(request, "/appointments?notice=rescheduled")


@routes.get("/appointments/{id}/calendar.ics")
async def calendar_file(request: web.Request) -> web.Response:
    require(request, CLIENT, "provider")
    body, content_type, disposition = await api_for(request).calendar(request.match_info["id"])
    headers = {"Content-Disposition": disposition or 'attachment; filename="appointment.ics"'}
    return web.Response(body=body, content_type=content_type or "text/calendar", headers=headers)


# --- waitlist and offers -------------------------------------------------------------------------------------------


@routes.get("/waitlist")
async def waitlist_page(request: web.Request) -> web.Response:
    require(request, CLIENT)
    api = api_for(request)
    found, entries = await asyncio.gather(catalog(api), api.waitlist())
    live = [entry for entry in entries if entry.status in ("waiting", "offered")]
    found = await catalog_naming(api, found, {e.provider_id for e in live if e.provider_id},
                                 {e.service_id for e in live} | {request.query.get("service_id", "")} - {""})
    return render(request, "client/waitlist.html", entries=live, catalog=found, errors={},
                  values=dict(request.query), notice=request.query.get("notice", ""))


@routes.post("/waitlist")
async def join_waitlist(request: web.Request) -> web.StreamResponse:
    require(request, CLIENT)
    form = await request.post()
    reader = Reader(form)
    body: dict[str, Any] = {"service_id": reader.text("service_id", label="The service")}
    for name in ("provider_id", "slot_id"):
        if value := reader.text(name, required=False):
            body[name] = value
    api = api_for(request)
    try:
        reader.done()
        await api.join_waitlist(body)
    except (FormErrors, ApiProblem) as refused:
        if isinstance(refused, ApiProblem) and refused.status not in (404, 409, 422, 429):
            raise
        errors = refused.messages if isinstance(refused, FormErrors) else (
            refused.field_messages() or {"service_id": refused.detail or refused.title})
        found, entries = await asyncio.gather(catalog(api), api.waitlist())
        return render(request, "client/waitlist.html", status=422 if isinstance(refused, FormErrors) else
                      refused.status, entries=[e for e in entries if e.status in ("waiting", "offered")],
                      catalog=found, errors=errors, values={k: v for k, v in body.items() if isinstance(v, str)},
                      notice="")
    return redirect(request, "/waitlist?notice=joined")


@routes.post("/waitlist/{id}/leave")
async def leave_waitlist(request: web.Request) -> web.StreamResponse:
    require(request, CLIENT)
    await api_for(request).leave_waitlist(request.match_info["id"])
    return redirect(request, "/waitlist?notice=left")


@routes.get("/offers")
async def offers(request: web.Request) -> web.Response:
    """The client's open waitlist offers (held appointments from the waitlist), each with its countdown and Confirm."""
    session = require(request)
    if session.role != CLIENT:
        return render(request, "client/_offers.html", offers=[], catalog=None)
    api = api_for(request)
    found, held = await asyncio.gather(catalog(api), api.appointments("locked"))
    open_offers: list[Appointment] = [a for a in held if a.origin == "waitlist"]
    found = await naming(api, found, open_offers)
    return render(request, "client/_offers.html", offers=open_offers, catalog=found)
