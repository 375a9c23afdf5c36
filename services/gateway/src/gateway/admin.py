"""Operators' commands on accounts, run with the gateway's settings (its environment):

    python -m gateway.admin promote <email>

makes that account an admin again: the way back in when the bootstrap admin's account was demoted and the gateway
refuses to start. Tokens the account holds stop working (it signs in again, as an admin).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence

import redis.asyncio as aioredis

from gateway.adapters.role_marks import RoleMarks
from gateway.app import SCHEMA
from gateway.service_layer import accounts
from gateway.settings import GatewaySettings
from smartslot_common.db import create_pool
from smartslot_common.errors import DependencyUnavailable
from smartslot_common.runtime import load_or_exit

PROG = "python -m gateway.admin"


class NoSuchAccount(Exception):
    """No account has this email."""


async def _mark(settings: GatewaySettings, user_id: uuid.UUID, role: str) -> bool:
    """Tell every gateway the account's role changed (the same mark an admin's change writes); False when Redis did
    not take it."""
    redis = aioredis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        # A mark outlives every token issued before it (the gateway's rule, app._redis_users).
        marks = RoleMarks(redis, settings.redis_key("role"), settings.access_token_ttl_seconds + 60,
                          settings.rate_limit_redis_timeout_seconds)
        return await marks.mark(user_id, role)
    finally:
        await redis.aclose()


async def promote(settings: GatewaySettings, email: str) -> str:
    """Make the account an admin; what was done, in one line."""
    pool = await create_pool(settings.database_url.get_secret_value(), SCHEMA, min_size=1, max_size=1)
    try:
        changed = await accounts.promote(pool, email)
    finally:
        await pool.close()
    if changed is None:
        raise NoSuchAccount(email)
    before, after = changed
    if before.role == after.role:
        return f"{after.email} ({after.id}) is already an admin"
    said = "" if await _mark(settings, after.id, after.role) else (
        f"; Redis did not take the change, so tokens issued before it work as {before.role} for up to "
        f"{settings.access_token_ttl_seconds} s")
    return f"{after.email} ({after.id}) is an admin again (was {before.role}){said}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0 done, 1 no such account, 2 bad settings or a dependency down."""
    parser = argparse.ArgumentParser(prog=PROG, description="Operators' commands on SmartSlot accounts.")
    commands = parser.add_subparsers(dest="command", required=True)
    promoting = commands.add_parser("promote", help="make the account with this email an admin (again)")
    promoting.add_argument("email")
    arguments = parser.parse_args(argv)
    settings = load_or_exit(GatewaySettings)
    try:
        print(asyncio.run(promote(settings, arguments.email)))
    except NoSuchAccount:
        print(f"{PROG}: no account has the email {arguments.email}", file=sys.stderr)
        return 1
    except DependencyUnavailable as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
