"""The shape of a query's row as code outside the adapters reads it, without importing asyncpg."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Row(Protocol):
    """A row read by column name: an `asyncpg.Record`, or a plain dict (unit tests, rows built by hand).

    Column values stay `Any`: their types are the query's, which no annotation here can see.
    """

    def __getitem__(self, column: str, /) -> Any: ...

    def get(self, column: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...

    def values(self) -> Iterable[Any]: ...
