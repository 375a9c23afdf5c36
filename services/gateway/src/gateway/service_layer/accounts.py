"""Accounts: registration, sign-in, and the administrator's user management."""

from __future__ import annotations

import uuid

import asyncpg

from gateway.adapters import users
from gateway.adapters.passwords import hash_password, verify_password
from gateway.domain.users import User, normalise_email
from smartslot_common.logging import get_logger

log = get_logger(__name__)


class EmailTaken(Exception):
    """Another account already uses this email."""


class BootstrapAdminConflict(Exception):
    """The bootstrap admin's email belongs to an account that is not an admin: refuse to start."""


async def register(pool: asyncpg.Pool, email: str, password: str, name: str, role: str = "client") -> User:
    user = await users.insert(pool, normalise_email(email), name.strip(), role, await hash_password(password))
    if user is None:
        raise EmailTaken(email)
    return user


async def authenticate(pool: asyncpg.Pool, email: str, password: str) -> User | None:
    """The user whose credentials these are, or None (same cost either way)."""
    user, password_hash = await users.credentials(pool, normalise_email(email))
    return user if await verify_password(password_hash, password) else None


async def ensure_admin(pool: asyncpg.Pool, email: str, password: str) -> None:
    """Create the bootstrap administrator unless it exists; refuse when a non-admin already holds the email.

    Someone who registered the admin's address first must neither become the admin nor silently leave the
    deployment without one.
    """
    email = normalise_email(email)
    try:
        await register(pool, email, password, "Administrator", role="admin")
        log.info("bootstrap_admin_created", email=email)
        return
    except EmailTaken:
        pass
    existing, _ = await users.credentials(pool, email)
    if existing is None or existing.role != "admin":
        raise BootstrapAdminConflict(
            f"SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL {email} belongs to an existing "
            f"{existing.role if existing else 'unknown'} account, not an admin: choose another address "
            "(or have an admin change that account's role) and start again"
        )
    log.info("bootstrap_admin_exists", email=email)


async def change_role(pool: asyncpg.Pool, user_id: uuid.UUID, role: str) -> User | None:
    return await users.set_role(pool, user_id, role)
