from smartslot_common.runtime import run_service
from waitlist.app import create_app
from waitlist.settings import WaitlistSettings

run_service(create_app, WaitlistSettings)
