"""Schema fragments: generated from a service's models, each request and answer findable by name, and every
service's committed fragment readable as package data."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from smartslot_common.contracts.openapi import SERVICES, Published, fragment, load, render


class Item(BaseModel):
    name: str


class CreateThing(BaseModel):
    items: list[Item]
    size: int = Field(ge=1)


class Thing(BaseModel):
    id: str
    items: list[Item]


PUBLISHED = Published("example", requests=(CreateThing,), answers=(Thing,))


def test_a_fragment_refers_to_each_model_by_name_and_holds_the_schemas_they_use() -> None:
    generated = fragment(PUBLISHED)

    assert generated.requests == {"CreateThing": "#/components/schemas/CreateThing"}
    assert generated.answers == {"Thing": "#/components/schemas/Thing"}
    assert list(generated.schemas) == ["CreateThing", "Item", "Thing"]
    assert generated.schemas["CreateThing"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Item"}


def test_a_model_is_found_only_in_the_role_it_is_published_in() -> None:
    generated = fragment(PUBLISHED)

    assert generated.ref("answers", "Thing") == "#/components/schemas/Thing"
    with pytest.raises(KeyError, match="example publishes no Thing among its requests"):
        generated.ref("requests", "Thing")


def test_a_fragment_renders_as_stable_json() -> None:
    text = render(fragment(PUBLISHED))
    assert text.endswith("}\n")
    assert json.loads(text)["service"] == "example"
    assert render(fragment(PUBLISHED)) == text


@pytest.mark.parametrize("service", SERVICES)
def test_every_services_fragment_is_package_data(service: str) -> None:
    published = load(service)
    assert published.service == service
    assert published.requests
    every_ref = [*published.requests.values(), *published.answers.values()]
    assert {ref.rsplit("/", 1)[-1] for ref in every_ref} <= set(published.schemas)
