"""The models of the notifier's public calls, published for the gateway's OpenAPI document
(`smartslot_common.contracts.openapi`). `python -m notifier.entrypoints.public_schemas` rewrites the fragment; a unit
test checks it is current."""

from __future__ import annotations

from notifier.entrypoints.admin_webhooks import EndpointChange, EndpointIn, LogQuery
from smartslot_common.contracts.openapi import Published, main

PUBLISHED = Published("notifier", requests=(EndpointIn, EndpointChange, LogQuery), answers=())

if __name__ == "__main__":
    raise SystemExit(main(PUBLISHED))
