"""Errors that cross module boundaries in the shared library."""

from __future__ import annotations

import asyncpg


class DependencyUnavailable(Exception):
    """A server the service needs did not answer at start-up."""

    def __init__(self, dependency: str, target: str, how_to_start: str, cause: BaseException | None = None):
        self.dependency = dependency
        self.target = target
        self.how_to_start = how_to_start
        reason = f": {cause}" if cause and str(cause) else (f": {type(cause).__name__}" if cause else "")
        super().__init__(f"cannot reach {dependency} at {target}{reason} — {how_to_start}")


# A server the service needs is gone or refuses sessions (a database restart, a failover, a full server): nothing the
# request did wrong. ConnectionError covers a refused or reset socket (asyncpg raises the OS's own errors for those).
DEPENDENCY_UNREACHABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def dependency_unreachable(error: BaseException | None) -> BaseException | None:
    """The error in `error`'s chain saying a server could not be reached or the database ended the session, if any
    (a rollback's InterfaceError, "connection is closed", hides it in its context)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DEPENDENCY_UNREACHABLE):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
