"""Bodies of the identity calls."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Register(Strict):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=200)


class TokenRequest(Strict):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class CreateUser(Register):
    role: Literal["client", "provider", "admin"]


class ChangeRole(Strict):
    role: Literal["client", "provider", "admin"]
