"""`smartslot-migrate <service>...`: bring each service's schema up to date."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import asyncpg

from smartslot_common.db import POSTGRES_HINT, _safe_target
from smartslot_common.migrations.runner import MigrationError, apply_migrations, load_plan

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/smartslot"


async def migrate(database_url: str, services: list[str]) -> None:
    """Apply every listed service's plan over one connection."""
    connection = await asyncpg.connect(database_url)
    try:
        for service in services:
            schema, plan = load_plan(service)
            applied = await apply_migrations(connection, schema, plan)
            state = f"applied {', '.join(applied)}" if applied else "up to date"
            print(f"{service} (schema {schema}): {state}")
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `smartslot-migrate` command."""
    parser = argparse.ArgumentParser(description="Apply SmartSlot schema migrations.")
    parser.add_argument("services", nargs="+", help="service packages, e.g. booking notifier")
    parser.add_argument("--database-url", default=os.environ.get("SMARTSLOT_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    try:
        asyncio.run(migrate(args.database_url, args.services))
    except (OSError, asyncpg.CannotConnectNowError) as error:
        print(f"smartslot-migrate: cannot reach PostgreSQL at {_safe_target(args.database_url)}: {error} "
              f"— {POSTGRES_HINT}", file=sys.stderr)
        return 2
    except (MigrationError, asyncpg.PostgresError) as error:
        print(f"smartslot-migrate: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
