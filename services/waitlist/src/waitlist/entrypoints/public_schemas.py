"""The models of the waitlist's public calls, published for the gateway's OpenAPI document
(`smartslot_common.contracts.openapi`). `python -m waitlist.entrypoints.public_schemas` rewrites the fragment; a unit
test checks it is current."""

from __future__ import annotations

from smartslot_common.contracts.openapi import Published, main
from waitlist.entrypoints.schemas import JoinWaitlist, WaitlistEntry, WaitlistPage, WaitlistQuery

PUBLISHED = Published("waitlist", requests=(JoinWaitlist, WaitlistQuery), answers=(WaitlistEntry, WaitlistPage))

if __name__ == "__main__":
    raise SystemExit(main(PUBLISHED))
