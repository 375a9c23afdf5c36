"""The public HTTP API's schemas, published by each service for the gateway's OpenAPI document.

Each service names the models of its public calls: the requests it validates (bodies and queries) and the answers
it serialises. Their JSON Schemas are generated from those models into a fragment, `<service>.json` beside this
module, committed with the service's change and checked current by a unit test in the service
(`python -m <service>.entrypoints.public_schemas` rewrites it). The gateway merges the fragments into its document
and so imports no other service's code: its image, which holds this package, can check its document on its own.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

REF_TEMPLATE: Final = "#/components/schemas/{model}"
SERVICES: Final = ("booking", "availability", "waitlist", "notifier")
Role = Literal["requests", "answers"]
MODES: Final[dict[Role, JsonSchemaMode]] = {"requests": "validation", "answers": "serialization"}


@dataclass(frozen=True)
class Published:
    """What one service publishes: the models it validates requests with, and those it answers with."""

    service: str
    requests: Sequence[type[BaseModel]]
    answers: Sequence[type[BaseModel]]


@dataclass(frozen=True)
class Fragment:
    """One service's published schemas: the `$ref` of each request and answer model by name, and the schemas
    (`components.schemas`) they refer to."""

    service: str
    requests: dict[str, str]
    answers: dict[str, str]
    schemas: dict[str, Any]

    def ref(self, role: Role, model: str) -> str:
        """The `$ref` of `model` as a request or an answer; KeyError when the service does not publish it so."""
        refs = self.requests if role == "requests" else self.answers
        if model not in refs:
            raise KeyError(f"{self.service} publishes no {model} among its {role}")
        return refs[model]


def fragment(published: Published) -> Fragment:
    """The fragment generated from `published`'s models."""
    uses = [(model, MODES[role]) for role in MODES for model in _models(published, role)]
    refs, definitions = models_json_schema(uses, ref_template=REF_TEMPLATE)
    by_role = {role: {model.__name__: refs[(model, MODES[role])]["$ref"] for model in _models(published, role)}
               for role in MODES}
    return Fragment(published.service, by_role["requests"], by_role["answers"],
                    dict(sorted(definitions.get("$defs", {}).items())))


def _models(published: Published, role: Role) -> Sequence[type[BaseModel]]:
    return published.requests if role == "requests" else published.answers


def render(generated: Fragment) -> str:
    """The fragment as its file holds it."""
    document = {"service": generated.service, "requests": generated.requests, "answers": generated.answers,
                "schemas": generated.schemas}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def fragment_path(service: str) -> Path:
    """Where `service`'s fragment is kept (in the source tree, when this package is installed editable)."""
    return Path(__file__).resolve().parent / f"{service}.json"


def load(service: str) -> Fragment:
    """`service`'s committed fragment."""
    document = json.loads(resources.files(__name__).joinpath(f"{service}.json").read_text(encoding="utf-8"))
    return Fragment(document["service"], document["requests"], document["answers"], document["schemas"])


def is_current(published: Published) -> bool:
    """Whether the committed fragment is what `published`'s models generate now."""
    path = fragment_path(published.service)
    return path.exists() and path.read_text(encoding="utf-8") == render(fragment(published))


def main(published: Published, argv: list[str] | None = None) -> int:
    """Rewrite `published`'s fragment (or, with --check, exit 1 when the committed one is out of date)."""
    parser = argparse.ArgumentParser(description=f"The public schemas of {published.service}, for the gateway.")
    parser.add_argument("--check", action="store_true", help="compare with the committed fragment; write nothing")
    args = parser.parse_args(argv)
    path = fragment_path(published.service)
    if args.check:
        if not is_current(published):
            print(f"{path} is out of date: run python -m {published.service}.entrypoints.public_schemas")
            return 1
        return 0
    path.write_text(render(fragment(published)), encoding="utf-8")
    print(f"wrote {path}")
    return 0
