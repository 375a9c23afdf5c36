"""Reading path parameters: an id that is not a UUID names no resource (404, never 500)."""

from __future__ import annotations

import uuid

from aiohttp import web

from smartslot_common.http.problems import ProblemError


def path_uuid(request: web.Request, name: str, what: str = "resource") -> uuid.UUID:
    """The UUID in path parameter `name`, or `404 not_found`."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise ProblemError(404, "not_found", f"No such {what}.") from None
