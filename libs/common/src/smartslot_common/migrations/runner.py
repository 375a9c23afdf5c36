"""Apply a service's numbered `.sql` files to its schema, once each, under an advisory lock.

A service's `<name>.migrations` package holds `NNNN_description.sql` files and declares `SCHEMA` (the schema it
owns) and optionally `COMPONENTS`: shared tables from `smartslot_common` (e.g. "outbox", "inbox") applied first.
Each file runs in its own transaction with the schema first on the search path; its SHA-256 is recorded so an
edited migration is refused instead of silently diverging.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

FILENAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """A migration plan that cannot be applied as it stands."""


@dataclass(frozen=True)
class Migration:
    """One SQL file: its ledger name, its text and the text's checksum."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _read_package_sql(package: str, prefix: str = "") -> list[Migration]:
    names = [entry.name for entry in resources.files(package).iterdir() if entry.name.endswith(".sql")]
    misnamed = [name for name in names if not FILENAME.match(name)]
    if misnamed:  # it would otherwise be skipped without a word, and never applied
        raise MigrationError(f"{package}: {', '.join(sorted(misnamed))} not named NNNN_description.sql")
    files = sorted(names)
    numbers = [name[:4] for name in files]
    if len(numbers) != len(set(numbers)):
        raise MigrationError(f"{package}: two migrations share a number")
    return [Migration(prefix + name, resources.files(package).joinpath(name).read_text()) for name in files]


def component_plan(*components: str) -> list[Migration]:
    """The migrations of shared components (e.g. "outbox", "inbox"), in the order given."""
    return [
        migration
        for component in components
        for migration in _read_package_sql(
            f"smartslot_common.migrations.components.{component}", f"common.{component}."
        )
    ]


def load_plan(service: str) -> tuple[str, list[Migration]]:
    """The schema a service owns and the ordered migrations that build it."""
    package = f"{service}.migrations"
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as error:
        raise MigrationError(f"no migrations package {package!r}: is the service installed?") from error
    schema = getattr(module, "SCHEMA", None)
    if not schema or not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
        raise MigrationError(f"{package} must declare SCHEMA as a plain lower-case identifier")
    return schema, component_plan(*getattr(module, "COMPONENTS", ())) + _read_package_sql(package)


async def _applied(connection: asyncpg.Connection) -> dict[str, str]:
    rows = await connection.fetch("SELECT name, checksum FROM schema_migrations")
    return {row["name"]: row["checksum"] for row in rows}


async def apply_migrations(connection: asyncpg.Connection, schema: str, plan: list[Migration]) -> list[str]:
    """Apply what is missing of the plan; return the names applied. Refuses edited migrations."""
    lock_key = f"smartslot-migrate:{schema}"
    await connection.execute("SELECT pg_advisory_lock(hashtext($1))", lock_key)
    try:
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.execute(f'SET search_path TO "{schema}", public')
        await connection.execute(LEDGER_DDL)
        applied = await _applied(connection)
        done: list[str] = []
        for migration in plan:
            recorded = applied.get(migration.name)
            if recorded is not None:
                if recorded != migration.checksum:
                    raise MigrationError(f"{schema}/{migration.name} changed after it was applied")
                continue
            try:
                async with connection.transaction():
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as error:  # rolled back; the operator needs to know which file failed
                raise MigrationError(f"{schema}/{migration.name} failed: {error}") from error
            done.append(migration.name)
        return done
    finally:
        await connection.execute("RESET search_path")
        await connection.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_key)
