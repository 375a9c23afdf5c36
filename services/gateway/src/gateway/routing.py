"""Which upstream serves each public call, and which roles may make it (the gateway's RBAC table).

`None` admits every authenticated role. Ownership is checked again by the owning service on every query.
"""

from __future__ import annotations

from dataclasses import dataclass

ANY = None
CLIENT = frozenset({"client"})
ADMIN = frozenset({"admin"})
PROVIDER_OR_ADMIN = frozenset({"provider", "admin"})
CLIENT_OR_ADMIN = frozenset({"client", "admin"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    upstream: str
    roles: frozenset[str] | None


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/services", "booking", ADMIN),
    Route("GET", "/v1/services", "booking", ANY),
    Route("GET", "/v1/services/{id}", "booking", ANY),
    Route("PATCH", "/v1/services/{id}", "booking", ADMIN),
    Route("DELETE", "/v1/services/{id}", "booking", ADMIN),
    Route("POST", "/v1/clinics", "booking", ADMIN),
    Route("GET", "/v1/clinics", "booking", ANY),
    Route("GET", "/v1/clinics/{id}", "booking", ANY),
    Route("PATCH", "/v1/clinics/{id}", "booking", ADMIN),
    Route("DELETE", "/v1/clinics/{id}", "booking", ADMIN),
    Route("POST", "/v1/providers", "booking", ADMIN),
    Route("GET", "/v1/providers", "booking", ANY),
    Route("DELETE", "/v1/providers/{id}", "booking", ADMIN),
    Route("PUT", "/v1/providers/{id}/working-hours", "booking", PROVIDER_OR_ADMIN),
    Route("POST", "/v1/providers/{id}/time-off", "booking", PROVIDER_OR_ADMIN),
    Route("POST", "/v1/providers/{id}/slots", "booking", PROVIDER_OR_ADMIN),
    Route("DELETE", "/v1/slots/{id}", "booking", PROVIDER_OR_ADMIN),
    Route("GET", "/v1/providers/{id}/schedule", "availability", PROVIDER_OR_ADMIN),
    Route("GET", "/v1/availability", "availability", ANY),
    Route("POST", "/v1/holds", "booking", CLIENT),
    Route("POST", "/v1/appointments", "booking", CLIENT),
    Route("GET", "/v1/appointments", "booking", ANY),
    Route("GET", "/v1/appointments/{id}", "booking", ANY),
    Route("POST", "/v1/appointments/{id}/confirm", "booking", CLIENT),
    Route("GET", "/v1/appointments/{id}/cancellation-quote", "booking", CLIENT),
    Route("POST", "/v1/appointments/{id}/cancel", "booking", ANY),
    Route("POST", "/v1/appointments/{id}/complete", "booking", PROVIDER_OR_ADMIN),
    Route("POST", "/v1/appointments/{id}/reschedule", "booking", CLIENT),
    Route("GET", "/v1/appointments/{id}/calendar.ics", "booking", frozenset({"client", "provider"})),
    Route("POST", "/v1/waitlist", "waitlist", CLIENT),
    Route("GET", "/v1/waitlist", "waitlist", CLIENT_OR_ADMIN),
    Route("DELETE", "/v1/waitlist/{id}", "waitlist", CLIENT),
    Route("GET", "/v1/notifications", "notifier", ANY),
    Route("POST", "/v1/notifications/{id}/read", "notifier", ANY),
    Route("GET", "/v1/admin/analytics", "availability", ADMIN),
)
