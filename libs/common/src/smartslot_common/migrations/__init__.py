"""Numbered SQL migrations per service schema, applied by a command, never on import."""

from smartslot_common.migrations.runner import Migration, MigrationError, apply_migrations, load_plan

__all__ = ["Migration", "MigrationError", "apply_migrations", "load_plan"]
