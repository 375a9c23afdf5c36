"""Identity routes served by the gateway itself: register, token, me, user administration."""

from __future__ import annotations

import uuid
from operator import methodcaller

from aiohttp import web

from gateway.adapters import users
from gateway.app_keys import POOL, ROLE_MARKS, SETTINGS, TOKENS
from gateway.domain.users import RoleChangeRefused
from gateway.entrypoints import schemas
from gateway.entrypoints.auth import authenticate, require_that
from gateway.service_layer import accounts
from smartslot_common.http import json_response, read_json
from smartslot_common.http.json import parse_query
from smartslot_common.http.problems import ProblemError

routes = web.RouteTableDef()
MANAGES_USERS = methodcaller("can_manage_users")


@routes.post("/v1/auth/register")
async def register(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.Register)
    try:
        user = await accounts.register(request.app[POOL], body.email, body.password, body.name)
    except accounts.EmailTaken:
        raise ProblemError(409, "email_taken", "An account with this email already exists.") from None
    return json_response(user.public(), 201)


@routes.post("/v1/auth/token")
async def token(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.TokenRequest)
    user = await accounts.authenticate(request.app[POOL], body.email, body.password)
    if user is None:
        raise ProblemError(401, "invalid_credentials", "The email or password is wrong.")
    ttl = request.app[SETTINGS].access_token_ttl_seconds
    access_token = request.app[TOKENS].issue(user.id, user.role, user.email, user.name)
    return json_response({"access_token": access_token, "token_type": "bearer", "expires_in": ttl})


@routes.get("/v1/me")
async def me(request: web.Request) -> web.Response:
    user = await users.get(request.app[POOL], (await authenticate(request)).user_id)
    if user is None:
        raise ProblemError(401, "unauthorized", "The account no longer exists.")
    return json_response(user.public())


@routes.post("/v1/admin/users")
async def create_user(request: web.Request) -> web.Response:
    await require_that(request, MANAGES_USERS)
    body = await read_json(request, schemas.CreateUser)
    try:
        user = await accounts.register(request.app[POOL], body.email, body.password, body.name, body.role)
    except accounts.EmailTaken:
        raise ProblemError(409, "email_taken", "An account with this email already exists.") from None
    return json_response(user.public(), 201)


@routes.get("/v1/admin/users")
async def list_users(request: web.Request) -> web.Response:
    await require_that(request, MANAGES_USERS)
    query = parse_query(request, schemas.UserPageQuery)
    page = await users.list_page(request.app[POOL], query.cursor, query.limit + 1)
    more = len(page) > query.limit
    items = [user.public() for user in page[: query.limit]]
    return json_response({"items": items, "next_cursor": str(page[query.limit - 1].id) if more else None})


@routes.patch("/v1/admin/users/{user_id}")
async def change_role(request: web.Request) -> web.Response:
    admin = await require_that(request, MANAGES_USERS)
    body = await read_json(request, schemas.ChangeRole)
    try:
        user_id = uuid.UUID(request.match_info["user_id"])
    except ValueError:
        raise ProblemError(404, "not_found", "No such user.") from None
    try:
        user = await accounts.change_role(request.app[POOL], admin.id, user_id, body.role,
                                          request.app[SETTINGS].bootstrap_admin_email)
    except RoleChangeRefused as refused:
        raise ProblemError(409, "invalid_transition", str(refused)) from None
    if user is None:
        raise ProblemError(404, "not_found", "No such user.")
    if ROLE_MARKS in request.app:  # tokens that carry the old role stop working on their next request
        await request.app[ROLE_MARKS].mark(user.id, user.role)
    return json_response(user.public())
