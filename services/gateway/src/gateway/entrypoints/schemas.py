"""Bodies of the identity calls."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.domain.users import EmailAddress
from smartslot_common.http.queries import PageQuery

# Stripped before the length check: a blank name must be a 422, not a CHECK violation (500) in the database.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Register(Strict):
    email: EmailAddress
    password: str = Field(min_length=8, max_length=256)
    name: Name


class TokenRequest(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class CreateUser(Register):
    role: Literal["client", "provider", "admin"]


class ChangeRole(Strict):
    role: Literal["client", "provider", "admin"]


class UserPageQuery(PageQuery):
    """`GET /v1/admin/users`: users in id order; `cursor` is the id of the last user of the page before."""

    cursor: uuid.UUID | None = None  # type: ignore[assignment]


# --- answers (documented in the OpenAPI document) ---------------------------------------------------------------


class UserOut(BaseModel):
    """A user as the API shows it."""

    id: str
    email: str
    name: str
    role: Literal["client", "provider", "admin"]


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds until the token expires")


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None
