"""Run a service: settings, logging, tracing, uvloop, and one-line errors instead of tracebacks at start-up."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import pydantic
import uvloop
from aiohttp import web

from smartslot_common.errors import DependencyUnavailable
from smartslot_common.logging import configure_logging
from smartslot_common.settings import ServiceSettings
from smartslot_common.tracing import configure_tracing

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def _settings_problem(error: pydantic.ValidationError) -> str:
    fields = ", ".join(
        f"{'.'.join(map(str, item['loc'])).upper()}: {item['msg']}" for item in error.errors(include_url=False)
    )
    return f"invalid settings ({fields}); see the configuration table in README.md"


def load_or_exit(settings_class: type[SettingsT]) -> SettingsT:
    """Validated settings, or exit 2 with one line naming what is wrong."""
    try:
        return settings_class.load()
    except pydantic.ValidationError as error:
        print(f"{settings_class.service_name}: {_settings_problem(error)}", file=sys.stderr)
        sys.exit(2)


def run_service(create_app: Callable[[SettingsT], web.Application], settings_class: type[SettingsT]) -> None:
    """Serve the app until SIGINT/SIGTERM; exit 2 with one line naming a dependency that is down."""
    settings = load_or_exit(settings_class)
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint)
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout_seconds,
            access_log=None,
            print=None,
            loop=uvloop.new_event_loop(),
        )
    except DependencyUnavailable as error:
        print(f"{settings.service_name}: {error}", file=sys.stderr)
        sys.exit(2)
