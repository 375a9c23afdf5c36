"""Signing up, in and out; `/` sends each role to its home page."""

from __future__ import annotations

from aiohttp import web

from console.adapters.api import ApiProblem
from console.domain.forms import FormErrors, Reader
from console.web import api_for, local_path, problem_page, redirect, render, session_of

routes = web.RouteTableDef()
HOME = {"client": "/search", "provider": "/provider/day", "admin": "/admin/analytics"}


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if not session.signed_in:
        raise web.HTTPSeeOther("/sign-in")
    raise web.HTTPSeeOther(HOME.get(session.role or "", "/search"))


@routes.get("/sign-in")
async def sign_in_page(request: web.Request) -> web.Response:
    return render(request, "sign_in.html", next=local_path(request.query.get("next")), errors={}, values={},
                  expired=request.query.get("expired") == "1")


@routes.post("/sign-in")
async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    wanted = local_path(form.get("next") if isinstance(form.get("next"), str) else None)  # type: ignore[arg-type]
    reader = Reader(form)
    email, password = reader.text("email", label="Email"), reader.text("password", label="Password")
    if reader.errors:
        return render(request, "sign_in.html", status=422, next=wanted, errors=reader.errors,
                      values={"email": email}, expired=False)
    try:
        await _start_session(request, email, password)
    except ApiProblem as problem:
        if problem.status in (401, 422):
            message = problem.detail or "Email or password is not right."
            return render(request, "sign_in.html", status=problem.status, next=wanted,
                          errors={"password": message, **problem.field_messages()}, values={"email": email},
                          expired=False)
        raise
    return redirect(request, wanted if wanted != "/" else HOME.get(session_of(request).role or "", "/"))


async def _start_session(request: web.Request, email: str, password: str) -> None:
    api = api_for(request)
    token = await api.sign_in(email, password)
    session = session_of(request)
    session.token = token.access_token
    user = await api_for(request).me()
    session.sign_in(token.access_token, token.expires_in, user.id, user.email, user.name, user.role)


@routes.get("/sign-up")
async def sign_up_page(request: web.Request) -> web.Response:
    return render(request, "sign_up.html", errors={}, values={})


@routes.post("/sign-up")
async def sign_up(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    reader = Reader(form)
    name = reader.text("name", label="Your name", max_length=200)
    email = reader.text("email", label="Email", max_length=254)
    password = reader.text("password", label="Password", max_length=200)
    values = {"name": name, "email": email}
    try:
        reader.done()
        await api_for(request).register(email, password, name)
        await _start_session(request, email, password)
    except FormErrors as invalid:
        return render(request, "sign_up.html", status=422, errors=invalid.messages, values=values)
    except ApiProblem as problem:
        if problem.status in (409, 422):
            errors = problem.field_messages() or {"email" if problem.code == "email_taken" else "password":
                                                  problem.detail}
            return render(request, "sign_up.html", status=problem.status, errors=errors, values=values)
        return problem_page(request, problem)
    return redirect(request, "/search")


@routes.post("/sign-out")
async def sign_out(request: web.Request) -> web.StreamResponse:
    session_of(request).sign_out()
    return redirect(request, "/sign-in")
