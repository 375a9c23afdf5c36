"""A recording stand-in for asyncpg's pool, connection and transaction: every round trip the PostgreSQL unit of work
makes is appended to `calls`, so a unit test can pin how many a use case costs. Each test answers queries itself by
subclassing `RecordingConnection`."""

from __future__ import annotations

from typing import Generic, TypeVar


class RecordingTransaction:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def start(self) -> None:
        self.calls.append("BEGIN")

    async def commit(self) -> None:
        self.calls.append("COMMIT")

    async def rollback(self) -> None:
        self.calls.append("ROLLBACK")


class RecordingConnection:
    """Records BEGIN, COMMIT and ROLLBACK; subclasses answer (and record) the queries their test expects."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def transaction(self) -> RecordingTransaction:
        return RecordingTransaction(self.calls)

    def is_in_transaction(self) -> bool:
        return "BEGIN" in self.calls and "COMMIT" not in self.calls


C = TypeVar("C", bound=RecordingConnection)


class RecordingPool(Generic[C]):
    """One connection, handed out again and again, with the acquisitions and releases counted."""

    def __init__(self, connection: C) -> None:
        self.connection = connection
        self.acquired = self.released = 0

    async def acquire(self) -> C:
        self.acquired += 1
        return self.connection

    async def release(self, connection: C, *, timeout: float | None = None) -> None:
        self.released += 1
