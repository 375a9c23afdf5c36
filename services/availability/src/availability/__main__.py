from availability.app import create_app
from availability.settings import AvailabilitySettings
from smartslot_common.runtime import run_service

run_service(create_app, AvailabilitySettings)
