"""The `identity.users` table."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg

from gateway.domain.users import User, user_of

COLUMNS = "id, email, name, role"


def _user(row: asyncpg.Record | None) -> User | None:
    return user_of(row["role"], row["id"], row["email"], row["name"]) if row else None


async def insert(pool: asyncpg.Pool, email: str, name: str, role: str, password_hash: str) -> User | None:
    """The new user, or None when the email is taken."""
    row = await pool.fetchrow(
        "INSERT INTO users (id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5) "
        f"ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}",
        uuid.uuid4(), email, name, role, password_hash,
    )
    return _user(row)


async def credentials(pool: asyncpg.Pool, email: str) -> tuple[User | None, str | None]:
    row = await pool.fetchrow(f"SELECT {COLUMNS}, password_hash FROM users WHERE email = $1", email)
    return (_user(row), row["password_hash"]) if row else (None, None)


async def get(pool: asyncpg.Pool, user_id: uuid.UUID) -> User | None:
    return _user(await pool.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1", user_id))


async def list_page(pool: asyncpg.Pool, after: uuid.UUID | None, limit: int) -> list[User]:
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM users WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2", after, limit
    )
    return [user for row in rows if (user := _user(row))]


async def set_role(pool: asyncpg.Pool, user_id: uuid.UUID, role: str) -> User | None:
    row = await pool.fetchrow(
        f"UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}", user_id, role
    )
    return _user(row)


async def change_role(pool: asyncpg.Pool, user_id: uuid.UUID, role: str,
                      check: Callable[[User, int], None]) -> User | None:
    """Set the user's role once `check(current user, number of admins)` has not raised; None for no such user.

    The admins' rows are locked first (in id order, so two changes cannot deadlock) and counted in the same
    transaction: two admins demoting each other at once cannot both succeed.
    """
    async with pool.acquire() as connection, connection.transaction():
        admins = await connection.fetch("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
        current = _user(await connection.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id))
        if current is None:
            return None
        check(current, len(admins))
        if current.role == role:
            return current
        return _user(await connection.fetchrow(
            f"UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}", user_id, role))
