"""Query parameters every list shares: `?limit=` (default 50, at most 200) and `?cursor=` (as API.md lists them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from smartslot_common.http.fields import QueryInteger

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_CURSOR_LENGTH = 1000
# Every list hands out URL-safe base64 (padded or not): whatever else is sent cannot be one of its cursors, and a
# cursor in these characters fits the request line (8190 bytes) even at its longest.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"


class PageQuery(BaseModel):
    """`?limit=&cursor=` of a list; `cursor` is the `next_cursor` of the page before (a list refuses any other)."""

    model_config = ConfigDict(extra="forbid")

    limit: QueryInteger = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(None, min_length=1, max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN)
