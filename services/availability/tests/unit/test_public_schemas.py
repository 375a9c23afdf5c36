"""The schemas of availability's public calls, published for the gateway's OpenAPI document, are current."""

from __future__ import annotations

from availability.entrypoints.public_schemas import PUBLISHED
from smartslot_common.contracts.openapi import is_current


def test_the_published_fragment_is_what_the_models_generate() -> None:
    assert is_current(PUBLISHED), "run: python -m availability.entrypoints.public_schemas"
