"""Reading and writing JSON bodies, validated by pydantic, with problem+json on bad input."""

from __future__ import annotations

import dataclasses
import decimal
import re
import uuid
from typing import Any, TypeVar

import orjson
import pydantic
from aiohttp import web

from smartslot_common.http.problems import ProblemError

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


def _default(value: Any) -> Any:
    """What orjson cannot encode natively: asyncpg's UUIDs, decimals, models and dataclasses."""
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response; pydantic models are dumped in JSON mode."""
    return web.Response(
        body=orjson.dumps(data, default=_default), status=status, content_type="application/json", headers=headers
    )


def validation_errors(error: pydantic.ValidationError) -> list[dict[str, Any]]:
    """The failing fields of a pydantic error, as the `errors` member of a problem."""
    return [
        {"field": ".".join(str(part) for part in item["loc"]) or "body", "message": item["msg"], "type": item["type"]}
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def parse_model(model: type[ModelT], data: Any) -> ModelT:
    """Validate data against a model, raising `422 validation_error` with the failing fields."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        errors = validation_errors(error)
        raise ProblemError(422, "validation_error", "The request is not valid.", errors=errors) from None


def _nul_at(data: Any, path: str) -> str | None:
    """Where in parsed JSON a string (or key) holds U+0000, or None."""
    if isinstance(data, str):
        return path if "\x00" in data else None
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        here = f"{path}.{key}" if path else str(key)
        if (found := _nul_at(key, here) or _nul_at(value, here)) is not None:
            return found
    return None


async def read_json(request: web.Request, model: type[ModelT]) -> ModelT:
    """The request body as a validated model: 415 without a JSON content type, 400 when malformed, 422 for text
    holding U+0000 (PostgreSQL's text cannot store it)."""
    if request.content_type != "application/json":
        raise ProblemError(415, detail="Send the body as application/json.")
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as error:
        raise ProblemError(400, "malformed_json", f"The body is not valid JSON: {error}.") from None
    if b"\\u0000" in raw and (field := _nul_at(data, "")) is not None:  # the one way JSON writes U+0000
        raise ProblemError(422, "validation_error", "The request is not valid.", errors=[
            {"field": field or "body", "message": "Text may not contain the NUL character (U+0000).",
             "type": "string_nul"}])
    return parse_model(model, data)


# A query string decodes "+" as a space, so an offset like "+00:00" sent unencoded arrives as " 00:00".
_OFFSET_PLUS_AS_SPACE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)? \d{2}(?::?\d{2})?")


def _query_detail(query: dict[str, str | list[str]], errors: list[dict[str, Any]]) -> str:
    """The problem's detail; it names the usual cause when a failing timestamp lost its offset's `+`."""
    failing = {error["field"] for error in errors}
    mangled = [name for name, value in query.items()
               if name in failing and isinstance(value, str) and _OFFSET_PLUS_AS_SPACE.fullmatch(value)]
    if not mangled:
        return "The request is not valid."
    names = ", ".join(f"`{name}`" for name in mangled)
    return (f"The request is not valid: in {names} a space stands where the UTC offset's `+` belongs. A query "
            "string decodes `+` as a space: send it as `%2B` (2026-12-04T10:00:00%2B00:00), or end the time with `Z`.")


def parse_query(request: web.Request, model: type[ModelT]) -> ModelT:
    """The query string as a validated model (422 with the failing parameters).

    A parameter given more than once arrives as the list of its values, which no scalar field accepts:
    `?limit=1&limit=9` is refused rather than read as whichever came first.
    """
    query: dict[str, str | list[str]] = {
        name: values[0] if len(values := request.query.getall(name)) == 1 else values for name in request.query
    }
    try:
        return model.model_validate(query)
    except pydantic.ValidationError as error:
        errors = validation_errors(error)
        raise ProblemError(422, "validation_error", _query_detail(query, errors), errors=errors) from None
