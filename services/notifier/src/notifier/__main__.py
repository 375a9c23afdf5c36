from notifier.app import create_app
from notifier.settings import NotifierSettings
from smartslot_common.runtime import run_service

run_service(create_app, NotifierSettings)
