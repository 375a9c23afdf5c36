"""Keyset pagination as API.md lists it: `?limit=` (default 50, max 200), `?cursor=`, `{items, next_cursor}`."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from smartslot_common.http.problems import ProblemError
from smartslot_common.http.queries import PageQuery

Position = tuple[datetime, uuid.UUID]


def encode_cursor(row: dict[str, Any]) -> str:
    """The opaque position after `row` (its `created_at` and `id`)."""
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, row_id = raw.split("|")
        position = datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ProblemError(422, "validation_error", "The request is not valid.", errors=[
            {"field": "cursor", "message": "not a cursor this API returned", "type": "value_error"}
        ]) from None
    if position[0].tzinfo is None:
        raise ProblemError(422, "validation_error", "The request is not valid.",
                           errors=[{"field": "cursor", "message": "not a cursor this API returned",
                                    "type": "value_error"}])
    return position


async def paginate(
    query: PageQuery, fetch: Callable[[int, Position | None], Awaitable[list[dict[str, Any]]]]
) -> dict[str, Any]:
    """One page: fetch one row more than asked to learn whether another page follows."""
    after = decode_cursor(query.cursor) if query.cursor else None
    rows = await fetch(query.limit + 1, after)
    items = rows[: query.limit]
    next_cursor = encode_cursor(items[-1]) if len(rows) > query.limit else None
    return {"items": items, "next_cursor": next_cursor}
