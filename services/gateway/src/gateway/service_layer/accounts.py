"""Accounts: registration, sign-in, and the administrator's user management."""

from __future__ import annotations

import uuid

import asyncpg

from gateway.adapters import users
from gateway.adapters.passwords import hash_password, verify_password
from gateway.domain.users import User, check_role_change, normalise_email
from smartslot_common.logging import get_logger

log = get_logger(__name__)


PROMOTE_COMMAND = "python -m gateway.admin promote"


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
        account = f"{existing.role} account {existing.id}" if existing else "account"
        raise BootstrapAdminConflict(
            f"SMARTSLOT_BOOTSTRAP_ADMIN_EMAIL {email} belongs to an existing {account}, not an admin. If it is the "
            f"administrator's own account, make it an admin again with `{PROMOTE_COMMAND} {email}` (in the "
            "gateway's environment) and start again; if someone else registered it, choose another address"
        )
    log.info("bootstrap_admin_exists", email=email)


async def change_role(pool: asyncpg.Pool, actor_id: uuid.UUID, user_id: uuid.UUID, role: str,
                      bootstrap_email: str | None) -> User | None:
    """An admin's change of a user's role (None: no such user); `RoleChangeRefused` when it could lock the admins
    out (their own role, the last admin, the bootstrap admin)."""

    def allowed(current: User, admins: int) -> None:
        check_role_change(actor_id, current, role, admins, bootstrap_email)

    return await users.change_role(pool, user_id, role, allowed)


async def promote(pool: asyncpg.Pool, email: str) -> tuple[User, User] | None:
    """Make the account with this email an admin (the operator's way back in): (before, after), or None when no
    account has it."""
    before, _ = await users.credentials(pool, normalise_email(email))
    if before is None:
        return None
    after = await users.set_role(pool, before.id, "admin")
    return (before, after) if after is not None else None
