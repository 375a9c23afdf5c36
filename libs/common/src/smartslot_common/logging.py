"""Structured JSON logs: one line per event, with request id and trace ids, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from opentelemetry import trace

SECRET_KEYS = frozenset(
    {"password", "token", "access_token", "secret", "authorization", "jwt_secret", "dsn", "cookie", "set-cookie"}
)
SECRET_SUFFIXES = ("_password", "_token", "_secret")
REDACTED = "[redacted]"


def add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Stamp the current OpenTelemetry trace and span ids on the line."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def _names_secret(key: object) -> bool:
    # Any case, since HTTP headers arrive as `Authorization`; suffixes catch `refresh_token`, `admin_password`.
    return isinstance(key, str) and (key.lower() in SECRET_KEYS or key.lower().endswith(SECRET_SUFFIXES))


def _redacted(value: Any) -> Any:
    if isinstance(value, Mapping):  # e.g. a logged headers dict
        return {key: REDACTED if _names_secret(key) else _redacted(item) for key, item in value.items()}
    return value


def redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Replace the value of any key that names a secret, in nested mappings too."""
    for key, value in event_dict.items():
        event_dict[key] = REDACTED if _names_secret(key) else _redacted(value)
    return event_dict


def _json_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and the standard library through one JSON renderer on stdout."""
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_dumps) if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        # Level first: a line below the level costs one check, not the whole chain (the access line at WARNING).
        processors=[structlog.stdlib.filter_by_level, *shared_processors,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.contextvars.bind_contextvars(service=service)
    for noisy in ("aiormq", "aio_pika", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger; its lines carry the bound context of the current task."""
    return structlog.stdlib.get_logger(name)
