"""What every page shares: its session, its API client, rendering, the security headers, CSRF, and turning
whatever went wrong into a page (the API's problem detail, never a stack trace)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from jinja2 import Environment, StrictUndefined, select_autoescape

from console import metrics
from console.adapters.api import Api, ApiProblem
from console.app_keys import CATALOG, HTTP, JINJA, SEALER, SETTINGS, STREAM_HTTP
from console.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, open_session, seal
from smartslot_common.logging import get_logger

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION = web.RequestKey("session", Session)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPERATOR_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Everything a page loads comes from this origin; no inline script or style anywhere.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
log = get_logger(__name__)


def session_of(request: web.Request) -> Session:
    return request[SESSION]


def api_for(request: web.Request) -> Api:
    """The API as the signed-in user (or anonymously), on behalf of the page's client."""
    settings = request.app[SETTINGS]
    return Api(request.app[HTTP], settings.gateway(), session_of(request).token, settings.api_timeout_seconds,
               request.app[CATALOG], request.app[STREAM_HTTP], forwarded_for(request))


def forwarded_for(request: web.Request) -> dict[str, str]:
    """The headers that tell the gateway whom the console calls for: what reached the console, plus the address it
    came from, as any proxy appends it. The gateway believes them only from proxies it trusts (the console's address
    and its own among them), and walks them past those, so a page's client keeps the sign-in allowance of its own and
    what someone who reached the console directly wrote there is never believed."""
    peer = request.remote
    if not peer:
        return {}
    node = f'"[{peer}]"' if ":" in peer else peer
    return {
        "X-Forwarded-For": ", ".join([*request.headers.getall("X-Forwarded-For", ()), peer]),
        "Forwarded": ", ".join([*request.headers.getall("Forwarded", ()), f"for={node}"]),
    }


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A template rendered with what every page needs (the session, its CSRF token, the current path)."""
    session = session_of(request)
    page = request.app[JINJA].get_template(template).render(
        session=session, csrf_token=session.csrf, csrf_field=CSRF_FIELD, path=request.path_qs, **context)
    return web.Response(text=page, status=status, content_type="text/html")


def local_path(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site (never another origin: no open redirect), else `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def redirect(request: web.Request, location: str) -> web.StreamResponse:
    """See other: a 303, or for htmx a full-page navigation it performs itself."""
    if is_htmx(request):
        return web.Response(status=204, headers={"HX-Redirect": location})
    raise web.HTTPSeeOther(location)


def to_sign_in(request: web.Request, expired: bool = False) -> web.StreamResponse:
    """Back to sign-in, carrying the page the user wanted (for htmx, the page it was on)."""
    wanted = request.headers.get("HX-Current-URL") if is_htmx(request) else None
    wanted_path = urlsplit(wanted).path if wanted else request.path_qs
    if request.method != "GET" and not wanted:
        wanted_path = request.headers.get("Referer", "/")
        wanted_path = urlsplit(wanted_path).path or "/"
    location = "/sign-in?next=" + quote(local_path(wanted_path), safe="/") + ("&expired=1" if expired else "")
    return redirect(request, location)


def require(request: web.Request, *roles: str) -> Session:
    """The signed-in session of a user with one of `roles`; otherwise to sign-in, or not found for other roles."""
    session = session_of(request)
    if not session.signed_in:
        raise SignInNeeded(expired=session.expired)
    if roles and session.role not in roles:
        raise ApiProblem(404, "not_found", "Not found", "There is no such page for your account.")
    return session


class SignInNeeded(Exception):
    """The page needs a signed-in user (and the session may just have expired)."""

    def __init__(self, expired: bool = False) -> None:
        super().__init__("sign-in needed")
        self.expired = expired


# --- middlewares ------------------------------------------------------------------------------------------------


def _secure(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    # The gateway sets X-Forwarded-Proto itself (it never relays a caller's), so the scheme the browser used is known.
    return settings.force_secure_cookies or request.secure or request.headers.get("X-Forwarded-Proto") == "https"


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Open the session before the page, seal it after when it changed; security headers on every page."""
    if request.path in OPERATOR_PATHS:
        return await handler(request)
    if request.path.startswith("/static/"):
        response = await handler(request)
        response.headers.update({"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})
        return response
    fernet = request.app[SEALER]
    session = request[SESSION] = open_session(fernet, request.cookies.get(COOKIE))
    try:
        response = await handler(request)
    except web.HTTPException as raised:  # redirects carry the session too
        _finish(request, session, raised)
        raise
    _finish(request, session, response)
    return response


def _finish(request: web.Request, session: Session, response: web.StreamResponse) -> None:
    if response.prepared:
        return  # a stream: its headers are gone already
    if session.changed:
        seal(request.app[SEALER], session, response, _secure(request))
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every form post carries the session's CSRF token (a field, or htmx's header); anything else is refused."""
    if request.method in UNSAFE_METHODS and request.path not in OPERATOR_PATHS:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = (await request.post()).get(CSRF_FIELD)  # type: ignore[assignment]
        if not session_of(request).csrf_matches(sent if isinstance(sent, str) else None):
            metrics.CSRF_REFUSALS.inc()
            return render(request, "error.html", status=403, title="Form refused",
                          detail="This form has expired or was not sent from this site. Reload the page and try "
                                 "again.", code="csrf_failed")
    return await handler(request)


@web.middleware
async def pages_for_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A problem becomes a page (or, for htmx, a fragment) with its detail; a 401 from the API means the token is no
    longer good: sign in again."""
    try:
        return await handler(request)
    except SignInNeeded as needed:
        return to_sign_in(request, needed.expired)
    except ApiProblem as problem:
        if problem.status == 401:
            session_of(request).sign_out()
            return to_sign_in(request, expired=True)
        return problem_page(request, problem)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        title = "Not found" if error.status == 404 else error.reason
        detail = "There is no such page." if error.status == 404 else error.text or error.reason
        return render(request, "error.html", status=error.status, title=title, detail=detail, code=str(error.status))
    except Exception:
        log.exception("page_failed", method=request.method, path=request.path)
        return render(request, "error.html", status=500, title="Something went wrong",
                      detail="Something went wrong on our side; it has been logged. Try again in a moment.",
                      code="internal_error")


def problem_page(request: web.Request, problem: ApiProblem, template: str | None = None,
                 **context: Any) -> web.Response:
    """The problem as a page, or as the error fragment an htmx request swaps in."""
    status = problem.status if problem.status >= 400 else 500
    chosen = template or ("_problem.html" if is_htmx(request) else "error.html")
    response = render(request, chosen, status=status, title=problem.title, detail=problem.detail or problem.title,
                      code=problem.code, problem=problem, **context)
    if is_htmx(request) and template is None:
        # htmx swaps 2xx answers only: the fragment goes into the page's message area instead.
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def form_value(form: Mapping[str, Any], name: str) -> str:
    """A form field's text, stripped ("" when absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def jinja_environment(loader: Any) -> Environment:
    """Autoescaped templates, strict about undefined names."""
    environment = Environment(loader=loader, autoescape=select_autoescape(default=True, default_for_string=True),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["options"] = options
    environment.filters["zip_lists"] = lambda first, second: list(zip(first, second, strict=False))
    environment.filters["policy_text"] = policy_text
    environment.filters["tiers_text"] = tiers_text
    environment.filters["service_name_of"] = lambda service_id, catalog: catalog.service_name(service_id)
    return environment


def options(items: Any, value: str, text: str) -> list[tuple[str, str]]:
    """(value, text) pairs of a select's options from a list of objects."""
    return [(str(getattr(item, value)), str(getattr(item, text))) for item in items]


def tiers_text(policy: Mapping[str, Any]) -> str:
    """A tiered policy's tiers as the form writes them: "2:100, 24:50"."""
    return ", ".join(f"{tier['within_hours']}:{tier['fee_percent']}" for tier in policy.get("tiers") or [])


def policy_text(policy: Mapping[str, Any]) -> str:
    """A cancellation policy in words."""
    kind = policy.get("kind")
    if kind == "strict":
        return f"strict: {policy.get('fee_percent')}% within {policy.get('window_hours')} h"
    if kind == "tiered":
        return "tiered: " + ", ".join(f"{t['fee_percent']}% within {t['within_hours']} h"
                                      for t in policy.get("tiers") or [])
    return "flexible: free" if kind == "flexible" else str(kind or "")
