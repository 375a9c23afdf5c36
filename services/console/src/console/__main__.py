from console.app import create_app
from console.settings import ConsoleSettings
from smartslot_common.runtime import run_service

run_service(create_app, ConsoleSettings)
