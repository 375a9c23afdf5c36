"""The OpenAPI 3.1 document of the public API, generated from the routing table and the models it names.

Another service's model ("booking:Appointment") is read from the schema fragment that service publishes in
`smartslot_common.contracts.openapi`; the gateway's own ("gateway.openapi.models:Problem") are imported. No other
service's code is imported, so the gateway image can run `python -m gateway.openapi --check` on its own.
`python -m gateway.openapi` rewrites the checked-in `openapi.json`; `--check` only says whether it is current.
The running gateway never imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.routing import OWN_ROUTES, ROUTES, Doc, Route
from smartslot_common.contracts import openapi as fragments

DOCUMENT_PATH = Path(__file__).resolve().parent / "openapi.json"
REF = fragments.REF_TEMPLATE
ROLES: dict[JsonSchemaMode, fragments.Role] = {"validation": "requests", "serialization": "answers"}
PROBLEM = "gateway.openapi.models:Problem"
PLAIN = {"text": {"type": "string"}, "object": {"type": "object"}}  # responses that are not models
CODE_STATUS = {
    "malformed_json": 400, "unauthorized": 401, "invalid_credentials": 401, "not_found": 404,
    "slot_not_found": 404, "email_taken": 409, "slot_held": 409, "slot_in_past": 409, "slot_unavailable": 409,
    "slot_overlap": 409, "no_provider_available": 409, "invalid_transition": 409, "conflicting_appointments": 409,
    "idempotency_in_flight": 409, "conflict": 409, "hold_expired": 410, "payload_too_large": 413,
    "uri_too_long": 414, "unsupported_media_type": 415, "validation_error": 422, "idempotency_mismatch": 422,
    "hold_quota": 429, "header_fields_too_large": 431,
    "waitlist_quota": 429,
    "rate_limited": 429, "upstream_unavailable": 503,
}
BODY_CODES = ("malformed_json", "payload_too_large", "unsupported_media_type", "validation_error")
# Any request: its HTTP parser refuses a request line over 8190 bytes and a header over 16380 (or more than 128).
PARSER_CODES = ("uri_too_long", "header_fields_too_large")
UNCOUNTED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # operator routes: no rate limit
DESCRIPTION = (
    "The public HTTP API of SmartSlot, served through the gateway. Errors are `application/problem+json` "
    "(RFC 9457) with a stable `code`; a resource the caller may not see is `404`. Every POST that creates or "
    "changes an appointment accepts an `Idempotency-Key`. Lists take `limit` and `cursor` and answer "
    "`{items, next_cursor}`. Timestamps are RFC 3339 date-times with an offset; a request that is not what its "
    "schema says is refused with a 4xx, and one too large to read with `414` (request line) or `431` (headers)."
)


def is_published(name: str) -> bool:
    """Whether a route's model name ("booking:Appointment") names another service's published model."""
    return name.partition(":")[0] in fragments.SERVICES


def resolve(dotted: str) -> type[BaseModel]:
    """The gateway's own model a dotted path ("package.module:Class") names."""
    module, _, name = dotted.partition(":")
    model = getattr(importlib.import_module(module), name)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{dotted} is not a pydantic model")
    return model


def all_routes() -> tuple[Route, ...]:
    return ROUTES + OWN_ROUTES


def _model_uses(routes: Iterable[Route]) -> list[tuple[str, JsonSchemaMode]]:
    """Every (model, mode) the document refers to: bodies and queries validate, responses serialise."""
    uses: dict[tuple[str, JsonSchemaMode], None] = {(PROBLEM, "serialization"): None}
    for route in routes:
        doc = route.doc
        parts: tuple[tuple[str | None, JsonSchemaMode], ...] = (
            (doc.body, "validation"), (doc.query, "validation"), (doc.response, "serialization"))
        for dotted, mode in parts:
            if dotted and dotted not in PLAIN:
                uses[(dotted, mode)] = None
    return list(uses)


class Components:
    """`components.schemas`, and the `$ref` of each (model, mode) in it: the gateway's own models generated here,
    the other services' read from the fragments they publish."""

    def __init__(self, routes: Iterable[Route]) -> None:
        uses = _model_uses(routes)
        own_uses = [use for use in uses if not is_published(use[0])]
        models = [(resolve(dotted), mode) for dotted, mode in own_uses]
        # One name, one model: two paths may name the same model (a service's query model re-exported), not two.
        named = {model.__name__: (dotted, model) for (dotted, _), (model, _) in zip(own_uses, models, strict=True)}
        for (dotted, _), (model, _) in zip(own_uses, models, strict=True):
            other, other_model = named[model.__name__]
            if other_model is not model:
                raise ValueError(f"two models named {model.__name__}: {dotted} and {other}")
        refs, defs = models_json_schema(models, ref_template=REF)
        published = {service: fragments.load(service) for service in fragments.SERVICES}
        schemas = _merged([("gateway", defs.get("$defs", {}))]
                          + [(service, fragment.schemas) for service, fragment in published.items()])
        self.schemas: dict[str, dict[str, Any]] = {
            name: _tidy_object(schema) for name, schema in sorted(schemas.items())}
        self._refs = {use: refs[model] for use, model in zip(own_uses, models, strict=True)}
        for name, mode in uses:
            if is_published(name):
                service, _, model_name = name.partition(":")
                self._refs[(name, mode)] = {"$ref": published[service].ref(ROLES[mode], model_name)}
        _check_references(self.schemas, self._refs.values())

    def ref(self, dotted: str, mode: JsonSchemaMode) -> dict[str, Any]:
        return PLAIN.get(dotted) or self._refs[(dotted, mode)]

    def definition(self, dotted: str) -> dict[str, Any]:
        name = self.ref(dotted, "validation")["$ref"].rsplit("/", 1)[-1]
        return self.schemas[name]


def _merged(sources: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The schemas of every source under one name each; a name two sources define differently is an error (a model
    shared through `smartslot_common`, such as a list's query, is defined alike by every service using it)."""
    merged: dict[str, tuple[str, Any]] = {}
    for source, schemas in sources:
        for name, schema in schemas.items():
            if name in merged and merged[name][1] != schema:
                raise ValueError(f"two schemas named {name}: {merged[name][0]}'s and {source}'s")
            merged.setdefault(name, (source, schema))
    return {name: schema for name, (_, schema) in merged.items()}


def _check_references(schemas: dict[str, Any], refs: Iterable[dict[str, Any]]) -> None:
    """Every `$ref` of the document names a schema it holds (a model referred to by name must be published)."""
    prefix = REF.format(model="")
    found = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps([schemas, list(refs)])))
    missing = sorted(ref for ref in found if ref.removeprefix(prefix) not in schemas)
    if missing:
        raise ValueError(f"references to schemas nobody publishes: {', '.join(missing)}")


def _tidy(schema: Any) -> Any:
    """Drop `default: null` where null is not allowed: a "send it or leave it out" field (`x: str = None`)."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return _tidy_object(schema)


def _tidy_object(schema: dict[str, Any]) -> dict[str, Any]:
    tidy = {key: _tidy(value) for key, value in schema.items()}
    if "default" in tidy and tidy["default"] is None and not _allows_null(tidy):
        del tidy["default"]
    return tidy


def _allows_null(schema: dict[str, Any]) -> bool:
    branches = schema.get("anyOf", []) + schema.get("oneOf", [])
    return schema.get("type") == "null" or any(branch.get("type") == "null" for branch in branches)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query value is never JSON null: `X | None` is documented as an optional `X`."""
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [branch for branch in branches if branch.get("type") != "null"]
    rest = {key: value for key, value in schema.items() if key != "anyOf" and (key, value) != ("default", None)}
    return rest | (kept[0] if len(kept) == 1 else {"anyOf": kept})


def _query_parameters(doc: Doc, components: Components) -> list[dict[str, Any]]:
    if doc.query is None:
        return []
    definition = components.definition(doc.query)
    required = set(definition.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _without_null(schema)}
        for name, schema in definition.get("properties", {}).items()
    ]


def _parameters(route: Route, components: Components) -> list[dict[str, Any]]:
    path = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    header = [{
        "name": "Idempotency-Key", "in": "header", "required": False,
        "description": "Replays the first answer for the same key and body (kept at least 24 h, per caller).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }] if route.doc.idempotency_key else []
    return path + _query_parameters(route.doc, components) + header


def error_codes(route: Route) -> list[str]:
    """Every error code the call may answer with: its own, and those of the door it passes through."""
    doc, codes = route.doc, list(route.doc.errors)
    if route.path not in UNCOUNTED_PATHS:
        codes.append("rate_limited")
    if not route.public:
        codes += ["unauthorized", "not_found"]
    if "{" in route.path:
        codes.append("not_found")
    if doc.body:
        codes += BODY_CODES
    if doc.query:
        codes.append("validation_error")
    if route.upstream != "gateway":
        codes.append("upstream_unavailable")
    codes += PARSER_CODES
    return list(dict.fromkeys(codes))


def _error_responses(route: Route) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in error_codes(route):
        by_status.setdefault(CODE_STATUS[code], []).append(code)
    problem = {"$ref": REF.format(model="Problem")}
    responses = {}
    for status, codes in sorted(by_status.items()):
        headers = {"Retry-After": {"schema": {"type": "integer"}}} if status in (429, 503) else {}
        responses[str(status)] = {
            "description": "Problem; code " + ", ".join(f"`{code}`" for code in codes),
            "content": {"application/problem+json": {"schema": problem}},
        } | ({"headers": headers} if headers else {})
    return responses


def _success(route: Route, components: Components) -> dict[str, Any]:
    doc = route.doc
    if doc.response is None:
        return {str(doc.status): {"description": "Done; no content."}}
    content = {doc.media_type: {"schema": components.ref(doc.response, "serialization")}}
    answer = {str(doc.status): {"description": doc.summary, "content": content}}
    if route.path == "/readyz":  # not ready is the same document with 503, not a problem
        answer["503"] = {"description": "A dependency is down", "content": content}
    return answer


def operation(route: Route, components: Components) -> dict[str, Any]:
    """The OpenAPI operation object of one call."""
    doc = route.doc
    op: dict[str, Any] = {
        "operationId": f"{route.method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', route.path).rstrip('_')}",
        "summary": doc.summary,
        "tags": [doc.tag],
        "security": [] if route.public else [{"bearerAuth": []}],
    }
    if not route.public and route.roles is not None:
        op["description"] = "Roles: " + ", ".join(sorted(route.roles)) + "."
    if parameters := _parameters(route, components):
        op["parameters"] = parameters
    if doc.body:
        op["requestBody"] = {
            "required": not doc.body_optional,
            "content": {"application/json": {"schema": components.ref(doc.body, "validation")}},
        }
    op["responses"] = _success(route, components) | _error_responses(route)
    return op


def build_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    routes = all_routes()
    components = Components(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda route: route.path):
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartSlot API", "version": "1.0.0", "description": DESCRIPTION},
        "tags": [{"name": tag} for tag in dict.fromkeys(route.doc.tag for route in routes)],
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def render(document: dict[str, Any]) -> str:
    """The document as the checked-in file holds it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document (or, with --check, exit 1 when the checked-in one is out of date)."""
    parser = argparse.ArgumentParser(prog="python -m gateway.openapi", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the checked-in file; write nothing")
    args = parser.parse_args(argv)
    fresh = render(build_document())
    if args.check:
        current = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.exists() else ""
        if current != fresh:
            print(f"{DOCUMENT_PATH} is out of date: run python -m gateway.openapi", file=sys.stderr)
            return 1
        return 0
    DOCUMENT_PATH.write_text(fresh)
    print(f"wrote {DOCUMENT_PATH}")
    return 0
