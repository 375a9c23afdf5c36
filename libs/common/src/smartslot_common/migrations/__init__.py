"""Numbered SQL migrations per service schema, applied by a command, never on import."""

from smartslot_common.migrations.runner import (
    Migration,
    MigrationError,
    apply_migrations,
    component_plan,
    load_plan,
)

__all__ = ["Migration", "MigrationError", "apply_migrations", "component_plan", "load_plan"]
