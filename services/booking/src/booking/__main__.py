from booking.app import create_app
from booking.settings import BookingSettings
from smartslot_common.runtime import run_service

run_service(create_app, BookingSettings)
