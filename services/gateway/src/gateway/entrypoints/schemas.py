"""Bodies of the identity calls."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

# Stripped before the length check: a blank name must be a 422, not a CHECK violation (500) in the database.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Register(Strict):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: Name


class TokenRequest(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class CreateUser(Register):
    role: Literal["client", "provider", "admin"]


class ChangeRole(Strict):
    role: Literal["client", "provider", "admin"]
