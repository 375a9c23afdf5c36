import sys

from aiohttp import web

from gateway.app import create_app
from gateway.heap import settle_heap
from gateway.service_layer.accounts import BootstrapAdminConflict
from gateway.settings import GatewaySettings
from smartslot_common.runtime import run_service


def served(settings: GatewaySettings) -> web.Application:
    """The app as this process serves it: the heap settled once started (tests that build apps leave it alone)."""
    app = create_app(settings)
    app.on_startup.append(settle_heap)
    return app


try:
    run_service(served, GatewaySettings)
except BootstrapAdminConflict as conflict:  # one line, like every other start-up refusal
    print(f"gateway: {conflict}", file=sys.stderr)
    sys.exit(2)
