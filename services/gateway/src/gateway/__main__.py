import sys

from gateway.app import create_app
from gateway.service_layer.accounts import BootstrapAdminConflict
from gateway.settings import GatewaySettings
from smartslot_common.runtime import run_service

try:
    run_service(create_app, GatewaySettings)
except BootstrapAdminConflict as conflict:  # one line, like every other start-up refusal
    print(f"gateway: {conflict}", file=sys.stderr)
    sys.exit(2)
