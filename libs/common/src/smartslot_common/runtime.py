"""Run a service: settings, logging, tracing, uvloop, and one-line errors instead of tracebacks at start-up."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from typing import TypeVar

import pydantic
import uvloop
from aiohttp import web
from pydantic import AliasChoices
from pydantic_settings import SettingsError

from smartslot_common.errors import DependencyUnavailable
from smartslot_common.heap import settle_heap
from smartslot_common.http.server import serve
from smartslot_common.logging import configure_logging
from smartslot_common.settings import ServiceSettings
from smartslot_common.tracing import configure_tracing

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
SEE_README = "see the configuration table in README.md"


def _variable(settings_class: type[ServiceSettings], field_or_alias: str) -> str:
    """The environment variable behind an error's location: a shared field's `SMARTSLOT_*` alias, or the field with
    its service prefix (a location may name either the field or the alias, depending on how it failed)."""
    field = settings_class.model_fields.get(field_or_alias)
    if field is None:
        return field_or_alias.upper()
    alias = field.validation_alias
    if alias is None:
        return (settings_class.model_config.get("env_prefix", "") + field_or_alias).upper()
    first = alias.choices[0] if isinstance(alias, AliasChoices) else alias
    return str(first).upper()


def _settings_problem(settings_class: type[ServiceSettings], error: pydantic.ValidationError) -> str:
    fields = ", ".join(
        ".".join([_variable(settings_class, str(item["loc"][0])), *map(str, item["loc"][1:])]) + f": {item['msg']}"
        for item in error.errors(include_url=False)
    )
    return f"invalid settings ({fields}); {SEE_README}"


def _unparsable_problem(settings_class: type[ServiceSettings], error: SettingsError) -> str:
    # pydantic-settings raises this, not a ValidationError, when a list or dict variable is not JSON.
    named = re.search(r'field "(\w+)"', str(error))
    variable = _variable(settings_class, named[1]) if named else "a setting"
    return f"invalid settings ({variable}: not valid JSON: {error.__cause__ or error}); {SEE_README}"


def load_or_exit(settings_class: type[SettingsT]) -> SettingsT:
    """Validated settings, or exit 2 with one line naming what is wrong."""
    try:
        return settings_class.load()
    except pydantic.ValidationError as error:
        problem = _settings_problem(settings_class, error)
    except SettingsError as error:
        problem = _unparsable_problem(settings_class, error)
    print(f"{settings_class.service_name}: {problem}", file=sys.stderr)
    sys.exit(2)


def run_service(create_app: Callable[[SettingsT], web.Application], settings_class: type[SettingsT]) -> None:
    """Serve the app until SIGINT/SIGTERM, its heap settled once started; exit 2 with one line naming a dependency
    that is down."""
    settings = load_or_exit(settings_class)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    try:
        configure_tracing(
            settings.service_name, settings.otel_exporter_otlp_endpoint, settings.otel_traces_sample_ratio,
            environment=settings.environment,
        )
    except ValueError as error:  # an OTEL_* variable that says nothing valid
        print(f"{settings.service_name}: {error}", file=sys.stderr)
        sys.exit(2)
    app = create_app(settings)
    app.on_startup.append(settle_heap)  # a serving process only: tests that build apps leave the collector alone
    served = serve(app, settings.host, settings.port, backlog=settings.listen_backlog,
                   shutdown_timeout=settings.shutdown_timeout_seconds)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        try:
            runner.run(served)  # returns once SIGINT or SIGTERM has shut the app down (see `serve`)
        except DependencyUnavailable as error:
            print(f"{settings.service_name}: {error}", file=sys.stderr)
            sys.exit(2)
