"""Every public call: which upstream serves it, which roles may make it (the gateway's RBAC table), and what the
OpenAPI document says about it.

`roles=None` admits every authenticated role. Ownership is checked again by the owning service on every query.
Models are named for the OpenAPI generator only: another service's as "<service>:<Model>", read from the schema
fragment that service publishes (`smartslot_common.contracts.openapi`), the gateway's own as dotted import paths
("package.module:Class"). Neither the gateway nor its generator imports another service's code.
"""

from __future__ import annotations

from dataclasses import dataclass

ANY = None
CLIENT = frozenset({"client"})
ADMIN = frozenset({"admin"})
PROVIDER_OR_ADMIN = frozenset({"provider", "admin"})
CLIENT_OR_ADMIN = frozenset({"client", "admin"})
CLIENT_OR_PROVIDER = frozenset({"client", "provider"})

BOOKING = APPOINTMENTS = "booking:"
AVAILABILITY = "availability:"
WEBHOOKS = "notifier:"
WAITLIST = "waitlist:"
IDENTITY = "gateway.entrypoints.schemas:"
OWN = "gateway.openapi.models:"

SEAT_ERRORS = ("slot_not_found", "slot_held", "slot_unavailable", "slot_in_past", "no_provider_available",
               "hold_quota")
IDEMPOTENCY_ERRORS = ("idempotency_mismatch", "idempotency_in_flight")


@dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says about one call."""

    summary: str
    tag: str
    body: str | None = None
    query: str | None = None
    response: str | None = None  # None: no body (with status 204)
    status: int = 200
    errors: tuple[str, ...] = ()
    idempotency_key: bool = False  # the call honours the Idempotency-Key header
    body_optional: bool = False
    media_type: str = "application/json"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    upstream: str
    roles: frozenset[str] | None
    doc: Doc
    public: bool = False  # served without a token
    stream: bool = False  # server-sent events: relayed as they come, with no deadline but an idle limit


def _seat(summary: str, status: int = 201) -> Doc:
    return Doc(summary, "appointments", OWN + "SeatRequest", response=BOOKING + "Appointment", status=status,
               errors=SEAT_ERRORS + IDEMPOTENCY_ERRORS, idempotency_key=True)


def _transition(summary: str, errors: tuple[str, ...] = ("invalid_transition",), body: str | None = None,
                body_optional: bool = False) -> Doc:
    return Doc(summary, "appointments", body, response=BOOKING + "Appointment", errors=errors + IDEMPOTENCY_ERRORS,
               idempotency_key=True, body_optional=body_optional)


ROUTES: tuple[Route, ...] = (
    # catalog
    Route("POST", "/v1/services", "booking", ADMIN,
          Doc("Create a service", "catalog", BOOKING + "CreateService", response=BOOKING + "Service", status=201)),
    Route("GET", "/v1/services", "booking", ANY,
          Doc("List services", "catalog", query=BOOKING + "PageQuery", response=OWN + "ServicePage")),
    Route("GET", "/v1/services/{id}", "booking", ANY, Doc("Get a service", "catalog", response=BOOKING + "Service")),
    Route("PATCH", "/v1/services/{id}", "booking", ADMIN,
          Doc("Change a service", "catalog", BOOKING + "UpdateService", response=BOOKING + "Service")),
    Route("DELETE", "/v1/services/{id}", "booking", ADMIN,
          Doc("Delete a service (soft)", "catalog", status=204, errors=("conflicting_appointments",))),
    Route("POST", "/v1/clinics", "booking", ADMIN,
          Doc("Create a clinic", "catalog", BOOKING + "CreateClinic", response=BOOKING + "Clinic", status=201)),
    Route("GET", "/v1/clinics", "booking", ANY,
          Doc("List clinics", "catalog", query=BOOKING + "PageQuery", response=OWN + "ClinicPage")),
    Route("GET", "/v1/clinics/{id}", "booking", ANY, Doc("Get a clinic", "catalog", response=BOOKING + "Clinic")),
    Route("PATCH", "/v1/clinics/{id}", "booking", ADMIN,
          Doc("Change a clinic", "catalog", BOOKING + "UpdateClinic", response=BOOKING + "Clinic")),
    Route("DELETE", "/v1/clinics/{id}", "booking", ADMIN,
          Doc("Delete a clinic (soft; refused while it has providers)", "catalog", status=204, errors=("conflict",))),
    Route("POST", "/v1/providers", "booking", ADMIN,
          Doc("Create a provider", "catalog", BOOKING + "CreateProvider", response=BOOKING + "Provider", status=201,
              errors=("conflict",))),
    Route("GET", "/v1/providers", "booking", ANY,
          Doc("List providers", "catalog", query=BOOKING + "ProviderQuery", response=OWN + "ProviderPage")),
    Route("GET", "/v1/providers/{id}", "booking", ANY,
          Doc("Get a provider", "catalog", response=BOOKING + "Provider")),
    Route("DELETE", "/v1/providers/{id}", "booking", ADMIN,
          Doc("Delete a provider (soft)", "catalog", status=204, errors=("conflicting_appointments",))),
    # schedules
    Route("GET", "/v1/providers/{id}/working-hours", "booking", PROVIDER_OR_ADMIN,
          Doc("A provider's weekly working hours, in the shape the PUT takes (local times as set)", "schedules",
              response=BOOKING + "WeeklyHours")),
    Route("PUT", "/v1/providers/{id}/working-hours", "booking", PROVIDER_OR_ADMIN,
          Doc("Set a provider's weekly working hours", "schedules", BOOKING + "SetWorkingHours",
              response=BOOKING + "WorkingHours")),
    Route("POST", "/v1/providers/{id}/time-off", "booking", PROVIDER_OR_ADMIN,
          Doc("Add time off", "schedules", BOOKING + "CreateTimeOff", response=BOOKING + "TimeOff", status=201,
              errors=("conflicting_appointments", *IDEMPOTENCY_ERRORS), idempotency_key=True)),
    Route("POST", "/v1/providers/{id}/slots", "booking", PROVIDER_OR_ADMIN,
          Doc("Add a slot", "schedules", BOOKING + "CreateSlot", response=BOOKING + "Slot", status=201,
              errors=("slot_overlap",))),
    Route("DELETE", "/v1/slots/{id}", "booking", PROVIDER_OR_ADMIN,
          Doc("Delete a slot (refused while it has live appointments)", "schedules", status=204,
              errors=("conflicting_appointments", "conflict"))),
    Route("GET", "/v1/providers/{id}/schedule", "availability", PROVIDER_OR_ADMIN,
          Doc("A provider's day: slots and appointments", "schedules", query=AVAILABILITY + "ScheduleQuery",
              response=OWN + "Schedule")),
    Route("GET", "/v1/availability", "availability", ANY,
          Doc("Search open slots", "availability", query=AVAILABILITY + "AvailabilityQuery",
              response=OWN + "Availability")),
    Route("GET", "/v1/availability/stream", "availability", ANY,
          Doc("Follow open slots live: a `slot` event whenever one in the range is created, held, booked, freed or "
              "removed (server-sent events; resume with Last-Event-ID)", "availability",
              query=AVAILABILITY + "AvailabilityQuery", response="text", media_type="text/event-stream",
              errors=("not_found",)),
          stream=True),
    # appointments
    Route("POST", "/v1/holds", "booking", CLIENT, _seat("Hold a seat while the client confirms")),
    Route("POST", "/v1/appointments", "booking", CLIENT, _seat("Book a seat now (hold and confirm at once)")),
    Route("GET", "/v1/appointments", "booking", ANY,
          Doc("List appointments (own, own calendar, or all for admins)", "appointments",
              query=APPOINTMENTS + "ListQuery", response=OWN + "AppointmentPage")),
    Route("GET", "/v1/appointments/{id}", "booking", ANY,
          Doc("Get an appointment", "appointments", response=BOOKING + "Appointment")),
    Route("POST", "/v1/appointments/{id}/confirm", "booking", CLIENT,
          _transition("Confirm a held appointment", ("invalid_transition", "hold_expired"))),
    Route("GET", "/v1/appointments/{id}/cancellation-quote", "booking", CLIENT,
          Doc("What cancelling now would cost", "appointments", response=BOOKING + "CancellationQuote",
              errors=("invalid_transition",))),
    Route("POST", "/v1/appointments/{id}/cancel", "booking", ANY,
          _transition("Cancel an appointment", body=APPOINTMENTS + "CancelRequest", body_optional=True)),
    Route("POST", "/v1/appointments/{id}/complete", "booking", PROVIDER_OR_ADMIN,
          _transition("Mark an appointment completed")),
    Route("POST", "/v1/appointments/{id}/no-show", "booking", PROVIDER_OR_ADMIN,
          _transition("Mark an appointment a no-show (the client did not come)")),
    Route("POST", "/v1/appointments/{id}/reschedule", "booking", CLIENT,
          _transition("Move an appointment to another slot", ("invalid_transition", *SEAT_ERRORS),
                      body=APPOINTMENTS + "RescheduleRequest")),
    Route("GET", "/v1/appointments/{id}/calendar.ics", "booking", CLIENT_OR_PROVIDER,
          Doc("The appointment as an iCalendar invitation", "appointments", response="text",
              media_type="text/calendar")),
    # waitlist
    Route("POST", "/v1/waitlist", "waitlist", CLIENT,
          Doc("Join the waitlist", "waitlist", WAITLIST + "JoinWaitlist", response=WAITLIST + "WaitlistEntry",
              status=201, errors=("conflict", "waitlist_quota"))),
    Route("GET", "/v1/waitlist", "waitlist", CLIENT_OR_ADMIN,
          Doc("List waitlist entries (own, or all for admins)", "waitlist", query=WAITLIST + "WaitlistQuery",
              response=WAITLIST + "WaitlistPage")),
    Route("DELETE", "/v1/waitlist/{id}", "waitlist", CLIENT,
          Doc("Leave the waitlist (an entry holding an offer is declined by cancelling its appointment)", "waitlist",
              status=204, errors=("invalid_transition",))),
    # notifications
    Route("GET", "/v1/notifications", "notifier", ANY,
          Doc("The caller's notification feed", "notifications", query=OWN + "PageParameters",
              response=OWN + "NotificationPage")),
    Route("GET", "/v1/notifications/stream", "notifier", ANY,
          Doc("Follow the caller's new notifications live (server-sent events; resume with Last-Event-ID)",
              "notifications", response="text", media_type="text/event-stream"), stream=True),
    Route("POST", "/v1/notifications/{id}/read", "notifier", ANY,
          Doc("Mark a notification read", "notifications", response=OWN + "Notification")),
    # admin: webhooks (the notifier delivers them)
    Route("POST", "/v1/admin/webhooks", "notifier", ADMIN,
          Doc("Register a webhook endpoint (its signing secret is shown only here)", "admin", WEBHOOKS + "EndpointIn",
              response="object", status=201)),
    Route("GET", "/v1/admin/webhooks", "notifier", ADMIN,
          Doc("List webhook endpoints", "admin", query=OWN + "PageParameters", response="object")),
    Route("GET", "/v1/admin/webhooks/{id}", "notifier", ADMIN,
          Doc("Get a webhook endpoint", "admin", response="object")),
    Route("PATCH", "/v1/admin/webhooks/{id}", "notifier", ADMIN,
          Doc("Change or re-enable a webhook endpoint", "admin", WEBHOOKS + "EndpointChange", response="object")),
    Route("DELETE", "/v1/admin/webhooks/{id}", "notifier", ADMIN,
          Doc("Remove a webhook endpoint and its delivery log", "admin", status=204)),
    Route("POST", "/v1/admin/webhooks/{id}/rotate-secret", "notifier", ADMIN,
          Doc("Rotate a webhook endpoint's signing secret: the new one is shown only here; the old one keeps signing "
              "beside it for the configured overlap", "admin", response="object")),
    Route("GET", "/v1/admin/webhooks/{id}/deliveries", "notifier", ADMIN,
          Doc("A webhook endpoint's delivery log", "admin", query=WEBHOOKS + "LogQuery", response="object")),
    # admin
    Route("GET", "/v1/admin/analytics", "availability", ADMIN,
          Doc("Booking analytics over a period", "admin", query=AVAILABILITY + "AnalyticsQuery",
              response=OWN + "Analytics")),
)

# Calls the gateway answers itself (registered by their own modules; listed here for the document and its test).
OWN_ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/auth/register", "gateway", ANY,
          Doc("Register as a client", "identity", IDENTITY + "Register", response=IDENTITY + "UserOut", status=201,
              errors=("email_taken",)), public=True),
    Route("POST", "/v1/auth/token", "gateway", ANY,
          Doc("Sign in: an access token for email and password", "identity", IDENTITY + "TokenRequest",
              response=IDENTITY + "AccessToken", errors=("invalid_credentials",)), public=True),
    Route("GET", "/v1/me", "gateway", ANY, Doc("Who the bearer is", "identity", response=IDENTITY + "UserOut")),
    Route("POST", "/v1/admin/users", "gateway", ADMIN,
          Doc("Create a user with any role", "admin", IDENTITY + "CreateUser", response=IDENTITY + "UserOut",
              status=201, errors=("email_taken",))),
    Route("GET", "/v1/admin/users", "gateway", ADMIN,
          Doc("List users", "admin", query=IDENTITY + "UserPageQuery", response=IDENTITY + "UserPage")),
    Route("PATCH", "/v1/admin/users/{user_id}", "gateway", ADMIN,
          Doc("Change a user's role (tokens carrying the old role stop working); not one's own, the last admin's or "
              "the bootstrap admin's", "admin", IDENTITY + "ChangeRole",
              response=IDENTITY + "UserOut", errors=("invalid_transition",))),
    Route("GET", "/v1/admin/health", "gateway", ADMIN,
          Doc("Services and dependencies at a glance", "admin", response=OWN + "AdminHealth")),
    Route("GET", "/v1/openapi.json", "gateway", ANY,
          Doc("This OpenAPI document", "operations", response="object"), public=True),
    Route("GET", "/docs", "gateway", ANY,
          Doc("Swagger UI (offline)", "operations", response="text", media_type="text/html"), public=True),
    Route("GET", "/healthz", "gateway", ANY,
          Doc("Liveness", "operations", response=OWN + "Liveness"), public=True),
    Route("GET", "/readyz", "gateway", ANY,
          Doc("Readiness (503 when a dependency is down)", "operations", response=OWN + "Readiness"), public=True),
    Route("GET", "/metrics", "gateway", ANY,
          Doc("Prometheus metrics", "operations", response="text", media_type="text/plain"), public=True),
    Route("GET", "/", "console", ANY,
          Doc("The web console (HTML pages for clients, providers and admins; sign-in inside). Every path outside "
              "/v1, /docs and the operator routes is one of its pages", "console", response="text",
              media_type="text/html"), public=True),
)
