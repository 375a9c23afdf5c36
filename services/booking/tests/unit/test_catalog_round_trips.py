"""The read paths' round trips through the PostgreSQL unit of work, on a recording connection: a catalog read and a
one-statement catalog write are one statement on one pooled connection with no BEGIN or COMMIT, as they were on the
pool; a provider's appointment list is its provider record and its page on that one connection; a delete is one
transaction (the integration tier checks the statements against PostgreSQL itself)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from booking.domain.catalog import PageRequest
from booking.domain.errors import NotFound
from booking.service_layer import catalog, queries
from booking.service_layer.unit_of_work import PostgresUnitOfWork
from smartslot_common.http.identity import Caller

from .recording import RecordingConnection, RecordingPool

NOW = datetime(2030, 1, 7, 9, tzinfo=UTC)
CLINIC = {"id": uuid.uuid4(), "name": "Praxis", "timezone": "Europe/Berlin", "address": None, "created_at": NOW}


class Connection(RecordingConnection):
    """Answers every read with one clinic (or a provider record's id) and records every round trip by its verb."""

    def _record(self, query: str) -> None:
        self.calls.append(query.split()[0])

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any]:
        self._record(query)
        return CLINIC

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        self._record(query)
        return [CLINIC] if "FROM clinics" in query else []

    async def fetchval(self, query: str, *args: Any) -> Any:
        self._record(query)
        return uuid.uuid4() if "FROM providers" in query else None

    async def execute(self, query: str, *args: Any) -> str:
        self._record(query)
        return "UPDATE 1"


def _uow(pool: RecordingPool[Connection]) -> PostgresUnitOfWork:
    return PostgresUnitOfWork(pool)  # type: ignore[arg-type]


async def test_catalog_reads_and_one_statement_writes_take_no_transaction() -> None:
    pool = RecordingPool(Connection())
    uow = _uow(pool)
    assert (await catalog.get_clinic(uow, CLINIC["id"])).name == "Praxis"
    assert len((await catalog.list_clinics(uow, PageRequest(10))).items) == 1
    await catalog.update_clinic(uow, CLINIC["id"], {"name": "Neu"})
    await catalog.create_clinic(uow, "Praxis", "Europe/Berlin", None)
    assert pool.connection.calls == ["SELECT", "SELECT", "UPDATE", "INSERT"]
    assert (pool.acquired, pool.released) == (4, 4)


async def test_a_providers_list_is_its_record_and_its_page_on_one_connection() -> None:
    pool = RecordingPool(Connection())
    page = await queries.list_appointments(_uow(pool), Caller(uuid.uuid4(), "provider"), queries.AppointmentFilter())
    assert (page.items, page.next_cursor) == ([], None)
    assert pool.connection.calls == ["SELECT", "SELECT"]
    assert (pool.acquired, pool.released) == (1, 1)


async def test_a_delete_is_one_transaction() -> None:
    pool = RecordingPool(Connection())
    with pytest.raises(NotFound):  # the recording connection finds no clinic to row-lock
        await catalog.delete_clinic(_uow(pool), CLINIC["id"])
    assert pool.connection.calls == ["BEGIN", "SELECT", "ROLLBACK"]
    assert (pool.acquired, pool.released) == (1, 1)
